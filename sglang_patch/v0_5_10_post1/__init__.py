"""The patch set for SGLang 0.5.10.post1 (native tags; AReaL v1.0.x pins it): 0.5.9's, without the
start-up watch.

What differs from 0.5.9 (read from 0.5.10.post1's source):
- ``_launch_subprocesses`` and ``_launch_scheduler_processes`` are classmethods of ``Engine``
  (entrypoints/engine.py:513-620; ``http_server.launch_server`` calls ``Engine._launch_subprocesses``,
  http_server.py:2165), and SGLang notices a scheduler that dies during start-up itself: it polls
  each status pipe for 5 s at a time and checks the processes in between (``_wait_for_scheduler_ready``,
  engine.py:1193-1222). So, as for 0.5.17, no ``startup_watch`` here.
- Native's release asserts ``is_fully_idle()`` instead of ``_is_no_request()``
  (scheduler_update_weights_mixin.py:128; scheduler.py:2900, which also counts the grammar queue):
  the shared code calls it only once nothing runs or waits (``scheduler_side``).
- The process target is still an argument (``Engine.run_scheduler_process_func``, engine.py:161;
  ``launch_server``, http_server.py:2135-2138): 0.5.9's ``subprocess_entry`` (0.5.17's patch).
  Every other target is where 0.5.6 and 0.5.9 have it.
"""

from sglang_patch import v0_5_9
from sglang_patch._core import derive_patch_set

PATCHES = derive_patch_set(v0_5_9.PATCHES, "0.5.10.post1", drop={"startup_watch"})
