"""Release and resume by tag in one scheduler: when it is safe, the modes, the TP agreement, the replies.

scheduler_side.py's docstring says what happens and why; this module does it. Memory is paused
only with nothing running (``_busy_reason``), after the checks on the request; a release that
finds requests running follows its mode (``PendingRelease``, carried out by
``after_input_requests`` once idle); a resume first checks that the tags fit
(``_resume_shortfall``). With tensor parallelism every rank acts on the same loop turn
(``_agree``) and reaches a barrier before rank 0 replies (``_settled``).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional

import torch

from .errors import BUSY, FAILED, INSUFFICIENT_MEMORY, INVALID_REQUEST
from .ledger import MemoryLedger, PendingRelease
from .refusal import refusal_abort
from .sglang_compat import (
    batch_on_device,
    finish_after_this_step,
    finished_batch_slots,
    grammar_queue,
    graphs_captured,
    model_runner,
    native_offload_tags,
    output_streamer,
    parallel_state,
    send_to_tokenizer,
    weight_cache_mode,
)
from .tag_memory import bytes_per_tag, free_device_bytes, hand_back_cached_blocks, restore_buffers, stash_buffers
from .tags import ABORT, CUDA_GRAPH, KV_CACHE, REJECT, WEIGHTS, InvalidRequestError
from .tags import check_release_options, normalize_tags

logger = logging.getLogger(__name__)

# A resume needs the tags' bytes plus this much (allocation granularity, fragmentation) to be free.
RESUME_SLACK_FRACTION = 0.01
RESUME_SLACK_BYTES = 256 << 20


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


def _resume_shortfall(scheduler, todo: List[str]) -> Optional[str]:
    """None if this rank has room for ``todo`` (or the check itself failed); else why not, with the figures."""
    ledger = MemoryLedger.of(scheduler)
    try:
        tag_bytes = bytes_per_tag(scheduler)
        needed = sum(tag_bytes[t] for t in todo)
        wanted = int(needed * (1 + RESUME_SLACK_FRACTION)) + RESUME_SLACK_BYTES + ledger.resume_headroom_bytes
        free = free_device_bytes(scheduler)
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
        if by_native and native is not None:  # by_native is empty without native ops
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
                    ledger.stashed_buffers = stash_buffers(model_runner(scheduler).model)
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
            hand_back_cached_blocks(scheduler)
    except Exception as e:  # a failure must not take the scheduler down with it
        logger.exception("release_memory_occupation failed")
        failure: Optional[str] = f"release of {todo} failed on TP rank {parallel_state(scheduler).tp_rank} after {done}: {e!r}"
    else:
        failure = None
    return _settled(scheduler, _release_reply, done, failure, f"release of {todo}")


def _settled(scheduler, reply, done: List[str], failure: Optional[str], what: str):
    """The reply once every TP rank is done; a failure on any rank fails the reply (rank 0 answers)."""
    _mirror_native_offload_tags(scheduler)
    everywhere_ok = _agree(scheduler, failure is None)
    _barrier(scheduler)
    if failure is None and not everywhere_ok:
        failure = f"{what} failed on another TP rank (see that rank's log)"
    if failure is not None:
        return reply(scheduler, changed=done, error=FAILED, message=failure)
    return reply(scheduler, changed=done)


def _mirror_native_offload_tags(scheduler) -> None:
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
        ledger.pending = PendingRelease(todo, time.monotonic() + wait_s, mode, recv_req)
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
    return resume_tags(scheduler, todo)


def resume_tags(scheduler, todo: List[str]):
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
        if by_native and native is not None:  # by_native is empty without native ops
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
                        restore_buffers(model, ledger.stashed_buffers)
                        ledger.stashed_buffers = None
                    ledger.weights_current = ledger.native_backup  # the saver copied them back
        if KV_CACHE in todo and KV_CACHE not in by_native:
            if saver_on:
                adapter.resume(KV_CACHE)
            ledger.released.discard(KV_CACHE)
            done.append(KV_CACHE)
    except Exception as e:
        logger.exception("resume_memory_occupation failed")
        failure: Optional[str] = f"resume of {todo} failed on TP rank {parallel_state(scheduler).tp_rank} after {done}: {e!r}"
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
