"""Patch ``scheduler``: release and resume GPU memory by tag, in the scheduler process.

The logic lives in ``sglang_patch.memory_occupation.scheduler_side`` (shared with the source
series; its docstring explains the ledger, release modes, admission and the resume pre-check).
This module wires it into ``Scheduler`` (line numbers: 0.4.6.post5):
- ``release_memory_occupation`` / ``resume_memory_occupation`` (managers/scheduler.py:2049-2067)
  are replaced;
- ``process_input_requests`` (:880) serves a release waiting for running requests after inputs;
- ``get_new_batch_prefill`` (:1345) admits nothing while memory is released or weights are stale;
- the ``update_weights_*`` handlers (:2005-2047) refuse while the weights are released and mark
  them current on success;
- ``__init__`` adds the status request (``GetMemoryOccupationReqInput``) to the dispatcher, which
  calls the added method ``get_memory_occupation``.

Where SGLang pauses and resumes by tag itself (``native_tags``, set by the sets of 0.4.8 on), the
replacements *wrap* its handlers rather than replace them: the shared code checks and decides,
then calls the stock method found on the target (``scheduler_side.NativeMemoryOps``) with the
tags that change, so another patch's additions to it (slime's source patch) still run.
"""

from __future__ import annotations

import importlib
from typing import Dict, Optional, Tuple

from sglang_patch._core import Patch, Shape, add_to_dispatcher
from sglang_patch.memory_occupation import scheduler_side

SCHEDULER = "sglang.srt.managers.scheduler.Scheduler."
INIT = SCHEDULER + "__init__"
INPUTS = SCHEDULER + "process_input_requests"
PREFILL = SCHEDULER + "get_new_batch_prefill"
STATUS = SCHEDULER + "get_memory_occupation"
# Where 0.5.13 on keep release, resume and the weight updates: the scheduler's weight updater
# (managers/scheduler_components/weight_updater.py), reached as ``scheduler.weight_updater``.
WEIGHT_UPDATER = "sglang.srt.managers.scheduler_components.weight_updater.SchedulerWeightUpdaterManager."
_IO = "sglang.srt.managers.io_struct."
NATIVE_REQUESTS = ("ReleaseMemoryOccupationReqInput", "ResumeMemoryOccupationReqInput")
# The weight updates every release has; 0.5.4 adds ``update_weights_from_ipc`` (checkpoint-engine).
WEIGHT_UPDATES = ("update_weights_from_disk", "update_weights_from_distributed", "update_weights_from_tensor")
ALL_WEIGHT_UPDATES = tuple(scheduler_side.WEIGHT_UPDATES)  # the shared code knows each one's reply
# What the scheduler patch needs where SGLang tags the weights and KV cache itself (0.4.8 on).
NATIVE_REQUIRES = ("io_structs", "server_args", "cuda_graph_region")


class SchedulerPatch(Patch):
    """The scheduler's memory handlers, admission and weight-update guard.

    Hooks (class attributes; the defaults are 0.4.6.post5's layout, ``targets`` follow from them):
    - ``requires``: the patches this one needs; where SGLang tags weights and KV cache itself
      (0.4.8 on), not the tagging ones (``NATIVE_REQUIRES``).
    - ``native_tags``: the tags SGLang's own release/resume handlers pause and resume (none before
      0.4.8): the replacements wrap those handlers for them.
    - ``weight_updates``: the names of the weight-update handlers guarded (``ALL_WEIGHT_UPDATES``
      from 0.5.4, with ``update_weights_from_ipc``).
    - ``handler_class``: the class whose methods SGLang's release, resume and weight-update
      handlers are (dotted, with a trailing dot): ``Scheduler`` (0.4.10.post2 on: inherited from
      a mixin, shadowed on ``Scheduler``), or ``WEIGHT_UPDATER``.
    - ``handler_attr``: the scheduler's attribute holding that class's object (its ``scheduler``
      leads back); None when the handlers are the scheduler's own.
    """

    name = "scheduler"
    native_tags: frozenset = frozenset()
    weight_updates: Tuple[str, ...] = WEIGHT_UPDATES
    handler_class: str = SCHEDULER
    handler_attr: Optional[str] = None
    adds = (STATUS,)
    process = "scheduler"
    requires = ("io_structs", "server_args", "weights_region", "kv_cache_region", "cuda_graph_region")
    summary = (
        "Scheduler releases/resumes by tag: ledger, wait/abort/reject for running requests, gated admission, "
        "resume pre-check, weights backup, status, no weight update into released weights"
    )

    @property
    def release_target(self) -> str:
        """Where SGLang's release handler lives."""
        return self.handler_class + "release_memory_occupation"

    @property
    def resume_target(self) -> str:
        """Where SGLang's resume handler lives."""
        return self.handler_class + "resume_memory_occupation"

    @property
    def updates(self) -> Dict[str, str]:
        """The weight-update handlers guarded: target -> method name."""
        return {self.handler_class + name: name for name in self.weight_updates}

    @property
    def targets(self) -> Tuple[str, ...]:
        return (INIT, self.release_target, self.resume_target, INPUTS, PREFILL, *self.updates, STATUS)

    @property
    def shapes(self):
        """The handlers take SGLang's request as ``recv_req`` (the wrappers pass it on); where SGLang
        pauses by tag itself, its requests carry ``tags`` (``NativeMemoryOps`` builds them so)."""
        handler = Shape(params=("recv_req",))
        out = {INPUTS: Shape(params=("recv_reqs",)), self.release_target: handler, self.resume_target: handler}
        out.update({target: handler for target in self.updates})
        if self.native_tags:
            out.update({_IO + cls: Shape(fields=("tags",)) for cls in NATIVE_REQUESTS})
        return out

    def scheduler_of(self, owner):
        """The scheduler a handler's ``self`` belongs to (the weight updater's ``scheduler``)."""
        return owner.scheduler if self.handler_attr else owner

    def handler_owner(self, scheduler):
        """The object SGLang's release/resume handlers are bound to (the inverse of ``scheduler_of``)."""
        return getattr(scheduler, self.handler_attr) if self.handler_attr else scheduler

    def nothing_to_prefill(self, *running_batch):
        """What ``get_new_batch_prefill`` returns when nothing may start, found by the call: no batch
        where it takes none (up to 0.5.15.post1); where SGLang passes the running batch and takes a
        ``NextBatchPlan`` (0.5.17 on), a plan without a batch that keeps the running one."""
        if running_batch:
            plan = getattr(importlib.import_module("sglang.srt.managers.schedule_batch"), "NextBatchPlan", None)
            if plan is not None:
                return plan(batch_to_run=None, running_batch=running_batch[0])
        return None

    def replacements(self):
        scheduler_of = self.scheduler_of
        nothing_to_prefill = self.nothing_to_prefill
        stock_init = self.original(INIT)
        stock_inputs = self.original(INPUTS)
        stock_prefill = self.original(PREFILL)

        native_ops = self._native_memory_ops()

        def __init__(scheduler, *args, **kwargs):
            stock_init(scheduler, *args, **kwargs)
            from sglang.srt.managers.io_struct import GetMemoryOccupationReqInput

            # The dispatcher is built in __init__: add the status request.
            add_to_dispatcher(scheduler._request_dispatcher, GetMemoryOccupationReqInput, scheduler.get_memory_occupation)
            if native_ops is not None:
                scheduler_side.use_native_memory_ops(scheduler, native_ops(scheduler))

        def process_input_requests(scheduler, recv_reqs):
            stock_inputs(scheduler, recv_reqs)
            scheduler_side.after_input_requests(scheduler)

        def get_new_batch_prefill(scheduler, *args):
            if not scheduler_side.admitting(scheduler):
                return nothing_to_prefill(*args)  # nothing new runs on released memory, stale weights, or while a release waits
            return stock_prefill(scheduler, *args)

        def release_memory_occupation(owner, recv_req):
            return scheduler_side.release_memory_occupation(scheduler_of(owner), recv_req)

        def resume_memory_occupation(owner, recv_req):
            return scheduler_side.resume_memory_occupation(scheduler_of(owner), recv_req)

        def get_memory_occupation(scheduler, recv_req):
            """This rank's memory state, gathered over the TP ranks (GET /memory_occupation)."""
            return scheduler_side.get_memory_occupation(scheduler, recv_req)

        new = {
            INIT: __init__,
            self.release_target: release_memory_occupation,
            self.resume_target: resume_memory_occupation,
            INPUTS: process_input_requests,
            PREFILL: get_new_batch_prefill,
            STATUS: get_memory_occupation,
        }
        for target, method_name in self.updates.items():
            new[target] = self._guarded_update(target, method_name)
        return self.marked(new)
    def _native_memory_ops(self):
        """scheduler -> ``NativeMemoryOps`` calling the stock handlers found on the targets now (with
        whatever another patch put there), or None where SGLang has no tagged release/resume."""
        if not self.native_tags:
            return None
        stock_release, stock_resume = self.original(self.release_target), self.original(self.resume_target)
        handler_owner, tags = self.handler_owner, frozenset(self.native_tags)

        def ops(scheduler):
            from sglang.srt.managers import io_struct

            owner = handler_owner(scheduler)
            return scheduler_side.NativeMemoryOps(
                release=lambda todo: stock_release(owner, io_struct.ReleaseMemoryOccupationReqInput(tags=list(todo))),
                resume=lambda todo: stock_resume(owner, io_struct.ResumeMemoryOccupationReqInput(tags=list(todo))),
                tags=tags,
            )

        return ops

    def _guarded_update(self, target: str, method_name: str):
        stock = self.original(target)
        scheduler_of = self.scheduler_of

        def update(owner, recv_req):
            return scheduler_side.update_weights(scheduler_of(owner), method_name, recv_req, lambda req: stock(owner, req))

        return update
