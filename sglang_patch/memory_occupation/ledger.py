"""What one scheduler has released: the ledger, and SGLang's own release/resume where it has them.

One ``MemoryLedger`` per scheduler (``MemoryLedger.of(scheduler)``): the tags released, a release
waiting for running requests (``PendingRelease``), the model's buffers stashed across a release of
the weights, the CPU backup (weights_backup.py), whether the weights are current, and the rule
on queued requests (refusal.py's rule on this ledger). ``NativeMemoryOps`` are SGLang's own
release and resume, used for the tags they handle (``use_native_memory_ops``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, FrozenSet, List, Optional, Set, Tuple

from .refusal import generation_refusal
from .sglang_compat import native_weights_backup
from .tags import ABORT
from .weights_backup import WeightsBackup


@dataclass
class PendingRelease:
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
        self.pending: Optional[PendingRelease] = None
        self.stashed_buffers: Optional[List[Tuple[str, Any]]] = None  # (name, CPU copy) per buffer
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
