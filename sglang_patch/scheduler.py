"""Patch ``scheduler``: release and resume GPU memory by tag, in the scheduler process.

The logic lives in ``sglang_patch.memory_occupation.scheduler`` (shared with the source series;
its docstring explains the ledger, release modes, admission and the resume pre-check). This
module wires it into ``Scheduler``:
- ``release_memory_occupation`` / ``resume_memory_occupation`` (managers/scheduler.py:2049-2067)
  are replaced;
- ``process_input_requests`` (:880) serves a release waiting for running requests after inputs;
- ``get_new_batch_prefill`` (:1345) admits nothing while memory is released or weights are stale;
- the three ``update_weights_*`` handlers (:2005-2047) refuse while the weights are released and
  mark them current on success;
- ``__init__`` adds the status request (``GetMemoryOccupationReqInput``) to the dispatcher, which
  calls the added method ``get_memory_occupation``.
"""

from __future__ import annotations

from sglang_patch._core import Patch
from sglang_patch.memory_occupation import scheduler as logic

_SCHEDULER = "sglang.srt.managers.scheduler.Scheduler."


def get_memory_occupation(scheduler, recv_req):
    """This rank's memory state, gathered over the TP ranks (GET /memory_occupation)."""
    return logic.get_memory_occupation(scheduler, recv_req)


class SchedulerPatch(Patch):
    name = "scheduler"
    targets = (
        _SCHEDULER + "__init__",
        _SCHEDULER + "release_memory_occupation",
        _SCHEDULER + "resume_memory_occupation",
        _SCHEDULER + "process_input_requests",
        _SCHEDULER + "get_new_batch_prefill",
    ) + tuple(_SCHEDULER + name for name in logic.WEIGHT_UPDATES) + (_SCHEDULER + "get_memory_occupation",)
    adds = (_SCHEDULER + "get_memory_occupation",)
    process = "scheduler"
    summary = (
        "Scheduler releases/resumes by tag: ledger, wait/abort/reject for running requests, gated admission, "
        "resume pre-check, weights backup, status, no weight update into released weights"
    )

    def replacements(self):
        init, release, resume, inputs, prefill = self.targets[:5]
        stock_init = self.original(init)
        stock_inputs = self.original(inputs)
        stock_prefill = self.original(prefill)

        def __init__(scheduler, *args, **kwargs):
            stock_init(scheduler, *args, **kwargs)
            from sglang.srt.managers.io_struct import GetMemoryOccupationReqInput

            # The dispatcher's (type, handler) list is built in __init__: add the status request.
            scheduler._request_dispatcher._mapping.append(
                (GetMemoryOccupationReqInput, scheduler.get_memory_occupation)
            )

        def process_input_requests(scheduler, recv_reqs):
            stock_inputs(scheduler, recv_reqs)
            logic.after_input_requests(scheduler)

        def get_new_batch_prefill(scheduler):
            if not logic.admitting(scheduler):
                return None  # nothing new runs on released memory, stale weights, or while a release waits
            return stock_prefill(scheduler)

        def release_memory_occupation(scheduler, recv_req):
            return logic.release_memory_occupation(scheduler, recv_req)

        def resume_memory_occupation(scheduler, recv_req):
            return logic.resume_memory_occupation(scheduler, recv_req)

        new = {
            init: __init__,
            release: release_memory_occupation,
            resume: resume_memory_occupation,
            inputs: process_input_requests,
            prefill: get_new_batch_prefill,
        }
        for name in logic.WEIGHT_UPDATES:
            new[_SCHEDULER + name] = self._guarded_update(name)
        new[_SCHEDULER + "get_memory_occupation"] = get_memory_occupation
        return self.marked(new)

    def _guarded_update(self, method_name: str):
        stock = self.original(_SCHEDULER + method_name)

        def update(scheduler, recv_req):
            return logic.update_weights(scheduler, method_name, recv_req, lambda req: stock(scheduler, req))

        return update
