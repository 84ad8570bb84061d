"""The patch set for SGLang 0.5.15.post1 (slime main's pin): 0.5.17's, unchanged.

0.5.15.post1 has 0.5.17's layout for everything the patches touch: msgspec io structs
(managers/io_struct.py:74, memory classes :1698-1714), release/resume and the weight updates on
``SchedulerWeightUpdaterManager`` (scheduler_components/weight_updater.py:184, :229),
``_COMMUNICATOR_SPECS`` (tokenizer_control_mixin.py:91), ``run_scheduler_process_func``
(http_server.py:2482, engine.py:201), the per-phase CUDA graph backends and the memory routes'
``ADMIN_OPTIONAL`` auth level (http_server.py:1374). What differs is found by feature in the
wiring: ``get_new_batch_prefill()`` takes no running batch and returns an optional batch
(scheduler.py:2742, ``wiring.scheduler.SchedulerPatch.nothing_to_prefill``), and there is no
``SGLANG_RUST_SERVER`` (``wiring.subprocess_entry._rust_server_on``).
"""

from sglang_patch import v0_5_17
from sglang_patch._core import derive_patch_set

PATCHES = derive_patch_set(v0_5_17.PATCHES, "0.5.15.post1")
