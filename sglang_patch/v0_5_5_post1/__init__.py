"""The patch set for SGLang 0.5.5.post1 (native tags; slime v0.2.0 pins it): 0.5.6's, unchanged.

0.5.5.post1 has 0.5.6's layout (read from its source): io_struct dataclasses on ``BaseReq``
(managers/io_struct.py:40-42, ``http_worker_ipc`` included), release/resume and the four weight
updates in ``SchedulerUpdateWeightsMixin`` (scheduler_update_weights_mixin.py, ``update_weights_from_ipc``
:90), ``_Communicator`` in tokenizer_communicator_mixin.py:83, the module-level
``run_scheduler_process`` as the process target (entrypoints/engine.py:64), the native ``cuda_graph``
tag behind ``SGLANG_MEMORY_SAVER_CUDA_GRAPH`` (model_executor/cuda_graph_runner.py:526-529; from
0.5.4.post2) and ``--enable-weights-cpu-backup``. What differs is SGLang's own release, which ends
with ``torch.cuda.synchronize()`` (scheduler_update_weights_mixin.py:135; 0.5.6 asks
``torch.get_device_module()``): on the CPU, ``server_ext.cpu_compat`` makes that a no-op.
"""

from sglang_patch import v0_5_6
from sglang_patch._core import derive_patch_set

PATCHES = derive_patch_set(v0_5_6.PATCHES, "0.5.5.post1")
