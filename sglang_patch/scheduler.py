"""Patch ``scheduler``: release and resume GPU memory by tag, in the scheduler process.

Replaces ``Scheduler.release_memory_occupation`` / ``resume_memory_occupation``
(managers/scheduler.py:2049-2067). Stock pauses everything, then flushes, stashes the model's
buffers as a second GPU copy, and a second resume in a row crashes on the missing stash.

Here, per scheduler:
- the tags are checked again (the tokenizer manager already did; this keeps a bad message from
  ever crashing the scheduler) and None / [] means all;
- a ledger records which tags are released: releasing a released tag or resuming a resident one
  is a no-op that the reply reports (``changed_tags``), never a second pause;
- nothing is paused while requests are queued or running: the reply is ``busy`` and the caller
  retries (SGLang's own warm-up request counts);
- release ``kv_cache``: flush the radix cache and pools (their contents die with the memory),
  then pause the tag;
- release ``weights``: copy the model's buffers (rotary caches and the like, which no weight update
  rewrites) to CPU memory, synchronize the device, pause the tag;
- resume in the order weights, then kv_cache, and put the buffers back once the weights are mapped;
- with tensor parallelism, every rank reaches a barrier before rank 0 replies.
Upstream 0.4.8 (sgl-project/sglang#7009) orders pause/resume the same way.
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional, Set

import torch

from sglang_patch._core import Patch, mark_wrapper
from sglang_patch.tags import KV_CACHE, WEIGHTS, InvalidTagsError, normalize_tags

logger = logging.getLogger(__name__)

_SCHEDULER = "sglang.srt.managers.scheduler.Scheduler."


class MemoryLedger:
    """What one scheduler has released, and the model buffers it set aside while doing so."""

    def __init__(self) -> None:
        self.released: Set[str] = set()
        self.stashed_buffers: Optional[List[tuple]] = None

    @staticmethod
    def of(scheduler) -> "MemoryLedger":
        ledger = scheduler.__dict__.get("_sglang_patch_ledger")
        if ledger is None:
            ledger = scheduler._sglang_patch_ledger = MemoryLedger()
        return ledger


def _busy_reason(scheduler) -> Optional[str]:
    """Why memory cannot be paused now, or None; the same condition Scheduler.flush_cache uses."""
    queued = len(scheduler.waiting_queue)
    running = len(scheduler.running_batch.reqs)
    pp_busy = scheduler.pp_size > 1 and not all(x.is_empty() for x in scheduler.running_mbs)
    if queued == 0 and running == 0 and not pp_busy:
        return None
    return (
        f"{running} request(s) running and {queued} queued: memory is never paused under a running "
        f"batch; retry once they finish, or abort them first (POST /abort_request)"
    )


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _barrier(scheduler) -> None:
    if scheduler.tp_size > 1:
        torch.distributed.barrier(group=scheduler.tp_cpu_group)


def _stash_buffers(model) -> List[tuple]:
    return [(name, buf.detach().to("cpu", copy=True)) for name, buf in model.named_buffers()]


def _restore_buffers(model, stashed: List[tuple]) -> None:
    buffers = dict(model.named_buffers())
    for name, saved in stashed:
        buffers[name].copy_(saved)


class _Step:
    """Builds the reply of one release or resume."""

    def __init__(self, scheduler, output_cls, verb: str):
        self.ledger = MemoryLedger.of(scheduler)
        self.output_cls = output_cls
        self.verb = verb
        self.saver_on = bool(scheduler.memory_saver_adapter.enabled)

    def reply(self, changed: List[str] = (), error: str = "", message: str = ""):
        if not error and not message:
            message = f"{self.verb}d {list(changed)}" if changed else f"nothing to {self.verb}"
            if not self.saver_on:
                message += " (the server runs without --enable-memory-saver: no memory was freed or mapped)"
        return self.output_cls(
            success=not error,
            message=message,
            error=error,
            released_tags=sorted(self.ledger.released),
            changed_tags=list(changed),
            memory_saver_enabled=self.saver_on,
        )


def release_memory_occupation(scheduler, recv_req):
    from sglang.srt.managers.io_struct import ReleaseMemoryOccupationReqOutput

    step = _Step(scheduler, ReleaseMemoryOccupationReqOutput, "release")
    try:
        tags = normalize_tags(getattr(recv_req, "tags", None))
    except InvalidTagsError as e:
        return step.reply(error="invalid_request", message=str(e))
    todo = [t for t in tags if t not in step.ledger.released]
    busy = _busy_reason(scheduler) if todo else None
    if busy:
        return step.reply(error="busy", message=f"cannot release {todo}: {busy}")

    adapter = scheduler.memory_saver_adapter
    done: List[str] = []
    try:
        if KV_CACHE in todo:
            scheduler.flush_cache()
            if step.saver_on:
                adapter.pause(KV_CACHE)
            step.ledger.released.add(KV_CACHE)
            done.append(KV_CACHE)
        if WEIGHTS in todo:
            if step.saver_on:
                step.ledger.stashed_buffers = _stash_buffers(scheduler.tp_worker.worker.model_runner.model)
                _synchronize()
                adapter.pause(WEIGHTS)
            step.ledger.released.add(WEIGHTS)
            done.append(WEIGHTS)
    except Exception as e:  # a failure must not take the scheduler down with it
        logger.exception("release_memory_occupation failed")
        return step.reply(done, error="failed", message=f"release of {todo} failed after {done}: {e!r}")
    finally:
        _barrier(scheduler)
    return step.reply(done)


def resume_memory_occupation(scheduler, recv_req):
    from sglang.srt.managers.io_struct import ResumeMemoryOccupationReqOutput

    step = _Step(scheduler, ResumeMemoryOccupationReqOutput, "resume")
    try:
        tags = normalize_tags(getattr(recv_req, "tags", None))
    except InvalidTagsError as e:
        return step.reply(error="invalid_request", message=str(e))
    todo = [t for t in tags if t in step.ledger.released]  # normalize_tags gives weights first

    adapter = scheduler.memory_saver_adapter
    done: List[str] = []
    try:
        if WEIGHTS in todo:
            if step.saver_on:
                adapter.resume(WEIGHTS)
                _restore_buffers(scheduler.tp_worker.worker.model_runner.model, step.ledger.stashed_buffers)
                step.ledger.stashed_buffers = None
            step.ledger.released.discard(WEIGHTS)
            done.append(WEIGHTS)
        if KV_CACHE in todo:
            if step.saver_on:
                adapter.resume(KV_CACHE)
            step.ledger.released.discard(KV_CACHE)
            done.append(KV_CACHE)
    except Exception as e:
        logger.exception("resume_memory_occupation failed")
        return step.reply(done, error="failed", message=f"resume of {todo} failed after {done}: {e!r}")
    finally:
        _barrier(scheduler)
    return step.reply(done)


class SchedulerPatch(Patch):
    name = "scheduler"
    targets = (_SCHEDULER + "release_memory_occupation", _SCHEDULER + "resume_memory_occupation")
    process = "scheduler"
    summary = "Scheduler releases/resumes by tag with a ledger, busy check, CPU buffer stash, TP barrier"

    def replacements(self):
        release, resume = self.targets
        return {
            release: mark_wrapper(release_memory_occupation, self.original(release), self.name),
            resume: mark_wrapper(resume_memory_occupation, self.original(resume), self.name),
        }
