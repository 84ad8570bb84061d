"""The tokenizer manager's side: the methods every caller goes through, and the memory-state mirror.

``TokenizerManager.release_memory_occupation`` / ``resume_memory_occupation`` /
``get_memory_occupation`` are the one path to the schedulers: the HTTP routes (http_api.py), the
Engine methods (engine_api.py) and outside callers (verl calls the manager directly) all call
them. They check ``tags`` (and a release's ``mode``/``timeout``) before anything reaches a
scheduler (``InvalidRequestError``), return the schedulers' replies (one per data-parallel rank;
stock drops them), and keep a mirror of the memory state from those replies and from weight
updates. ``generate`` runs ``TokenizerManager.generate_request`` behind the refusal rule
(refusal.py) applied to that mirror, and turns a refusal the scheduler sent back into the same
``GenerationRefusedError`` (refusal.refuse).

Two behaviours of stock SGLang are kept on the way: a request that arrives while
``/pause_generation`` holds generation (SGLang >= 0.5) waits for ``/continue_generation`` before
the rule is asked (AReaL sends the next step's requests while the server is paused and
released, and resumes before it continues); and with ``SGLANG_TAGGED_MEMORY_RESUME_ON_GENERATE=1``
a request that finds only the KV cache (and the graphs) released resumes them first (verl's
one_step_off_policy releases ``kv_cache`` and generates without resuming).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any, Dict, List, Optional

from .errors import BUSY, MEMORY_RELEASED
from .flags import env_switch
from .refusal import generation_refusal, refusal_in, refuse
from .sglang_compat import generation_pause_condition, generation_paused
from .tags import CUDA_GRAPH, KV_CACHE, REJECT, WEIGHTS, check_release_options, normalize_tags

# Opt-in: generation that finds only kv_cache (and cuda_graph) released resumes them instead of a 503.
RESUME_ON_GENERATE_ENV = "SGLANG_TAGGED_MEMORY_RESUME_ON_GENERATE"
_RESUMABLE_ON_GENERATE = {KV_CACHE, CUDA_GRAPH}


class MemoryOccupationError(RuntimeError):
    """A release or resume that did not happen; ``reply`` holds the scheduler's answer."""

    def __init__(self, reply: Dict[str, Any]):
        super().__init__(reply["message"])
        self.reply = reply


# -- replies ----------------------------------------------------------------------------------


def summarize(outputs: List[Any]) -> Dict[str, Any]:
    """One JSON-able reply from the outputs of every scheduler that answered (one per DP rank)."""
    failed = [o for o in outputs if not o.success]
    first = failed[0] if failed else outputs[0]
    return {
        "success": not failed,
        "message": first.message,
        "error": first.error,
        "released_tags": sorted({t for o in outputs for t in o.released_tags}),
        "changed_tags": sorted({t for o in outputs for t in o.changed_tags}),
        "weights_current": all(o.weights_current for o in outputs),
        "memory_saver_enabled": all(o.memory_saver_enabled for o in outputs),
    }


def summarize_status(outputs: List[Any]) -> Dict[str, Any]:
    """One JSON-able status from every data-parallel group's ``GetMemoryOccupationReqOutput``."""
    ranks = [dict(rank, dp_rank=dp) for dp, o in enumerate(outputs) for rank in o.ranks]
    return {
        "released_tags": sorted({t for r in ranks for t, v in r["tags"].items() if v["state"] == "released"}),
        "weights_current": all(r["weights_current"] for r in ranks),
        "ranks": ranks,
    }


# -- the mirror of the memory state ------------------------------------------------------------


@dataclasses.dataclass
class ManagerState:
    released: List[str] = dataclasses.field(default_factory=list)
    releasing: int = 0  # release calls in flight
    weights_current: bool = True
    allow_stale_weights: bool = False
    resuming_for_generation: Optional[asyncio.Lock] = None  # one on-demand resume at a time

    @staticmethod
    def of(manager) -> "ManagerState":
        state = manager.__dict__.get("_memory_state")
        if state is None:
            allow = bool(getattr(manager.server_args, "allow_stale_weights", False))
            state = manager._memory_state = ManagerState(allow_stale_weights=allow)
        return state

    def observe(self, outputs: List[Any]) -> None:
        reply = summarize(outputs)  # merged over DP ranks the same way as the reply callers get
        self.released = reply["released_tags"]
        self.weights_current = reply["weights_current"]

    def refusal(self) -> Optional[Dict[str, Any]]:
        return generation_refusal(self.released, self.releasing > 0, self.weights_current, self.allow_stale_weights)


# -- generation ---------------------------------------------------------------------------------


def resume_on_generate() -> bool:
    return env_switch(RESUME_ON_GENERATE_ENV)


async def _while_paused(manager) -> None:
    """Wait while SGLang's own ``/pause_generation`` holds generation (``is_pause``, SGLang >= 0.5),
    as stock ``generate_request`` does, so the memory state is judged once generation continues."""
    condition = generation_pause_condition(manager)
    if condition is not None and generation_paused(manager):
        async with condition:
            await condition.wait_for(lambda: not manager.is_pause)


async def _resume_for_generation(manager, state: "ManagerState", refusal: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """With RESUME_ON_GENERATE_ENV on and only kv_cache/cuda_graph released: resume them; the refusal
    that still holds afterwards (None once generation may run)."""
    if not (resume_on_generate() and refusal["error"] == MEMORY_RELEASED
            and set(refusal["released_tags"]) <= _RESUMABLE_ON_GENERATE):
        return refusal
    if state.resuming_for_generation is None:
        state.resuming_for_generation = asyncio.Lock()
    async with state.resuming_for_generation:
        released = [t for t in state.released if t in _RESUMABLE_ON_GENERATE]
        if released and not state.releasing:
            from sglang.srt.managers.io_struct import ResumeMemoryOccupationReqInput

            await resume_memory_occupation(manager, ResumeMemoryOccupationReqInput(tags=released))
    return state.refusal()


async def generate(manager, stock_generate_request, obj, request=None):
    """``TokenizerManager.generate_request`` behind the refusal rule.

    Refused before anything is sent when the mirror says so; refused after the fact when the
    scheduler ended the request unstarted (it reached the queue after a release).
    """
    await _while_paused(manager)
    state = ManagerState.of(manager)
    refusal = state.refusal()
    if refusal is not None:
        refusal = await _resume_for_generation(manager, state, refusal)
    if refusal is not None:
        refuse(refusal)
    first = True
    async for out in stock_generate_request(manager, obj, request):
        if first:
            refused = refusal_in(out)
            if refused is not None:
                refuse(refused)
            first = False
        yield out


# -- SGLang's HTTP warm-up ----------------------------------------------------------------------

# SGLang's HTTP server sends one warm-up request after start-up and kills itself if that fails
# (http_server._wait_and_warmup). A release that arrives before the warm-up has been answered
# waits for it (mode "reject": answered busy), so the warm-up never meets released memory.
_warmup_done = threading.Event()
_warmup_done.set()  # no warm-up (Engine) until run_http_warmup starts one


def run_http_warmup(stock_warmup, *args, **kwargs):
    """http_server._wait_and_warmup, telling releases to wait until it has finished."""
    _warmup_done.clear()
    try:
        return stock_warmup(*args, **kwargs)
    finally:
        _warmup_done.set()


async def _after_warmup(manager, obj, timeout: float) -> Optional[List[Any]]:
    """None once SGLang's warm-up is done (waiting up to ``timeout`` s for it), or while
    ``/pause_generation`` holds generation (the warm-up's request cannot run before
    ``/continue_generation``, which AReaL sends after its resume); else a busy reply."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (timeout if obj.mode != REJECT else 0.0)
    while not (_warmup_done.is_set() or generation_paused(manager)):
        if loop.time() >= deadline:
            break
        await asyncio.sleep(0.05)
    else:
        return None
    from sglang.srt.managers.io_struct import ReleaseMemoryOccupationReqOutput

    state = ManagerState.of(manager)
    message = (f"SGLang's start-up warm-up request is still running (waited {timeout:.0f}s)" if obj.mode != REJECT
               else "SGLang's start-up warm-up request is still running; retry in a moment, or use mode 'wait'")
    return [ReleaseMemoryOccupationReqOutput(success=False, message=message, error=BUSY,
                                             released_tags=state.released, weights_current=state.weights_current)]


# -- the tokenizer manager's methods --------------------------------------------------------------


async def release_memory_occupation(manager, obj) -> List[Any]:
    normalize_tags(obj.tags)
    wait_s = check_release_options(obj.mode, obj.timeout)
    manager.auto_create_handle_loop()
    refused = await _after_warmup(manager, obj, wait_s)  # before counting as releasing: the warm-up must pass the gate
    if refused:
        return refused
    state = ManagerState.of(manager)
    state.releasing += 1
    try:
        outputs = await manager.release_memory_occupation_communicator(obj)
    finally:
        state.releasing -= 1
    state.observe(outputs)
    return outputs


async def resume_memory_occupation(manager, obj) -> List[Any]:
    normalize_tags(obj.tags)
    manager.auto_create_handle_loop()
    outputs = await manager.resume_memory_occupation_communicator(obj)
    ManagerState.of(manager).observe(outputs)
    return outputs


async def get_memory_occupation(manager, obj=None) -> List[Any]:
    """Every scheduler's memory state: a list with one reply per data-parallel rank."""
    if obj is None:
        from sglang.srt.managers.io_struct import GetMemoryOccupationReqInput

        obj = GetMemoryOccupationReqInput()
    manager.auto_create_handle_loop()
    return await manager.get_memory_occupation_communicator(obj)


def weights_updated(manager, result) -> None:
    """After TokenizerManager.update_weights_*: a success (result[0]) makes the weights current, and
    resident (the scheduler resumes released weights before it updates them)."""
    if result[0]:
        state = ManagerState.of(manager)
        state.weights_current = True
        state.released = [t for t in state.released if t != WEIGHTS]
