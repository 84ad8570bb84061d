"""The frontend side: tokenizer manager, HTTP routes and Engine methods for tagged release/resume.

- The tokenizer manager checks ``tags`` (and a release's ``mode``/``timeout``) before anything
  reaches a scheduler, returns the schedulers' replies (one per data-parallel rank; stock drops
  them), and keeps a mirror of the memory state from those replies and from weight updates.
- From that mirror, generation is refused while a tag is released, while a release is in
  progress, and while the weights are stale (resumed without ``--weights-cpu-backup`` and not
  updated since; ``--allow-stale-weights`` turns that check off): HTTP answers 503 with a JSON
  message saying how to resume, ``Engine.generate`` raises ``GenerationRefusedError``. The
  scheduler enforces the same rules for requests that were already queued (scheduler.py).
- HTTP: ``POST /release_memory_occupation`` and ``/resume_memory_occupation`` take
  ``{"tags": [...]}`` (empty body or ``{}``: all tags) and answer JSON: 200, 400 invalid
  request, 409 busy, 507 no room to resume, 500 failed; ``GET /memory_occupation`` answers the
  state per tag and TP rank. Handlers reach the engine only through the tokenizer manager.
- Engine: ``release_memory_occupation(tags=None, mode="wait", timeout=None)``,
  ``resume_memory_occupation(tags=None)`` return the reply as a dict (``MemoryOccupationError``
  when refused), ``get_memory_occupation()``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from typing import Any, Dict, List, Optional

from fastapi import Request
from fastapi.responses import JSONResponse

from .tags import DEFAULT_RELEASE_TIMEOUT_S, REJECT, InvalidRequestError, check_release_options, normalize_tags

# The scheduler's ``error`` code -> HTTP status.
HTTP_STATUS = {"": 200, "invalid_request": 400, "busy": 409, "insufficient_memory": 507, "failed": 500}

# Routes that run the model: refused with 503 while memory is released or the weights are stale.
GENERATION_PATHS = (
    "/generate", "/generate_from_file", "/encode", "/classify", "/health_generate",
    "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/invocations",
)


class MemoryOccupationError(RuntimeError):
    """A release or resume that did not happen; ``reply`` holds the scheduler's answer."""

    def __init__(self, reply: Dict[str, Any]):
        super().__init__(reply["message"])
        self.reply = reply


class GenerationRefusedError(ValueError):
    """Generation asked for while memory is released or the weights are stale; ``reply`` says why."""

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


# -- the tokenizer manager's mirror of the memory state ------------------------------------------


@dataclasses.dataclass
class FrontendState:
    released: List[str] = dataclasses.field(default_factory=list)
    releasing: int = 0  # release calls in flight
    weights_current: bool = True
    allow_stale_weights: bool = False

    @staticmethod
    def of(manager) -> "FrontendState":
        state = manager.__dict__.get("_memory_state")
        if state is None:
            allow = bool(getattr(manager.server_args, "allow_stale_weights", False))
            state = manager._memory_state = FrontendState(allow_stale_weights=allow)
        return state

    def observe(self, outputs: List[Any]) -> None:
        reply = summarize(outputs)  # merged over DP ranks the same way as the reply callers get
        self.released = reply["released_tags"]
        self.weights_current = reply["weights_current"]


def generation_refusal(manager) -> Optional[Dict[str, Any]]:
    """Why the model cannot generate now (a JSON-able reply), or None."""
    state = FrontendState.of(manager)
    if state.released:
        tags = json.dumps(state.released)
        return _refusal(
            "memory_released", f"GPU memory {state.released} is released; generation is refused until it is resumed: "
            f'POST /resume_memory_occupation {{"tags": {tags}}} (or Engine.resume_memory_occupation(tags={state.released}))',
            state,
        )
    if state.releasing:
        return _refusal(
            "memory_releasing", "a release of GPU memory is in progress; generate again once it has answered "
            "(and, if it released memory, after the resume)", state,
        )
    if not state.weights_current and not state.allow_stale_weights:
        return _refusal(
            "weights_stale", "the weights were resumed without a backup and hold no data yet: push them first "
            "(update_weights_from_tensor, update_weights_from_disk or update_weights_from_distributed). "
            "Start the server with --weights-cpu-backup to keep them across a release, or with "
            "--allow-stale-weights to generate anyway",
            state,
        )
    return None


def _refusal(error: str, message: str, state: FrontendState) -> Dict[str, Any]:
    return {"success": False, "error": error, "message": message, "released_tags": state.released,
            "weights_current": state.weights_current}


def check_can_generate(manager) -> None:
    """Raise GenerationRefusedError if the model cannot generate now (TokenizerManager.generate_request)."""
    refusal = generation_refusal(manager)
    if refusal is not None:
        raise GenerationRefusedError(refusal)


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


async def _after_warmup(manager, obj) -> Optional[List[Any]]:
    """None once SGLang's warm-up is done (waiting for it if needed); else a busy reply."""
    if _warmup_done.is_set():
        return None
    timeout = obj.timeout or DEFAULT_RELEASE_TIMEOUT_S
    if obj.mode != REJECT and await asyncio.get_running_loop().run_in_executor(None, _warmup_done.wait, timeout):
        return None
    from sglang.srt.managers.io_struct import ReleaseMemoryOccupationReqOutput

    state = FrontendState.of(manager)
    message = (f"SGLang's start-up warm-up request is still running (waited {timeout:.0f}s)" if obj.mode != REJECT
               else "SGLang's start-up warm-up request is still running; retry in a moment, or use mode 'wait'")
    return [ReleaseMemoryOccupationReqOutput(success=False, message=message, error="busy",
                                             released_tags=state.released, weights_current=state.weights_current)]


# -- tokenizer manager methods ----------------------------------------------------------------


async def release_memory_occupation(manager, obj) -> List[Any]:
    normalize_tags(obj.tags)
    check_release_options(obj.mode, obj.timeout)
    manager.auto_create_handle_loop()
    refused = await _after_warmup(manager, obj)  # before counting as releasing: the warm-up must pass the gate
    if refused:
        return refused
    state = FrontendState.of(manager)
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
    FrontendState.of(manager).observe(outputs)
    return outputs


async def get_memory_occupation(manager) -> List[Any]:
    """Every scheduler's memory state: a list with one reply per data-parallel rank."""
    from sglang.srt.managers.io_struct import GetMemoryOccupationReqInput

    manager.auto_create_handle_loop()
    return await manager.get_memory_occupation_communicator(GetMemoryOccupationReqInput())


def weights_updated(manager, result) -> None:
    """After TokenizerManager.update_weights_*: a success (result[0]) makes the weights current."""
    if result[0]:
        FrontendState.of(manager).weights_current = True


# -- HTTP -------------------------------------------------------------------------------------


def _manager():
    from sglang.srt.entrypoints import http_server

    return http_server._global_state.tokenizer_manager


def _json(body: Dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _error(status: int, error: str, message: str):
    return _json({"success": False, "error": error, "message": message}, status)


async def _read_object(request: Request, request_cls) -> dict:
    """The JSON body as a dict of the request's fields; raises ValueError naming the problem."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"body is not valid JSON ({e}); send e.g. {{\"tags\": [\"kv_cache\"]}}") from None
    if not isinstance(body, dict):
        raise ValueError(f"body must be a JSON object such as {{\"tags\": [\"kv_cache\"]}}, got {body!r}")
    allowed = [f.name for f in dataclasses.fields(request_cls)]
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; this route takes {allowed}")
    return body


async def _memory_route(request: Request, request_cls, call):
    try:
        obj = request_cls(**await _read_object(request, request_cls))
        outputs = await call(_manager(), obj)
    except (ValueError, InvalidRequestError) as e:
        return _error(400, "invalid_request", str(e))
    except Exception as e:
        return _error(500, "failed", f"{call.__name__} failed: {e!r}")
    reply = summarize(outputs)
    return _json(reply, HTTP_STATUS.get(reply["error"], 500))


async def release_route(request: Request):
    """POST /release_memory_occupation {"tags": [...], "mode": "wait", "timeout": null}; empty body: all tags."""
    from sglang.srt.managers.io_struct import ReleaseMemoryOccupationReqInput

    return await _memory_route(request, ReleaseMemoryOccupationReqInput, release_memory_occupation)


async def resume_route(request: Request):
    """POST /resume_memory_occupation {"tags": [...]}; empty body: all tags, weights first."""
    from sglang.srt.managers.io_struct import ResumeMemoryOccupationReqInput

    return await _memory_route(request, ResumeMemoryOccupationReqInput, resume_memory_occupation)


async def status_route():
    """GET /memory_occupation: per tag and TP rank, "resident"/"released", bytes, weights current."""
    try:
        outputs = await get_memory_occupation(_manager())
    except Exception as e:
        return _error(500, "failed", f"memory_occupation failed: {e!r}")
    return _json(summarize_status(outputs), 200)


class GenerationGate:
    """ASGI middleware: generation routes answer 503 (JSON saying why and how to fix it) while
    memory is released or the weights are stale, before the request reaches SGLang."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] in GENERATION_PATHS:
            refusal = generation_refusal(_manager())
            if refusal is not None:
                await _json(refusal, 503)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# -- Engine -----------------------------------------------------------------------------------


def _run(coro):
    return asyncio.get_event_loop().run_until_complete(coro)


def engine_release(engine, tags=None, mode: str = "wait", timeout=None) -> Dict[str, Any]:
    from sglang.srt.managers.io_struct import ReleaseMemoryOccupationReqInput

    obj = ReleaseMemoryOccupationReqInput(tags=tags, mode=mode, timeout=timeout)
    return _engine_reply(_run(release_memory_occupation(engine.tokenizer_manager, obj)))


def engine_resume(engine, tags=None) -> Dict[str, Any]:
    from sglang.srt.managers.io_struct import ResumeMemoryOccupationReqInput

    obj = ResumeMemoryOccupationReqInput(tags=tags)
    return _engine_reply(_run(resume_memory_occupation(engine.tokenizer_manager, obj)))


def engine_status(engine) -> Dict[str, Any]:
    return summarize_status(_run(get_memory_occupation(engine.tokenizer_manager)))


def _engine_reply(outputs: List[Any]) -> Dict[str, Any]:
    reply = summarize(outputs)
    if not reply["success"]:
        raise MemoryOccupationError(reply)
    return reply
