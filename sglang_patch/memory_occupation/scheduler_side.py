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
  a bare one runs in a session opened and closed for it (weight_updates.py).
Upstream 0.4.8 (sgl-project/sglang#7099) orders pause/resume the same way.

This module is the scheduler's entry points (what the runtime patches and the source series'
hunks call); the code lives by concern:

    ledger          MemoryLedger (what is released, a waiting release, the stash, the backup),
                    NativeMemoryOps, use_native_memory_ops
    release_resume  when it is safe, the release modes, the resume pre-check, TP agreement, the
                    replies; release/resume_memory_occupation, after_input_requests, admitting
    tag_memory      what each tag holds, the buffers' stash, the device's free memory
    status          get_memory_occupation
    weight_updates  update_weights (resume first, refuse instead of crashing, sessions)
    sglang_compat   where SGLang keeps what all of them read
"""

from __future__ import annotations

from .ledger import MemoryLedger, NativeMemoryOps, use_native_memory_ops
from .release_resume import (
    RESUME_SLACK_BYTES,
    RESUME_SLACK_FRACTION,
    admitting,
    after_input_requests,
    release_memory_occupation,
    resume_memory_occupation,
)
from .status import get_memory_occupation
from .weight_updates import SESSION_UPDATES, UPDATE_HINTS, WEIGHT_UPDATES, update_weights

__all__ = [
    "MemoryLedger",
    "NativeMemoryOps",
    "RESUME_SLACK_BYTES",
    "RESUME_SLACK_FRACTION",
    "SESSION_UPDATES",
    "UPDATE_HINTS",
    "WEIGHT_UPDATES",
    "admitting",
    "after_input_requests",
    "get_memory_occupation",
    "release_memory_occupation",
    "resume_memory_occupation",
    "update_weights",
    "use_native_memory_ops",
]
