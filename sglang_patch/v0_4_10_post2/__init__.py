"""The patch set for SGLang 0.4.10.post2 (native tags): 0.4.8's, on targets that moved.

- The scheduler's weight and memory handlers (``update_weights_from_*``,
  ``release/resume_memory_occupation``) moved from ``Scheduler`` into ``SchedulerUpdateWeightsMixin``
  (managers/scheduler_update_weights_mixin.py). The scheduler patch still sets them on
  ``Scheduler`` (the dispatcher binds them there when a scheduler is built), so they shadow the
  mixin's; the stock handler each wraps is the inherited one (``Patch.original`` reads the class's
  bases when the class has no entry of its own), and revert deletes the entry again.
- ``GET /health`` now generates one token (it is ``/health_generate``'s handler): while memory is
  released it would be refused like any generation. A released server is alive, so the 503
  middleware answers ``/health`` 200 with the reason instead (``http_api.LIVENESS_PATHS``).
- ``_set_envs_and_config`` no longer installs a SIGCHLD handler; the start-up watch then adds
  none either (``startup.taking_over_sglang_sigchld_handler``) and reads a dead child's status
  itself.
"""

from sglang_patch import v0_4_8
from sglang_patch._core import derive_patch_set

PATCHES = derive_patch_set(v0_4_8.PATCHES, "0.4.10.post2")
