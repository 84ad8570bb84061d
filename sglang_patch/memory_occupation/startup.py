"""Fail in seconds, with the reason, when a process SGLang starts dies during start-up.

SGLang's launch (``entrypoints/engine.py:_launch_subprocesses``) spawns the schedulers and the
detokenizer, then blocks on a pipe until each scheduler says "ready". The parent keeps the
pipe's write end, so a child that dies before Python can report it (the dynamic loader failing
on torch_memory_saver's LD_PRELOAD library where there is no libcuda.so.1; the OOM killer's
SIGKILL) never ends that wait: the launcher or ``Engine(...)`` hangs forever. SGLang's own
SIGCHLD handler only logs the exit status.

Here, while ``_launch_subprocesses`` runs, a small thread waits on the sentinels of the children
this launch started (a sentinel becomes readable when the child ends, whoever reaps it). When one
ends, it keeps the reason (exit code or signal, and the likely cause) and delivers SIGCHLD to the
main thread every half second until the launch is over; the SIGCHLD handler, installed where
SGLang installs its own and otherwise doing what SGLang's does (reap, log a failure), raises
``StartupError`` with that reason. Raising again and again matters: a signal may land where some
code catches exceptions broadly, but not forever. The launch's other children are then stopped.
After start-up the handler only logs.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing.connection
import multiprocessing.process
import os
import signal
import threading
import time
from typing import Dict, Optional

logger = logging.getLogger(__name__)


class _Launch:
    """The launch in progress: the children it started, and why one of them ended, once one did."""

    def __init__(self) -> None:
        self.pids_before = _child_pids()
        self.failure: Optional[str] = None
        self.active = True
        self.statuses: Dict[int, int] = {}  # pid -> wait status, of children the SIGCHLD handler reaped
        self._main = threading.main_thread().ident
        threading.Thread(target=self._watch, name="sglang-startup-watch", daemon=True).start()

    def new_children(self) -> list:
        return [p for p in list(multiprocessing.process._children) if p.pid is not None and p.pid not in self.pids_before]

    def _status_of(self, child) -> Optional[int]:
        """The wait status of an ended child: reaped here, or by the SIGCHLD handler (main thread),
        which may run a moment later; None if neither has it within a second."""
        for _ in range(20):
            status = self.statuses.get(child.pid)
            if status is None:
                status = _reap(child.pid)
            if status is not None:
                return status
            time.sleep(0.05)
        return None

    def _watch(self) -> None:
        while self.active:
            if self.failure is None:
                children = self.new_children()
                ready = set(multiprocessing.connection.wait([c.sentinel for c in children], timeout=0.25)) if children else set()
                if not children:
                    time.sleep(0.25)
                ended = [c for c in children if c.sentinel in ready]
                if ended:
                    self.failure = _describe(ended[0].pid, self._status_of(ended[0]))
            if self.failure is not None and self.active:
                signal.pthread_kill(self._main, signal.SIGCHLD)  # the handler raises StartupError
                time.sleep(0.5)


_launch: Optional[_Launch] = None


class StartupError(RuntimeError):
    """A process SGLang started died before the server was ready; the message says why."""


def _describe(pid: int, status: Optional[int]) -> str:
    hint = ""
    if status is None:
        how = "ended (its exit status is in SGLang's log above)"
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        how = f"was killed by signal {signal.Signals(sig).name}"
        if sig == signal.SIGKILL:
            hint = " (SIGKILL during start-up is most often the out-of-memory killer: see dmesg)"
    else:
        code = os.WEXITSTATUS(status)
        how = f"exited with code {code}"
        if code == 127:
            hint = (" (127: the dynamic loader could not start it. With --enable-memory-saver, torch_memory_saver's "
                    "LD_PRELOAD library needs the NVIDIA driver (libcuda.so.1): run on a machine with an NVIDIA GPU, "
                    "or start without --enable-memory-saver)")
    return (f"a process SGLang started for the server (pid {pid}) {how} during start-up{hint}; "
            "its own error output, if it wrote any, is above. The server did not start")


def _reap(pid: int) -> Optional[int]:
    """The wait status of child ``pid`` if it has ended and nobody reaped it yet, else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if done else None


def _child_pids() -> set:
    return {p.pid for p in list(multiprocessing.process._children) if p.pid is not None}


def sigchld_handler(signum, frame) -> None:
    """SGLang's SIGCHLD handler (reap one child, log a failure); during a failed start-up it raises
    StartupError instead."""
    launch = _launch
    if launch is not None and launch.active and launch.failure is not None:
        raise StartupError(launch.failure)
    try:
        pid, status = os.waitpid(0, os.WNOHANG)
    except ChildProcessError:
        return
    if pid == 0:
        return
    if launch is not None:
        launch.statuses[pid] = status
    if status:
        logger.warning("Child process unexpectedly failed with an exit code %d. pid=%d", status, pid)


def install_sigchld_handler() -> None:
    """Put ``sigchld_handler`` in place of SGLang's (call right after SGLang installed its own)."""
    signal.signal(signal.SIGCHLD, sigchld_handler)


def watch_startup(launch_subprocesses):
    """Decorate ``_launch_subprocesses``: a child's death during it raises StartupError."""

    @functools.wraps(launch_subprocesses)
    def watched(*args, **kwargs):
        global _launch
        if threading.current_thread() is not threading.main_thread():
            return launch_subprocesses(*args, **kwargs)  # signal handlers run in the main thread only
        launch = _launch = _Launch()
        try:
            return launch_subprocesses(*args, **kwargs)
        except BaseException:
            launch.active = False  # from here on nothing interrupts the clean-up
            if launch.failure is None:
                raise
            for child in launch.new_children():
                if child.is_alive():
                    child.kill()
            raise StartupError(launch.failure) from None  # whatever the signal interrupted, this is why
        finally:
            launch.active = False
            _launch = None

    return watched
