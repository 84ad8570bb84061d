"""The scheduler side: release and resume GPU memory by tag, safely, in each scheduler process.

Stock 0.4.6.post5 (managers/scheduler.py:2049-2067) pauses everything at once, even under a
running batch (the next step then crashes the scheduler), stashes the model's buffers as a second
GPU copy, and a second resume in a row crashes on the missing stash. Here, per scheduler:
- tags are checked again (the tokenizer manager already did; a bad message never crashes the
  scheduler); None / [] means all;
- a ledger records which tags are released: releasing a released tag or resuming a resident one
  is a no-op that the reply reports (``changed_tags``), never a second pause;
- memory is never paused under a running batch. A release that finds requests running (SGLang's
  own warm-up included, and the overlap scheduler's last step still on the device) follows its
  ``mode``: ``wait`` (default) is carried out from the event loop once the running and queued
  requests have finished (the frontend refuses new ones meanwhile), ``abort`` aborts them first
  (finish reason says why), ``reject`` answers ``busy`` at once. Past ``timeout`` a waiting
  release answers ``busy``;
- no queued request is started while any tag is released, while an "abort" release waits, or
  while the weights are stale (resumed without a backup and not updated since): the rule of
  refusal.py. The frontend refuses new requests then (503); one that raced past it into the
  queue ends at once with that refusal as its finish reason, which the frontend turns into the
  same 503 (waiting would hold the tokenizer manager's model-update lock and block the weight
  update of a staged resume). A chunked prefill in progress always continues;
- release ``kv_cache``: drop finished requests, flush the radix cache and pools (their contents
  die with the memory), synchronize, pause the tag;
- release ``weights``: with ``--weights-cpu-backup`` copy all their bytes to pinned host memory
  (weights_backup.py), else copy only the model's buffers (rotary caches and the like, which no
  weight update rewrites) to CPU; synchronize, pause the tag;
- release ``cuda_graph``: pause the graphs' memory pool (captured under the tag, see the
  cuda_graph_region patch; with no graphs captured the tag is a state with no memory). After any
  pause the allocator's cached blocks go back to the driver (gc, empty_cache, ipc_collect), and
  torch's cuBLAS workspaces where no live graph uses one (graph_memory.py);
- resume: first check that the device has room for what comes back (else answer
  ``insufficient_memory`` and keep the tags released: a failed mapping would kill the process),
  then graphs, weights, kv_cache in that order (a resume of kv_cache brings released graphs
  back too), and put the backup or buffers back once weights are mapped;
- with tensor parallelism, ranks agree on when a waiting release runs, whether a resume fits and
  whether every rank succeeded, and every rank reaches a barrier before rank 0 replies;
- where SGLang releases and resumes by tag itself (0.4.8 on), the pause and resume of its tags are
  *its* methods, the ones found on the target (``NativeMemoryOps``): the checks above run first,
  then SGLang's method is called with the tags that change, so whatever another patch added to
  it (slime's source patch: NCCL pause, disaggregation queues, HiCache) still runs. Only what
  native lacks is done here (the cuda_graph tag before 0.5, a CPU backup before 0.5);
- a weight update while ``weights`` is released maps them back first (the same resume, pre-check
  included), then updates, and says so in its reply (AReaL updates from disk while released);
- where SGLang takes tensor and distributed updates only inside a weight-update session (0.5.23),
  a bare one runs in a session opened and closed for it (``_in_a_session``).
Upstream 0.4.8 (sgl-project/sglang#7099) orders pause/resume the same way.
"""

from __future__ import annotations

import gc
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, FrozenSet, Iterator, List, Optional, Set

import torch

from .errors import BUSY, FAILED, INSUFFICIENT_MEMORY, INVALID_REQUEST
from .graph_memory import drop_cublas_workspaces
from .refusal import generation_refusal, refusal_abort
from .sglang_compat import (
    batch_on_device,
    finish_after_this_step,
    finished_batch_slots,
    global_graph_pool,
    grammar_queue,
    graphs_captured,
    model_runner,
    native_offload_tags,
    native_weights_backup,
    output_streamer,
    parallel_state,
    send_to_tokenizer,
    update_selector,
    weight_cache_mode,
    weight_update_session_holder,
)
from .tags import ABORT, CUDA_GRAPH, KV_CACHE, REJECT, WEIGHTS, InvalidRequestError
from .tags import check_release_options, normalize_tags
from .weights_backup import WeightsBackup

logger = logging.getLogger(__name__)

# A resume needs the tags' bytes plus this much (allocation granularity, fragmentation) to be free.
RESUME_SLACK_FRACTION = 0.01
RESUME_SLACK_BYTES = 256 << 20


@dataclass
class _PendingRelease:
    tags: List[str]
    deadline: float
    mode: str
    request: Any = None  # the release request, answered once the release is done


@dataclass
class NativeMemoryOps:
    """SGLang's own release and resume (the methods found on the target when the patch was applied,
    with whatever another patch added to them), and the tags they handle. Each is called with the
    tags that change, in a loop turn where nothing runs."""

    release: Callable[[List[str]], Any]
    resume: Callable[[List[str]], Any]
    tags: FrozenSet[str]


class MemoryLedger:
    """What one scheduler has released, a release waiting for running requests, what was saved."""

    def __init__(self, server_args) -> None:
        self.released: Set[str] = set()
        self.pending: Optional[_PendingRelease] = None
        self.stashed_buffers: Optional[List[tuple]] = None
        # SGLang 0.5's own backup (--enable-weights-cpu-backup; --weights-cpu-backup turns it on
        # there): torch_memory_saver copies the weights' region to host memory on pause and back
        # on resume, so this ledger keeps no copy of its own.
        self.native_backup = native_weights_backup(server_args)
        wanted = getattr(server_args, "weights_cpu_backup", False)
        self.backup = WeightsBackup() if wanted and not self.native_backup else None
        self.allow_stale_weights = bool(getattr(server_args, "allow_stale_weights", False))
        self.resume_headroom_bytes = int(float(getattr(server_args, "resume_headroom_gb", 0.0)) * (1 << 30))
        # False from a resume of "weights" without a backup (their content is gone) until a weight
        # update succeeds.
        self.weights_current = True
        # SGLang's own release/resume, where it has them (use_native_memory_ops); None: done here.
        self.native: Optional[NativeMemoryOps] = None

    @staticmethod
    def of(scheduler) -> "MemoryLedger":
        ledger = scheduler.__dict__.get("_memory_ledger")
        if ledger is None:
            ledger = scheduler._memory_ledger = MemoryLedger(scheduler.server_args)
        return ledger

    def refusal(self):
        """Why a queued request may not start (refusal.py's rule on this ledger), or None."""
        return generation_refusal(self.released, False, self.weights_current, self.allow_stale_weights)

    @property
    def admitting(self) -> bool:
        """Whether queued requests may start: generation is not refused, and no release in mode
        "abort" waits (one in mode "wait" lets the queue drain before it runs)."""
        abort_pending = self.pending is not None and self.pending.mode == ABORT
        return self.refusal() is None and not abort_pending


def use_native_memory_ops(scheduler, ops: NativeMemoryOps) -> None:
    """From now on this scheduler pauses and resumes ``ops.tags`` through SGLang's own methods."""
    MemoryLedger.of(scheduler).native = ops


# -- when is it safe ------------------------------------------------------------------------


def _running(scheduler) -> List[Any]:
    """Unfinished requests that hold memory: the running batch, a prefill batch not merged into it
    yet, a chunked prefill, a PP micro-batch.

    Without the overlap scheduler (``--disable-overlap-schedule``, PP, speculative decoding) a
    request just prefilled lives only in ``last_batch`` until the next loop turn merges it.
    """
    batches = [scheduler.running_batch]
    last = scheduler.last_batch
    if last is not None and last.forward_mode.is_extend():
        batches.append(last)
    if parallel_state(scheduler).pp_size > 1:
        batches += list(scheduler.running_mbs)
    reqs = {id(r): r for b in batches for r in b.reqs if not r.finished()}
    if scheduler.chunked_req is not None:
        reqs[id(scheduler.chunked_req)] = scheduler.chunked_req
    return list(reqs.values())


def _busy_reason(scheduler, count_queue: bool = True) -> Optional[str]:
    """Why memory cannot be paused now, or None.

    Finished requests that SGLang has not yet dropped from the running batch do not count; a
    batch whose result is still pending on the device (overlap scheduler) does.
    """
    running = len(_running(scheduler))
    queued = len(scheduler.waiting_queue) + len(grammar_queue(scheduler)) if count_queue else 0
    in_flight = batch_on_device(scheduler)
    if not (running or queued or in_flight):
        return None
    return f"{running} request(s) running, {queued} queued" + (", a batch still on the device" if in_flight else "")


def _agree(scheduler, flag: bool) -> bool:
    """True only if every TP rank says True (ranks must act on the same loop turn)."""
    if parallel_state(scheduler).tp_size == 1:
        return flag
    t = torch.tensor([int(flag)])
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN, group=scheduler.tp_cpu_group)
    return bool(t.item())


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _barrier(scheduler) -> None:
    if parallel_state(scheduler).tp_size > 1:
        torch.distributed.barrier(group=scheduler.tp_cpu_group)


def _flush(scheduler) -> None:
    """Flush the radix cache and pools with nothing running; queued requests stay queued.

    Finished requests are dropped from the running batch first (as the next loop turn would).
    ``flush_cache`` refuses while requests are queued, but queued requests hold no KV memory and
    match their prefix afresh when admitted, so the queue is set aside for the flush.
    """
    if scheduler.running_batch.reqs:
        scheduler.running_batch.filter_batch()
    queued, scheduler.waiting_queue = scheduler.waiting_queue, []
    try:
        flushed = scheduler.flush_cache()
    finally:
        scheduler.waiting_queue = queued + scheduler.waiting_queue
    if not flushed:
        raise RuntimeError("Scheduler.flush_cache refused although no request is running")


@contextmanager
def _as_idle_as_native_expects(scheduler) -> Iterator[None]:
    """While SGLang's own release/resume runs: the scheduler looks the way the next loop turn would
    leave it when nothing runs. Native's release asserts an idle scheduler (0.5: ``_is_no_request``,
    ``is_fully_idle``) and flushes the cache, which stock refuses with requests queued (the
    release's caller has checked that none runs: finished requests are dropped from the running
    batch, a last batch that holds only finished requests is forgotten, the queue is set aside)."""
    if scheduler.running_batch.reqs:
        scheduler.running_batch.filter_batch()
    held = {}
    for name in finished_batch_slots(scheduler):
        batch = getattr(scheduler, name)
        if batch is not None and not any(not r.finished() for r in batch.reqs):
            held[name] = batch
            setattr(scheduler, name, None)
    queued, scheduler.waiting_queue = scheduler.waiting_queue, []
    try:
        yield
    finally:
        scheduler.waiting_queue = queued + scheduler.waiting_queue
        for name, batch in held.items():
            if getattr(scheduler, name, None) is None:
                setattr(scheduler, name, batch)


def _abort_message(tags: List[str]) -> str:
    return f"aborted: GPU memory {tags} is being released (release mode 'abort')"


def _end_queued(scheduler, finish_reason) -> None:
    """End the queued requests (never scheduled) now, with ``finish_reason``."""
    queued, scheduler.waiting_queue = scheduler.waiting_queue, []
    for req in queued:
        req.finished_reason = finish_reason
    if queued:
        output_streamer(scheduler).stream_output(queued, return_logprob=False)


def _abort_queued(scheduler, message: str) -> None:
    from sglang.srt.managers.schedule_batch import FINISH_ABORT

    _end_queued(scheduler, FINISH_ABORT(message=message))


def _abort_all(scheduler, tags: List[str]) -> None:
    """Release mode 'abort': end running and queued requests, each with a finish reason saying why."""
    for req in _running(scheduler):
        finish_after_this_step(req, _abort_message(tags))
    _abort_queued(scheduler, _abort_message(tags))


def _end_stranded(scheduler) -> None:
    """Refuse requests that reached the queue while generation is refused (released memory,
    stale weights).

    The frontend refuses those with a 503 before sending; one that raced past that check (checked,
    then sent after the release) would wait for a resume while holding the tokenizer manager's
    model-update reader lock, so the weight update of a staged resume would wait for it forever.
    It ends now with the refusal as its finish reason, which the frontend turns into the same 503.
    """
    if not scheduler.waiting_queue:
        return
    refusal = MemoryLedger.of(scheduler).refusal()
    if refusal is not None:
        _end_queued(scheduler, refusal_abort(refusal))


# -- what the tags hold -----------------------------------------------------------------------


def _stash_buffers(model) -> List[tuple]:
    return [(name, buf.detach().to("cpu", copy=True)) for name, buf in model.named_buffers()]


def _restore_buffers(model, stashed: List[tuple]) -> None:
    buffers = dict(model.named_buffers())
    for name, saved in stashed:
        buffers[name].copy_(saved)


def _tensor_bytes(objs) -> int:
    """Bytes of the distinct storages among tensors (and lists of tensors) in ``objs``."""
    storages = {}
    for obj in objs:
        for t in obj if isinstance(obj, (list, tuple)) else [obj]:
            if isinstance(t, torch.Tensor):
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


def _graph_pool_bytes(scheduler) -> int:
    """Bytes of the CUDA graphs' memory pool: the allocator's segments that belong to it."""
    if not graphs_captured(scheduler):
        return 0
    pool = global_graph_pool()
    if pool is None:
        return 0
    return sum(seg["total_size"] for seg in torch.cuda.memory_snapshot() if tuple(seg.get("segment_pool_id", ())) == tuple(pool))


def _tag_bytes(scheduler) -> dict:
    """What each tag holds in this rank: the graph pool; the model's parameters and buffers; the KV pools."""
    runner = model_runner(scheduler)
    model = runner.model
    return {
        CUDA_GRAPH: _graph_pool_bytes(scheduler),
        WEIGHTS: _tensor_bytes(list(model.parameters()) + list(model.buffers())),
        KV_CACHE: _tensor_bytes(list(vars(runner.token_to_kv_pool).values()) + [runner.req_to_token_pool.req_to_token]),
    }


def _hand_back_cached_blocks(scheduler) -> None:
    """After a pause: what this rank's allocator still caches goes back to the driver, before the
    reply (vLLM's sleep does the same; cached blocks are memory the trainer cannot use). torch's
    cuBLAS workspaces (32 MiB per handle and stream on a Hopper GPU) go too where no live CUDA
    graph uses one of them (graph_memory.py: the package's captures keep theirs in the graph pool),
    once the graphs are released too or there are none (a release of kv_cache alone skips the
    scan for graphs); the next matmul on a stream allocates its workspace again."""
    if model_runner(scheduler).device != "cuda":
        return
    gc.collect()
    graphs = graphs_captured(scheduler)
    if not graphs or CUDA_GRAPH in MemoryLedger.of(scheduler).released:
        drop_cublas_workspaces(graphs)
    torch.cuda.empty_cache()
    torch.cuda.ipc_collect()


def _device_memory(scheduler, resident_bytes: int, graph_pool_bytes: Optional[int]) -> Optional[dict]:
    """Where this rank's GPU memory is: the device as a whole, this process's allocator, the graph
    pool, and the rest (CUDA context, allocator cache, untagged tensors, other processes)."""
    if model_runner(scheduler).device != "cuda":
        return None
    free, total = torch.cuda.mem_get_info()
    used = total - free
    return {
        "device_total_bytes": total,
        "device_used_bytes": used,  # every process on this GPU
        "allocator_reserved_bytes": torch.cuda.memory_reserved(),  # tagged memory counts even while released
        "allocator_allocated_bytes": torch.cuda.memory_allocated(),
        "cuda_graph_pool_bytes": graph_pool_bytes,
        "other_bytes": max(0, used - resident_bytes),  # device used beyond the resident tags
    }


def _free_device_bytes(scheduler) -> int:
    if model_runner(scheduler).device == "cuda":
        torch.cuda.empty_cache()  # blocks cached by this process's allocator cannot hold the resumed tags
        return torch.cuda.mem_get_info()[0]
    import psutil

    return psutil.virtual_memory().available


def _resume_shortfall(scheduler, todo: List[str]) -> Optional[str]:
    """None if this rank has room for ``todo`` (or the check itself failed); else why not, with the figures."""
    ledger = MemoryLedger.of(scheduler)
    try:
        tag_bytes = _tag_bytes(scheduler)
        needed = sum(tag_bytes[t] for t in todo)
        wanted = int(needed * (1 + RESUME_SLACK_FRACTION)) + RESUME_SLACK_BYTES + ledger.resume_headroom_bytes
        free = _free_device_bytes(scheduler)
    except Exception:
        logger.exception("could not check the free device memory before a resume; resuming unchecked")
        return None
    if free >= wanted:
        return None
    gib = 1 << 30
    return (
        f"cannot resume {todo} on TP rank {parallel_state(scheduler).tp_rank}: it needs {needed / gib:.2f} GiB "
        f"({wanted / gib:.2f} GiB with slack and --resume-headroom-gb) but {free / gib:.2f} GiB is free; "
        f"free device memory (e.g. the trainer's copy of the weights, torch.cuda.empty_cache()) and "
        f"retry. The tags stay released and the server keeps serving"
    )


# -- replies ----------------------------------------------------------------------------------


def _reply(scheduler, output_cls, verb: str, changed=(), error: str = "", message: str = ""):
    ledger = MemoryLedger.of(scheduler)
    saver_on = bool(scheduler.memory_saver_adapter.enabled)
    if not error and not message:
        message = f"{verb}d {list(changed)}" if changed else f"nothing to {verb}"
        if not saver_on:
            message += " (the server runs without --enable-memory-saver: no memory was freed or mapped)"
        elif CUDA_GRAPH in changed and not graphs_captured(scheduler):
            message += " (no CUDA graphs are captured here: the cuda_graph tag holds no memory)"
        elif not ledger.weights_current and WEIGHTS in changed and verb == "resume":
            message += (
                "; the weights hold no data until you push them (update_weights_from_tensor/_disk/"
                "_distributed): generation is refused until then (see --weights-cpu-backup)"
            )
    return output_cls(
        success=not error,
        message=message,
        error=error,
        released_tags=sorted(ledger.released),
        changed_tags=list(changed),
        memory_saver_enabled=saver_on,
        weights_current=ledger.weights_current,
    )


def _release_reply(scheduler, **kwargs):
    from sglang.srt.managers.io_struct import ReleaseMemoryOccupationReqOutput

    return _reply(scheduler, ReleaseMemoryOccupationReqOutput, "release", **kwargs)


def _resume_reply(scheduler, **kwargs):
    from sglang.srt.managers.io_struct import ResumeMemoryOccupationReqOutput

    return _reply(scheduler, ResumeMemoryOccupationReqOutput, "resume", **kwargs)


# -- release and resume -----------------------------------------------------------------------


def _release_now(scheduler, todo: List[str]):
    """Pause ``todo`` (kv_cache before weights before cuda_graph); the scheduler is known to be idle.
    SGLang's own release pauses the tags it knows (``NativeMemoryOps``); the rest is paused here."""
    ledger = MemoryLedger.of(scheduler)
    adapter = scheduler.memory_saver_adapter
    saver_on = bool(adapter.enabled)
    native = ledger.native
    by_native = [t for t in todo if native is not None and t in native.tags]
    done: List[str] = []
    try:
        if WEIGHTS in todo and saver_on and ledger.backup is not None:
            ledger.backup.save(model_runner(scheduler).model)  # before any pause: it reads the weights
        if by_native:
            with _as_idle_as_native_expects(scheduler):
                native.release(by_native)
            ledger.released.update(by_native)
            done += by_native
        if KV_CACHE in todo and KV_CACHE not in by_native:
            _flush(scheduler)
            if saver_on:
                _synchronize()
                adapter.pause(KV_CACHE)
            ledger.released.add(KV_CACHE)
            done.append(KV_CACHE)
        if WEIGHTS in todo and WEIGHTS not in by_native:
            if saver_on:
                if ledger.backup is None:
                    ledger.stashed_buffers = _stash_buffers(model_runner(scheduler).model)
                _synchronize()
                adapter.pause(WEIGHTS)
            ledger.released.add(WEIGHTS)
            done.append(WEIGHTS)
        if CUDA_GRAPH in todo and CUDA_GRAPH not in by_native:
            if saver_on and graphs_captured(scheduler):
                _synchronize()
                adapter.pause(CUDA_GRAPH)
            ledger.released.add(CUDA_GRAPH)
            done.append(CUDA_GRAPH)
        if saver_on and done:
            _hand_back_cached_blocks(scheduler)
    except Exception as e:  # a failure must not take the scheduler down with it
        logger.exception("release_memory_occupation failed")
        failure = f"release of {todo} failed on TP rank {parallel_state(scheduler).tp_rank} after {done}: {e!r}"
    else:
        failure = None
    return _settled(scheduler, _release_reply, done, failure, f"release of {todo}")


def _settled(scheduler, reply, done: List[str], failure: Optional[str], what: str):
    """The reply once every TP rank is done; a failure on any rank fails the reply (rank 0 answers)."""
    _mirrornative_offload_tags(scheduler)
    everywhere_ok = _agree(scheduler, failure is None)
    _barrier(scheduler)
    if failure is None and not everywhere_ok:
        failure = f"{what} failed on another TP rank (see that rank's log)"
    if failure is not None:
        return reply(scheduler, changed=done, error=FAILED, message=failure)
    return reply(scheduler, changed=done)


def _mirrornative_offload_tags(scheduler) -> None:
    """SGLang 0.5's own set of paused tags follows the ledger, in place: its health check and the
    DP-attention batch sync read it."""
    native = native_offload_tags(scheduler)
    if isinstance(native, set):
        native.clear()
        native.update(MemoryLedger.of(scheduler).released)


def release_memory_occupation(scheduler, recv_req):
    """Scheduler.release_memory_occupation: a reply now, or None when it waits (answered later)."""
    ledger = MemoryLedger.of(scheduler)
    mode = getattr(recv_req, "mode", "wait")
    timeout = getattr(recv_req, "timeout", None)
    try:
        tags = normalize_tags(getattr(recv_req, "tags", None))
        wait_s = check_release_options(mode, timeout)
    except InvalidRequestError as e:
        return _release_reply(scheduler, error=INVALID_REQUEST, message=str(e))
    if ledger.pending is not None:
        return _release_reply(
            scheduler, error=BUSY, message=f"a release of {ledger.pending.tags} is already waiting for running requests; retry after it answers"
        )
    if WEIGHTS in tags and weight_cache_mode(scheduler.server_args) not in ("off", None):
        # SGLang 0.5.17's weight cache shares the weights with a daemon through CUDA IPC: freeing
        # them would corrupt the daemon's copy and every engine attached to it (SGLang refuses too).
        return _release_reply(
            scheduler, error=INVALID_REQUEST, message=f"cannot release the weights while the weight cache is on "
            f"(--weight-cache-mode {scheduler.server_args.weight_cache_mode}): they are shared with its daemon; "
            "release only kv_cache, or restart with --weight-cache-mode off")
    todo = [t for t in tags if t not in ledger.released]
    busy = _busy_reason(scheduler, count_queue=ledger.admitting) if todo else None
    if not _agree(scheduler, busy is None):
        if mode == REJECT:
            return _release_reply(
                scheduler, error=BUSY, message=f"cannot release {todo}: {busy or 'another TP rank is busy'}; "
                "memory is never paused under a running batch. "
                "Retry later, or use mode 'wait' (default) or 'abort'"
            )
        if mode == ABORT:
            _abort_all(scheduler, todo)
        ledger.pending = _PendingRelease(todo, time.monotonic() + wait_s, mode, recv_req)
        return None  # answered from the event loop (after_input_requests) once idle
    return _release_now(scheduler, todo)


def resume_memory_occupation(scheduler, recv_req):
    """Scheduler.resume_memory_occupation: weights before kv_cache, only if they fit."""
    ledger = MemoryLedger.of(scheduler)
    try:
        tags = normalize_tags(getattr(recv_req, "tags", None))
    except InvalidRequestError as e:
        return _resume_reply(scheduler, error=INVALID_REQUEST, message=str(e))
    if ledger.pending is not None:
        return _resume_reply(scheduler, error=BUSY, message=f"a release of {ledger.pending.tags} is still waiting; resume after it answers")
    todo = [t for t in tags if t in ledger.released]  # normalize_tags gives the resume order
    if KV_CACHE in todo and CUDA_GRAPH in ledger.released and CUDA_GRAPH not in todo:
        # Trainer code written for two tags resumes kv_cache last: the graphs, needed to decode
        # and useless without the KV cache, come back with it.
        todo.insert(0, CUDA_GRAPH)
    return _resume(scheduler, todo)


def _resume(scheduler, todo: List[str]):
    """Map ``todo`` back (graphs, weights, kv_cache), after checking that it fits on every rank."""
    ledger = MemoryLedger.of(scheduler)
    adapter = scheduler.memory_saver_adapter
    saver_on = bool(adapter.enabled)
    shortfall = _resume_shortfall(scheduler, todo) if todo and saver_on else None
    if not _agree(scheduler, shortfall is None):  # every rank calls this, whatever its own ledger says
        _barrier(scheduler)
        return _resume_reply(
            scheduler, error=INSUFFICIENT_MEMORY, message=shortfall or "another TP rank has no room for the resume"
        )
    native = ledger.native
    by_native = [t for t in todo if native is not None and t in native.tags]
    done: List[str] = []
    try:
        if CUDA_GRAPH in todo and CUDA_GRAPH not in by_native:
            if saver_on and graphs_captured(scheduler):
                adapter.resume(CUDA_GRAPH)
            ledger.released.discard(CUDA_GRAPH)
            done.append(CUDA_GRAPH)
        if by_native:
            with _as_idle_as_native_expects(scheduler):
                native.resume(by_native)
            ledger.released.difference_update(by_native)  # mapped now, whatever happens below
            done += by_native
        if WEIGHTS in todo:
            if WEIGHTS not in by_native:
                if saver_on:
                    adapter.resume(WEIGHTS)
                ledger.released.discard(WEIGHTS)  # mapped now, whatever happens below
                done.append(WEIGHTS)
            if saver_on:
                ledger.weights_current = False  # fresh pages: garbage until restored or updated
                model = model_runner(scheduler).model
                if ledger.backup is not None:
                    ledger.backup.restore(model)
                    ledger.weights_current = True
                else:
                    if WEIGHTS not in by_native:  # native put its own stash of the buffers back
                        _restore_buffers(model, ledger.stashed_buffers)
                        ledger.stashed_buffers = None
                    ledger.weights_current = ledger.native_backup  # the saver copied them back
        if KV_CACHE in todo and KV_CACHE not in by_native:
            if saver_on:
                adapter.resume(KV_CACHE)
            ledger.released.discard(KV_CACHE)
            done.append(KV_CACHE)
    except Exception as e:
        logger.exception("resume_memory_occupation failed")
        failure = f"resume of {todo} failed on TP rank {parallel_state(scheduler).tp_rank} after {done}: {e!r}"
    else:
        failure = None
    return _settled(scheduler, _resume_reply, _in_resume_order(done), failure, f"resume of {todo}")


def _in_resume_order(tags: List[str]) -> List[str]:
    return [t for t in (CUDA_GRAPH, WEIGHTS, KV_CACHE) if t in tags]


def after_input_requests(scheduler) -> None:
    """Each loop turn, after inputs: end requests that cannot run, carry out a waiting release once
    nothing runs, or time it out."""
    ledger = MemoryLedger.of(scheduler)
    _end_stranded(scheduler)
    pending = ledger.pending
    if pending is None:
        return
    if pending.mode == ABORT:
        _abort_queued(scheduler, _abort_message(pending.tags))  # requests that raced the release into the queue
    # "wait" drains the queue too (admitting stays True for it): a request accepted before the
    # release must not be stranded. When nothing can be admitted, queued requests do not count.
    idle = _busy_reason(scheduler, count_queue=ledger.admitting) is None
    expired = time.monotonic() > pending.deadline
    if _agree(scheduler, idle):
        ledger.pending = None
        output = _release_now(scheduler, pending.tags)
    elif _agree(scheduler, expired):
        ledger.pending = None
        output = _release_reply(
            scheduler, error=BUSY, message=f"release of {pending.tags} timed out: {_busy_reason(scheduler, count_queue=ledger.admitting)} "
            "still running; retry with a longer timeout or mode 'abort'"
        )
    else:
        return
    send_to_tokenizer(scheduler, output, pending.request)


def admitting(scheduler) -> bool:
    """Whether get_new_batch_prefill may run now. A chunked prefill in progress always continues:
    stock frees its request slot every turn and expects the next chunk (an "abort" release marks
    it to end after that chunk); none can exist while memory is released."""
    return MemoryLedger.of(scheduler).admitting or scheduler.chunked_req is not None


# -- status and weight updates ----------------------------------------------------------------


def _backup_bytes(ledger, tag_bytes) -> Optional[int]:
    """Host bytes that back the weights up: this ledger's copy, or the saver's copy of the whole
    weights region (SGLang's own backup), or None without a backup."""
    if ledger.backup is not None:
        return ledger.backup.host_bytes
    return tag_bytes[WEIGHTS] if ledger.native_backup else None


def get_memory_occupation(scheduler, recv_req):
    """Scheduler side of GET /memory_occupation: this rank's state, gathered over TP ranks."""
    from sglang.srt.managers.io_struct import GetMemoryOccupationReqOutput

    ledger = MemoryLedger.of(scheduler)
    try:
        tag_bytes = _tag_bytes(scheduler)
    except Exception:  # the status must not take the scheduler down, nor skip the gather below
        logger.exception("get_memory_occupation could not count the tags' bytes")
        tag_bytes = {tag: None for tag in (CUDA_GRAPH, WEIGHTS, KV_CACHE)}
    mine = {
        "tp_rank": parallel_state(scheduler).tp_rank,
        "tags": {
            tag: {"state": "released" if tag in ledger.released else "resident", "bytes": nbytes}
            for tag, nbytes in tag_bytes.items()
        },
        "weights_current": ledger.weights_current,
        "weights_cpu_backup_bytes": _backup_bytes(ledger, tag_bytes),
        "release_waiting": ledger.pending.tags if ledger.pending else None,
        "memory_saver_enabled": bool(scheduler.memory_saver_adapter.enabled),
    }
    try:
        resident = sum(n or 0 for tag, n in tag_bytes.items() if tag not in ledger.released)
        mine["device"] = _device_memory(scheduler, resident, tag_bytes[CUDA_GRAPH])
    except Exception:
        logger.exception("get_memory_occupation could not read the device's memory")
        mine["device"] = None
    ranks = [mine]
    if parallel_state(scheduler).tp_size > 1:
        ranks = [None] * parallel_state(scheduler).tp_size
        torch.distributed.all_gather_object(ranks, mine, group=scheduler.tp_cpu_group)
    return GetMemoryOccupationReqOutput(ranks=ranks)


# Scheduler handler -> its reply class (io_struct); from_ipc (checkpoint-engine) exists from 0.5.
WEIGHT_UPDATES = {
    "update_weights_from_disk": "UpdateWeightFromDiskReqOutput",
    "update_weights_from_distributed": "UpdateWeightsFromDistributedReqOutput",
    "update_weights_from_tensor": "UpdateWeightsFromTensorReqOutput",
    "update_weights_from_ipc": "UpdateWeightsFromIPCReqOutput",
}


def update_weights(scheduler, method_name: str, recv_req, run: Callable[[Any], Any]):
    """A weight update (``run`` is SGLang's). While the weights are released they are resumed first
    (the KV cache may stay released); a resume that does not fit refuses the update. A success
    makes the weights current again."""
    ledger = MemoryLedger.of(scheduler)
    resumed = ""
    if WEIGHTS in ledger.released:
        reply = _resume(scheduler, [WEIGHTS])
        if not reply.success:
            return _refused_update(method_name, f"the weights are released and resuming them first failed: {reply.message}")
        resumed = "resumed ['weights'] first (they were released); "
    try:
        result, session = _in_a_session(scheduler, method_name, recv_req, run)
    except Exception as e:  # SGLang lets it take the scheduler, and the server, down
        logger.exception("%s failed", method_name)
        return _refused_update(
            method_name, f"{method_name} failed: {type(e).__name__}: {e}. {UPDATE_HINTS.get(method_name, '')}"
            "The server keeps serving; if the failure came after some weights were loaded they are "
            "partly updated: send the whole update again."
        )
    if result.success:
        ledger.weights_current = True
    if resumed or session:
        result.message = resumed + session + (result.message or "")
    return result


# The updates SGLang 0.5.23 takes only inside a weight-update session (/begin_weight_update ...
# /end_weight_update): bare, they are refused (managers/scheduler_components/weight_updater.py:192,
# :233). Releases before 0.5.23 have no sessions.
SESSION_UPDATES = ("update_weights_from_distributed", "update_weights_from_tensor")


def _in_a_session(scheduler, method_name: str, recv_req, run: Callable[[Any], Any]):
    """(``run(recv_req)``'s reply, what to say about a session). A bare update (no session open) of
    a release that takes it only inside one runs in a session opened for it and closed after it,
    as SGLang's own sequence begin/update/end would, so frameworks written before sessions
    (slime, verl: one bare call per bucket) keep working; an update inside a session the caller
    opened runs as it is (docs/patches.md, "Weight-update sessions")."""
    holder = weight_update_session_holder(scheduler)
    if method_name not in SESSION_UPDATES or holder is None or holder._session is not None:
        return run(recv_req), ""
    from sglang.srt.managers import io_struct

    opened = holder.begin_weight_update(io_struct.BeginWeightUpdateReqInput(selector=update_selector(recv_req)))
    if not opened.success:
        return _refused_update(method_name, f"opening a weight-update session for it failed: {opened.message}"), ""
    try:
        result = run(recv_req)
    finally:
        try:
            closed = holder.end_weight_update(io_struct.EndWeightUpdateReqInput())
        except Exception as e:  # noqa: BLE001 - said in the reply; SGLang would keep the session open
            holder._session = None  # else every later bare update would count as inside a caller's session
            closed = SimpleNamespace(success=False, message=f"{type(e).__name__}: {e}")
    if not closed.success and result.success:
        result = _refused_update(method_name, f"the weights were updated, but closing the weight-update session "
                                              f"opened for it failed: {closed.message}")
    return result, "in a weight-update session opened and closed for it (none was open); "


# What a weight update that raised most likely got wrong, for its error message.
UPDATE_HINTS = {
    "update_weights_from_tensor": (
        "serialized_named_tensors must hold one entry per TP rank, each "
        "MultiprocessingSerializer.serialize([(name, tensor), ...]) (over HTTP: base64 text). "
    ),
}


def _refused_update(method_name: str, message: str):
    from sglang.srt.managers import io_struct

    return getattr(io_struct, WEIGHT_UPDATES[method_name])(success=False, message=message)  # keyword-only from 0.5.17
