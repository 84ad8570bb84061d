"""Patch ``startup_watch``: a launcher or Engine whose child process dies during start-up fails in
seconds with the reason, instead of waiting forever.

``_launch_subprocesses`` (entrypoints/engine.py:539; http_server.py imported it by name at :49,
so both names are replaced) blocks on each scheduler's pipe (:664) and the parent holds the
write end, so a child that dies before Python can report it never ends the wait.
``_set_envs_and_config`` (:488) installs SGLang's SIGCHLD handler (:522), which only logs; the
wrapper puts ``sglang_patch.memory_occupation.startup.sigchld_handler`` in its place, which does
the same and keeps each child's wait status (0.4.10 installs none: then nothing is installed). The module's ``mp`` (``import multiprocessing as
mp``, :4) becomes ``startup.WatchedMultiprocessing``, which notes the write end of each status
pipe (:584, :608); when a child of the launch ends, the watch answers the wait on those pipes as
a failed scheduler would, and the wrapper raises ``StartupError`` naming the
child, how it ended and the likely cause.
"""

from sglang_patch._core import Patch
from sglang_patch.memory_occupation import startup

_ENGINE = "sglang.srt.entrypoints.engine."
MULTIPROCESSING = _ENGINE + "mp"
LAUNCH = _ENGINE + "_launch_subprocesses"
HTTP_LAUNCH = "sglang.srt.entrypoints.http_server._launch_subprocesses"
CONFIGURE = _ENGINE + "_set_envs_and_config"


class StartupWatchPatch(Patch):
    name = "startup_watch"
    targets = (CONFIGURE, LAUNCH, HTTP_LAUNCH, MULTIPROCESSING)
    process = "server"
    summary = "a child process that dies during start-up ends the launch with StartupError and the reason"

    def replacements(self):
        configure = startup.taking_over_sglang_sigchld_handler(self.original(CONFIGURE))
        watched = startup.watch_startup(self.original(LAUNCH))
        return self.marked({CONFIGURE: configure, LAUNCH: watched, HTTP_LAUNCH: watched,
                            MULTIPROCESSING: startup.WatchedMultiprocessing()})
