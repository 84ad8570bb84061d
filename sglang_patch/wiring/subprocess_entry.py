"""Patch ``subprocess_entry``: carry the patches into the processes SGLang spawns.

SGLang starts its schedulers (and, with dp > 1, a data-parallel controller that starts them) with
multiprocessing *spawn* (entrypoints/engine.py:536): a child is a fresh interpreter, so patches
applied in the parent are gone there. The seam is the process *target*: the launcher looks the
target up by its module-level name (engine.py:590, :613; data_parallel_controller.py:224), so this
patch swaps those names for a ``ChildEntry``, a picklable callable that spawn sends by reference.
In the child it applies the patches the parent had applied (those whose process scope fits),
then calls SGLang's own target. No ``sys.modules`` rewriting, no import hooks.

A source-patched SGLang needs none of this, so this patch has no file in patches/.

``ProcessFuncEntryPatch``, next to the base, is the variant for releases that take the scheduler's
process target as an argument (``run_scheduler_process_func``, 0.5.9 on).
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple

from sglang_patch._core import Patch, Shape, mark_wrapper, resolve

_ENGINE = "sglang.srt.entrypoints.engine."
_DPC = "sglang.srt.managers.data_parallel_controller."
RUN_SCHEDULER = "sglang.srt.managers.scheduler.run_scheduler_process"
RUN_DP_CONTROLLER = _DPC + "run_data_parallel_controller_process"


class ChildEntry:
    """A process target: apply the parent's patches in this (child) process, then run ``target``.

    ``scopes`` names which patches the child needs (by their ``process``). The list of patches is
    read when the object is pickled, that is when the parent starts the child, so the child gets
    exactly what the parent had then.
    """

    def __init__(self, target: str, scopes: Sequence[str]):
        self.target = target
        self.scopes = tuple(scopes)
        self.patch_names: Tuple[str, ...] = ()

    def __getstate__(self):
        import sglang_patch

        return {"target": self.target, "scopes": self.scopes, "patch_names": tuple(sglang_patch.applied_names())}

    def __call__(self, *args: Any, **kwargs: Any):
        import sglang_patch

        sglang_patch.apply([n for n in self.patch_names if sglang_patch.get(n).process in self.scopes])
        owner, attr = resolve(self.target)
        return getattr(owner, attr)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"ChildEntry({self.target!r}, scopes={self.scopes})"


class SubprocessEntryPatch(Patch):
    name = "subprocess_entry"
    targets = (
        _ENGINE + "run_scheduler_process",
        _ENGINE + "run_data_parallel_controller_process",
        _DPC + "run_scheduler_process",
    )
    process = "launcher"  # the server process and the data-parallel controller: those that spawn
    summary = "scheduler and DP-controller process targets apply the patches in the spawned child"
    has_source_patch = False

    def replacements(self):
        scheduler_child = ChildEntry(RUN_SCHEDULER, scopes=("scheduler", "all"))
        controller_child = ChildEntry(RUN_DP_CONTROLLER, scopes=("launcher", "scheduler", "all"))
        return {
            _ENGINE + "run_scheduler_process": scheduler_child,
            _ENGINE + "run_data_parallel_controller_process": controller_child,
            _DPC + "run_scheduler_process": scheduler_child,
        }


# -- the process target as an argument (0.5.9 on) ----------------------------------------


def _rust_server_on() -> bool:
    """Whether SGLang serves HTTP from its Rust server (``SGLANG_RUST_SERVER``: 0.5.17 and 0.5.23 have
    it; 0.5.15.post1 has no such variable, and so no Rust server)."""
    from sglang.srt.environ import envs

    flag = getattr(envs, "SGLANG_RUST_SERVER", None)
    return bool(flag is not None and flag.get())


class ProcessFuncEntryPatch(Patch):
    """Variant (0.5.9 on): the scheduler (and data-parallel controller) processes apply the
    patches: the same ``ChildEntry`` as the base, passed where SGLang takes the process target
    (``Engine.run_scheduler_process_func``, the default of ``http_server.launch_server``'s
    ``run_scheduler_process_func``). A launch with ``SGLANG_RUST_SERVER`` on is refused: its Rust
    frontend has no routes or manager to patch."""

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
