"""Patch ``scheduler``: release and resume GPU memory by tag, in the scheduler process.

The logic lives in ``sglang_patch.memory_occupation.scheduler_side`` (shared with the source
series; its docstring explains the ledger, release modes, admission and the resume pre-check).
This module wires it into ``Scheduler``:
- ``release_memory_occupation`` / ``resume_memory_occupation`` (managers/scheduler.py:2049-2067)
  are replaced;
- ``process_input_requests`` (:880) serves a release waiting for running requests after inputs;
- ``get_new_batch_prefill`` (:1345) admits nothing while memory is released or weights are stale;
- the three ``update_weights_*`` handlers (:2005-2047) refuse while the weights are released and
  mark them current on success;
- ``__init__`` adds the status request (``GetMemoryOccupationReqInput``) to the dispatcher, which
  calls the added method ``get_memory_occupation``.

Where SGLang pauses and resumes by tag itself (``native_tags``, set by the sets of 0.4.8 on), the
replacements *wrap* its handlers rather than replace them: the shared code checks and decides,
then calls the stock method found on the target (``scheduler_side.NativeMemoryOps``) with the
tags that change, so another patch's additions to it (slime's source patch) still run.
"""

from __future__ import annotations

from sglang_patch._core import Patch, Shape, add_to_dispatcher
from sglang_patch.memory_occupation import scheduler_side

SCHEDULER = "sglang.srt.managers.scheduler.Scheduler."
INIT = SCHEDULER + "__init__"
RELEASE = SCHEDULER + "release_memory_occupation"
RESUME = SCHEDULER + "resume_memory_occupation"
INPUTS = SCHEDULER + "process_input_requests"
PREFILL = SCHEDULER + "get_new_batch_prefill"
STATUS = SCHEDULER + "get_memory_occupation"
_IO = "sglang.srt.managers.io_struct."
NATIVE_REQUESTS = ("ReleaseMemoryOccupationReqInput", "ResumeMemoryOccupationReqInput")
UPDATES = {SCHEDULER + name: name for name in ("update_weights_from_disk", "update_weights_from_distributed",
                                                "update_weights_from_tensor")}


class SchedulerPatch(Patch):
    name = "scheduler"
    targets = (INIT, RELEASE, RESUME, INPUTS, PREFILL, *UPDATES, STATUS)
    updates = UPDATES  # the weight-update handlers guarded: target -> method name
    release_target, resume_target = RELEASE, RESUME  # where SGLang's release and resume handlers live
    native_tags: frozenset = frozenset()  # the tags SGLang's own handlers pause and resume (none before 0.4.8)
    adds = (STATUS,)
    process = "scheduler"
    requires = ("io_structs", "server_args", "weights_region", "kv_cache_region", "cuda_graph_region")
    summary = (
        "Scheduler releases/resumes by tag: ledger, wait/abort/reject for running requests, gated admission, "
        "resume pre-check, weights backup, status, no weight update into released weights"
    )

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

    @staticmethod
    def scheduler_of(owner):
        """The scheduler a handler's ``self`` belongs to (0.5.17's handlers live on its weight updater)."""
        return owner

    @staticmethod
    def handler_owner(scheduler):
        """The object SGLang's release/resume handlers are bound to (the inverse of ``scheduler_of``)."""
        return scheduler

    @staticmethod
    def nothing_to_prefill(*args):
        """What ``get_new_batch_prefill`` returns when nothing may start: no batch."""
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
