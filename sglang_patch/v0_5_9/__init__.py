"""The patch set for SGLang 0.5.9 (native tags; slime v0.2.3 and v0.2.4 pin it): 0.5.6's, with
0.5.17's process-target seam.

What differs from 0.5.6 (read from 0.5.9's source):
- The scheduler's process target is an argument, as in 0.5.17: ``Engine.run_scheduler_process_func``
  (entrypoints/engine.py:136, a staticmethod bound when the class is built) and the default of
  ``http_server.launch_server(run_scheduler_process_func=...)`` (http_server.py:1869-1872), passed on
  to ``_launch_scheduler_processes`` (engine.py:911-1008) and to the data-parallel controller
  (data_parallel_controller.py:573-577). Replacing the module-level ``run_scheduler_process``
  names, as 0.5.6's ``subprocess_entry`` does, no longer reaches the spawned schedulers: the wiring's variant for a
  process target passed as an argument (``ProcessFuncEntryPatch``, 0.5.17's too) is used instead.
- The grammar queue moved to the scheduler's ``grammar_manager`` (scheduler.py:413), which the
  shared code already finds by feature (``sglang_compat.grammar_queue``).
- Everything else the set patches is where 0.5.6 has it: io_struct dataclasses on ``BaseReq``
  (managers/io_struct.py:1480-1503), release/resume and the four weight updates in
  ``SchedulerUpdateWeightsMixin`` (scheduler_update_weights_mixin.py:46-170), ``_Communicator`` in
  tokenizer_communicator_mixin.py:96, the native ``cuda_graph`` capture behind
  ``SGLANG_MEMORY_SAVER_CUDA_GRAPH`` (cuda_graph_runner.py:539-554, environ.py:443).
- A scheduler that dies during start-up still blocks the launch (``_wait_for_scheduler_ready``
  waits in ``recv()``, engine.py:886-894): ``startup_watch`` stays.
"""

from sglang_patch import v0_5_6
from sglang_patch._core import derive_patch_set
from sglang_patch.wiring.subprocess_entry import ProcessFuncEntryPatch

PATCHES = derive_patch_set(v0_5_6.PATCHES, "0.5.9", replace={"subprocess_entry": ProcessFuncEntryPatch})
