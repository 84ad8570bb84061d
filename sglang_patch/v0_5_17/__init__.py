"""The patch set for SGLang 0.5.17 (native tags; the H200's own stack): 0.5.6's, on targets that moved.

What differs from 0.5.6 (read from 0.5.17's source; docs/research/sglang-0.5.6-0.5.17.md):
- Requests and replies are msgspec structs: the memory classes are replaced by subclasses with
  the fields, each with a tag of its own for msgpack IPC (``io_structs.py``).
- Release, resume and the weight updates are methods of the scheduler's weight updater
  (``SchedulerWeightUpdaterManager``, managers/scheduler_components/weight_updater.py:76), bound
  into the dispatcher when the scheduler builds it: the patch replaces them on that class and
  hands the shared code the updater's scheduler. ``get_new_batch_prefill(running_batch)`` returns
  a ``NextBatchPlan``: nothing admitted is a plan without a batch that keeps the running one
  (0.5.15.post1, which derives this set, still takes no batch and returns None: found by the call).
- The tokenizer manager builds its communicators from ``_COMMUNICATOR_SPECS``
  (tokenizer_control_mixin.py:93): the status request is one more entry there.
- The scheduler's process target is an argument: ``Engine.run_scheduler_process_func`` and the
  default of ``http_server.launch_server(run_scheduler_process_func=...)`` (``subprocess_entry``).
- SGLang's launch notices a scheduler that dies during start-up itself (it polls the process
  every 5 s and raises with the exit code, engine.py:1688-1718): no ``startup_watch`` here.
- CUDA graphs are captured by per-phase backends sharing one pool: native's ``cuda_graph`` tag is
  turned on for the full backend (decode graphs); the breakable one (prefill graphs) refuses the
  memory saver, so its segments are captured under the tag by the patch itself
  (``cuda_graph_region.py``; before, the prefill graphs' share of the pool stayed resident).
- The memory routes carry SGLang's admin auth level (``ADMIN_OPTIONAL``): the replacements copy it
  (``http_routes``, shared).
- ``SGLANG_RUST_SERVER`` (a Rust HTTP frontend) is refused at launch: nothing of it can be patched.
"""

from sglang_patch import v0_5_6
from sglang_patch._core import Patch, Shape, derive_patch_set, mark_wrapper
from sglang_patch.memory_occupation.scheduler_side import WEIGHT_UPDATES
from sglang_patch.wiring.scheduler import INIT as SCHEDULER_INIT
from sglang_patch.wiring.scheduler import INPUTS, PREFILL, STATUS as SCHEDULER_STATUS
from sglang_patch.wiring.subprocess_entry import RUN_DP_CONTROLLER, RUN_SCHEDULER, ChildEntry
from sglang_patch.wiring.tokenizer_manager import GENERATE, RELEASE, RESUME, STATUS
from sglang_patch.v0_5_17.cuda_graph_region import CudaGraphTagPatch0517
from sglang_patch.v0_5_17.io_structs import IOStructsPatch0517

_UPDATER = "sglang.srt.managers.scheduler_components.weight_updater.SchedulerWeightUpdaterManager."
_ENGINE = "sglang.srt.entrypoints.engine."
SPECS = "sglang.srt.managers.tokenizer_control_mixin._COMMUNICATOR_SPECS"


class SchedulerPatch0517(v0_5_6.SchedulerPatch056):
    release_target = _UPDATER + "release_memory_occupation"
    resume_target = _UPDATER + "resume_memory_occupation"
    updates = {_UPDATER + name: name for name in WEIGHT_UPDATES}
    targets = (SCHEDULER_INIT, release_target, resume_target, INPUTS, PREFILL, *updates, SCHEDULER_STATUS)

    @staticmethod
    def scheduler_of(updater):
        return updater.scheduler

    @staticmethod
    def handler_owner(scheduler):
        return scheduler.weight_updater

    @staticmethod
    def nothing_to_prefill(*running_batch):
        """0.5.17 and 0.5.23 call ``get_new_batch_prefill(running_batch)`` and take a ``NextBatchPlan``:
        nothing admitted is a plan without a batch that keeps the running one. 0.5.15.post1 calls
        ``get_new_batch_prefill()`` and takes an optional batch (scheduler.py:2742), as 0.5.6 does:
        nothing admitted is None."""
        if not running_batch:
            return None
        from sglang.srt.managers.schedule_batch import NextBatchPlan

        return NextBatchPlan(batch_to_run=None, running_batch=running_batch[0])


class TokenizerManagerPatch0517(v0_5_6.TokenizerManagerPatch056):
    targets = (SPECS, RELEASE, RESUME, GENERATE, *v0_5_6.TokenizerManagerPatch056.updates, STATUS)

    def status_channel(self):
        from sglang.srt.managers.io_struct import GetMemoryOccupationReqOutput

        return {SPECS: self.original(SPECS) + [("get_memory_occupation", GetMemoryOccupationReqOutput)]}


def _rust_server_on() -> bool:
    """Whether SGLang serves HTTP from its Rust server (``SGLANG_RUST_SERVER``: 0.5.17 and 0.5.23 have
    it; 0.5.15.post1 has no such variable, and so no Rust server)."""
    from sglang.srt.environ import envs

    flag = getattr(envs, "SGLANG_RUST_SERVER", None)
    return bool(flag is not None and flag.get())


class SubprocessEntryPatch0517(Patch):
    """The scheduler (and data-parallel controller) processes apply the patches: the same
    ``ChildEntry`` as 0.4.6.post5's patch, passed where 0.5.17 takes the process target (so do
    0.5.9 and 0.5.10.post1, whose sets use this patch)."""

    name = "subprocess_entry"
    targets = (_ENGINE + "Engine.run_scheduler_process_func", _ENGINE + "run_data_parallel_controller_process",
               "sglang.srt.entrypoints.http_server.launch_server")
    shapes = {targets[2]: Shape(params=("server_args", "run_scheduler_process_func"))}  # the target's default
    process = "launcher"
    summary = "scheduler and DP-controller process targets apply the patches in the spawned child"
    has_source_patch = False

    def replacements(self):
        scheduler_child = ChildEntry(RUN_SCHEDULER, scopes=("scheduler", "all"))
        controller_child = ChildEntry(RUN_DP_CONTROLLER, scopes=("launcher", "scheduler", "all"))
        launch = self.targets[2]
        stock_launch = self.original(launch)

        def launch_server(server_args, *args, **kwargs):
            if _rust_server_on():  # its Rust frontend has no routes or manager to patch
                raise RuntimeError(
                    "sglang_patch: SGLANG_RUST_SERVER is set, so SGLang serves HTTP from its Rust server, "
                    "which the tagged release/resume patches do not reach; unset SGLANG_RUST_SERVER "
                    "(or run without sglang_patch)")
            if len(args) < 2:  # SGLang's own entry is this function's default (http_server.py:2718)
                kwargs.setdefault("run_scheduler_process_func", scheduler_child)
            return stock_launch(server_args, *args, **kwargs)

        return {
            self.targets[0]: staticmethod(scheduler_child),
            self.targets[1]: controller_child,
            launch: mark_wrapper(launch_server, stock_launch, self.name),
        }


PATCHES = derive_patch_set(
    v0_5_6.PATCHES, "0.5.17",
    replace={"io_structs": IOStructsPatch0517, "scheduler": SchedulerPatch0517,
             "tokenizer_manager": TokenizerManagerPatch0517, "cuda_graph_region": CudaGraphTagPatch0517,
             "subprocess_entry": SubprocessEntryPatch0517},
    drop={"startup_watch"})
