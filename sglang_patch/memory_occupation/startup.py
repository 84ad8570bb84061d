"""Fail in seconds, with the reason, when a process SGLang starts dies during start-up.

SGLang's launch (``entrypoints/engine.py:_launch_subprocesses``) spawns the schedulers and the
detokenizer, then blocks on a pipe until each scheduler says "ready". The parent keeps the
pipe's write end, so a child that dies before Python can report it (the dynamic loader failing
on torch_memory_saver's LD_PRELOAD library where there is no libcuda.so.1; the OOM killer's
SIGKILL) never ends that wait: the launcher or ``Engine(...)`` hangs forever. SGLang's own
SIGCHLD handler only logs the exit status.

Here ``multiprocessing``, as SGLang's launch module sees it, is ``WatchedMultiprocessing``: it
notes the processes and pipes a launch makes. While ``_launch_subprocesses`` runs, a small
thread waits on the sentinels of those processes (a sentinel becomes readable when the child
ends, whoever reaps it). When one ends, it keeps the reason (exit code or signal, and the likely
cause) and ends the wait the way a failing scheduler would: it sends ``{"status": "startup
failed"}`` on every status pipe of the launch. SGLang's own check (``data["status"] !=
"ready"``) then raises in the main thread, where the wrapper turns it into ``StartupError`` with
the reason and stops the launch's other children. Nothing is raised from a
signal handler (an exception raised asynchronously can land inside a lock, such as logging's, and
hang the clean-up). The SIGCHLD handler, installed where SGLang installs its own and otherwise
doing what SGLang's does (reap, log a failure), only keeps each reaped child's wait status, so the
reason can say how the child ended.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing.connection
import os
import signal
import threading
import time
from typing import Any, Dict, List, Optional

logger = logging.getLogger(__name__)


class _Launch:
    """The launch in progress: the children it started, and why one of them ended, once one did."""

    def __init__(self) -> None:
        self.processes: List[Any] = []  # the processes the launch made (WatchedMultiprocessing)
        self.failure: Optional[str] = None
        self.active = True
        self.statuses: Dict[int, int] = {}  # pid -> wait status, of children the SIGCHLD handler reaped
        self.status_pipes: List[Any] = []  # the write ends of the pipes the launch made (WatchedMultiprocessing)
        threading.Thread(target=self._watch, name="sglang-startup-watch", daemon=True).start()

    def started(self) -> List[Any]:
        """The launch's processes that were started. Kept here, not read from multiprocessing's own
        list of children: ``Process.start()`` drops the children that already ended from that list,
        so a child that died at once would vanish before the watch looked."""
        return [p for p in list(self.processes) if getattr(p, "_popen", None) is not None]

    def _status_of(self, child) -> Optional[int]:
        """The wait status of an ended child: reaped here, or by the SIGCHLD handler (main thread),
        which may run a moment later; None if neither has it within a second."""
        for _ in range(20):
            status = self.statuses.get(child.pid)
            if status is None:
                status = _reap(child.pid)
            if status is None and child._popen.returncode is not None:  # multiprocessing reaped it
                code = child._popen.returncode
                status = -code if code < 0 else code << 8
            if status is not None:
                return status
            time.sleep(0.05)
        return None

    def _watch(self) -> None:
        while self.active and self.failure is None:
            children = self.started()
            if not children:
                time.sleep(0.25)
                continue
            ready = set(multiprocessing.connection.wait([c.sentinel for c in children], timeout=0.25))
            ended = [c for c in children if c.sentinel in ready]
            if ended and self.active:
                self.failure = _describe(ended[0].pid, self._status_of(ended[0]))
                self._end_the_wait()

    def _end_the_wait(self) -> None:
        """Answer the launch's wait on each status pipe as a failed scheduler would."""
        for writer in self.status_pipes:
            try:
                writer.send({"status": "startup failed"})
            except OSError:
                pass  # closed: its reader gets EOFError, which ends the wait as well


_launch: Optional[_Launch] = None


class WatchedMultiprocessing:
    """``multiprocessing`` as SGLang's launch module sees it: the same, except that the processes
    and pipes made during a launch are noted (the write end of each pipe), so that the start-up
    watch can see a child end and end the wait on the pipes."""

    def __getattr__(self, name):
        return getattr(multiprocessing, name)

    def Process(self, *args, **kwargs):  # noqa: N802 - multiprocessing's name
        process = multiprocessing.Process(*args, **kwargs)
        _note("processes", process)
        return process

    def Pipe(self, duplex: bool = True):  # noqa: N802 - multiprocessing's name
        reader, writer = multiprocessing.Pipe(duplex)
        _note("status_pipes", writer)
        return reader, writer


def _note(what: str, made) -> None:
    """Add ``made`` to the launch in progress's list ``what`` (outside a launch: nothing to watch)."""
    launch = _launch
    if launch is not None and launch.active:
        getattr(launch, what).append(made)


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


def sigchld_handler(signum, frame) -> None:
    """SGLang's SIGCHLD handler (reap one child, log a failure), which also keeps the wait status
    for the launch in progress, so that its failure can say how the child ended."""
    try:
        pid, status = os.waitpid(0, os.WNOHANG)
    except ChildProcessError:
        return
    if pid == 0:
        return
    launch = _launch
    if launch is not None:
        launch.statuses[pid] = status
    if status:
        logger.warning("Child process unexpectedly failed with an exit code %d. pid=%d", status, pid)


def install_sigchld_handler() -> None:
    """Put ``sigchld_handler`` in place of SGLang's (call right after SGLang installed its own)."""
    signal.signal(signal.SIGCHLD, sigchld_handler)


def taking_over_sglang_sigchld_handler(configure):
    """Wrap ``_set_envs_and_config``: where it installed SGLang's SIGCHLD handler (up to 0.4.9),
    ``sigchld_handler`` takes its place; where it installed none (0.4.10 on), nothing is
    installed, so a handler the program had stays (one that reaps any child could take a status
    other code waits for), and the watch reaps the launch's children itself."""

    @functools.wraps(configure)
    def configured(*args, **kwargs):
        before = signal.getsignal(signal.SIGCHLD)
        result = configure(*args, **kwargs)
        if signal.getsignal(signal.SIGCHLD) is not before:
            install_sigchld_handler()
        return result

    return configured


def watch_startup(launch_subprocesses):
    """Decorate ``_launch_subprocesses``: a child's death during it raises StartupError."""

    @functools.wraps(launch_subprocesses)
    def watched(*args, **kwargs):
        global _launch
        launch = _launch = _Launch()
        try:
            return launch_subprocesses(*args, **kwargs)
        except BaseException:
            launch.active = False
            if launch.failure is None:
                raise
            for child in launch.started():
                if child.is_alive():
                    child.kill()
            raise StartupError(launch.failure) from None  # SGLang's "Initialization failed": this is why
        finally:
            launch.active = False
            _launch = None

    return watched
