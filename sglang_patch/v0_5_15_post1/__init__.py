"""The patch set for SGLang 0.5.15.post1 (slime main's pin): 0.5.17's, unchanged.

0.5.15.post1 has 0.5.17's layout (docs/research/port-0.5.15.post1-0.5.23.md): msgspec io structs,
release/resume and the weight updates on ``SchedulerWeightUpdaterManager``,
``_COMMUNICATOR_SPECS``, ``run_scheduler_process_func``, per-phase CUDA graph backends and the
memory routes' ``ADMIN_OPTIONAL`` auth level. What differs is found by feature in the shared code.
"""

from sglang_patch import v0_5_17
from sglang_patch._core import derive_patch_set

PATCHES = derive_patch_set(v0_5_17.PATCHES, "0.5.15.post1")
