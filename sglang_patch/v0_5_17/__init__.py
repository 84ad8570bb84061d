"""The patch set for SGLang 0.5.17 (native tags; the H200's own stack): 0.5.6's, on targets that moved.

What differs from 0.5.6 (read from 0.5.17's source; docs/research/sglang-0.5.6-0.5.17.md):
- Requests and replies are msgspec structs: the memory classes are replaced by subclasses with
  the fields, each with a tag of its own for msgpack IPC (``wiring.io_structs.MsgspecIOStructsPatch``).
- Release, resume and the weight updates are methods of the scheduler's weight updater
  (``SchedulerWeightUpdaterManager``, managers/scheduler_components/weight_updater.py:76), bound
  into the dispatcher when the scheduler builds it: the patch replaces them on that class and
  hands the shared code the updater's scheduler. ``get_new_batch_prefill(running_batch)`` returns
  a ``NextBatchPlan``: nothing admitted is a plan without a batch that keeps the running one
  (0.5.15.post1, which derives this set, still takes no batch and returns None: found by the call,
  ``SchedulerPatch.nothing_to_prefill``).
- The tokenizer manager builds its communicators from ``_COMMUNICATOR_SPECS``
  (tokenizer_control_mixin.py:93): the status request is one more entry there.
- The scheduler's process target is an argument: ``Engine.run_scheduler_process_func`` and the
  default of ``http_server.launch_server(run_scheduler_process_func=...)`` (``subprocess_entry``).
- SGLang's launch notices a scheduler that dies during start-up itself (it polls the process
  every 5 s and raises with the exit code, engine.py:1688-1718): no ``startup_watch`` here.
- CUDA graphs are captured by per-phase backends sharing one pool: native's ``cuda_graph`` tag is
  turned on for the full backend (decode graphs); the breakable one (prefill graphs) refuses the
  memory saver, so its segments are captured under the tag by the patch itself
  (``wiring.cuda_graph_region.BackendCudaGraphTagPatch``; before, the prefill graphs' share of
  the pool stayed resident).
- The memory routes carry SGLang's admin auth level (``ADMIN_OPTIONAL``): the replacements copy it
  (``http_routes``, shared).
- ``SGLANG_RUST_SERVER`` (a Rust HTTP frontend) is refused at launch: nothing of it can be patched.
"""

from sglang_patch import v0_5_6
from sglang_patch._core import derive_patch_set
from sglang_patch.memory_occupation.tags import ALL_TAGS
from sglang_patch.wiring import scheduler
from sglang_patch.wiring.cuda_graph_region import BackendCudaGraphTagPatch
from sglang_patch.wiring.io_structs import MsgspecIOStructsPatch
from sglang_patch.wiring.subprocess_entry import ProcessFuncEntryPatch
from sglang_patch.wiring.tokenizer_manager import SpecsTokenizerManagerPatch


class SchedulerPatch0517(scheduler.SchedulerPatch):
    requires = scheduler.NATIVE_REQUIRES
    native_tags = frozenset(ALL_TAGS)
    weight_updates = scheduler.ALL_WEIGHT_UPDATES
    handler_class = scheduler.WEIGHT_UPDATER  # release, resume and the weight updates live there
    handler_attr = "weight_updater"


PATCHES = derive_patch_set(
    v0_5_6.PATCHES, "0.5.17",
    replace={"io_structs": MsgspecIOStructsPatch, "scheduler": SchedulerPatch0517,
             "tokenizer_manager": SpecsTokenizerManagerPatch, "cuda_graph_region": BackendCudaGraphTagPatch,
             "subprocess_entry": ProcessFuncEntryPatch},
    drop={"startup_watch"})
