"""Fail in seconds, with the reason, when a process SGLang starts dies during start-up.

SGLang's launch (``entrypoints/engine.py:_launch_subprocesses``) spawns the schedulers and the
detokenizer, then blocks on a pipe until each scheduler says "ready". The parent keeps the
pipe's write end, so a child that dies before Python can report it (the dynamic loader failing
on torch_memory_saver's LD_PRELOAD library where there is no libcuda.so.1; the OOM killer's
SIGKILL) never ends that wait: the launcher or ``Engine(...)`` hangs forever. SGLang's own
SIGCHLD handler only logs the exit status.

Here the SIGCHLD handler (installed where SGLang installs its own) reaps the child as SGLang's
does and logs the same warning; while ``_launch_subprocesses`` runs, a child of this launch that
ended with a failure raises ``StartupError`` in the main thread, which interrupts the wait.
The other children of the launch are then stopped. After start-up the handler only logs.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing.process
import os
import signal
import threading

logger = logging.getLogger(__name__)

# Set while _launch_subprocesses runs (main thread only): the pids it had before it started.
_starting = threading.local()


class StartupError(RuntimeError):
    """A process SGLang started died before the server was ready; the message says why."""


def _describe(pid: int, status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        how = f"was killed by signal {signal.Signals(sig).name}"
        hint = " (SIGKILL during start-up is most often the out-of-memory killer: see dmesg)" if sig == signal.SIGKILL else ""
    else:
        code = os.WEXITSTATUS(status)
        how = f"exited with code {code}"
        hint = (" (127: the dynamic loader could not start it. With --enable-memory-saver, torch_memory_saver's "
                "LD_PRELOAD library needs the NVIDIA driver (libcuda.so.1): run on a machine with an NVIDIA GPU, or "
                "start without --enable-memory-saver)" if code == 127 else "")
    return (f"a process SGLang started for the server (pid {pid}) {how} during start-up{hint}; "
            "its own error output, if it wrote any, is above. The server did not start")


def sigchld_handler(signum, frame) -> None:
    """SGLang's SIGCHLD handler (reap, log a failure), raising StartupError during start-up."""
    try:
        pid, status = os.waitpid(0, os.WNOHANG)
    except ChildProcessError:
        return
    if pid == 0 or status == 0:
        return
    logger.warning("Child process unexpectedly failed with an exit code %d. pid=%d", status, pid)
    launched = getattr(_starting, "pids_before", None)
    if launched is not None and pid in _launched_pids() - launched:
        raise StartupError(_describe(pid, status))


def _launched_pids() -> set:
    return {p.pid for p in list(multiprocessing.process._children) if p.pid is not None}


def install_sigchld_handler() -> None:
    """Put ``sigchld_handler`` in place of SGLang's (call right after SGLang installed its own)."""
    signal.signal(signal.SIGCHLD, sigchld_handler)


def watch_startup(launch_subprocesses):
    """Decorate ``_launch_subprocesses``: a child's death during it raises StartupError."""

    @functools.wraps(launch_subprocesses)
    def watched(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            return launch_subprocesses(*args, **kwargs)  # signal handlers run in the main thread only
        _starting.pids_before = before = _launched_pids()
        try:
            return launch_subprocesses(*args, **kwargs)
        except StartupError:
            for child in list(multiprocessing.process._children):
                if child.pid not in before and child.is_alive():
                    child.kill()
            raise
        finally:
            _starting.pids_before = None

    return watched
