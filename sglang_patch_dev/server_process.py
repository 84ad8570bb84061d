"""Start ``python -m server_ext.launch`` as a child process group, wait until it serves, stop it.

Used by the demo, the tests and the benchmark. SGLang's own ``/health`` turns 200 before its
warm-up request finishes, so readiness means a generate request succeeded. A server that dies
during start-up (for instance a scheduler that cannot load) is reported with the end of its log
instead of a hang, and ``stop()`` kills the whole process group (SGLang's children included).

A port from ``free_port()`` can be taken by another process before the server binds it; uvicorn
then logs a bind error and the process lingers until SGLang's warm-up gives up minutes later.
SGLang also picks ports of its own the same way (torch.distributed's store: a free port probed
at launch, bound seconds later by the scheduler), and any process's client connection may take
one in between; the scheduler then dies with EADDRINUSE. ``start()`` watches for both and starts
again: on a fresh HTTP port when that was taken (unless the caller fixed the port), on the same
one when SGLang's own port was.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional

from server_ext.client import SGLangClient
from server_ext.envs import prepend_pythonpath

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# SGLang 0.5.15.post1 derives a gRPC port, --port + 10000, even for an HTTP-only server and
# refuses to start when that passes 65535 (server_args.py:2996; 0.5.17 derives it only in gRPC
# mode): the HTTP ports handed out stay at or below this.
MAX_HTTP_PORT = 65535 - 10000


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port <= MAX_HTTP_PORT:
            return port


class ServerStartError(RuntimeError):
    pass


# uvicorn's message when the HTTP port is taken.
_BIND_FAILED = b"error while attempting to bind on address"
# torch.distributed's (TCPStore) and ZMQ's when a port SGLang picked for itself was taken.
_OWN_PORT_TAKEN = (b"EADDRINUSE", b"Address already in use")
# What SGLang logs once its own warm-up request is done (every release's ``_wait_and_warmup``),
# which can still be running when the first generate request has already succeeded: a test that
# starts with a release in "wait" mode would meet that request (409, "still running").
_WARM = b"The server is fired up and ready to roll!"
_WARM_WAIT_S = 30
_START_ATTEMPTS = 3
_PROBE_TIMEOUT_S = 30


class ServerProcess:
    def __init__(
        self,
        args: List[str],
        log_path: str,
        env: Optional[Dict[str, str]] = None,
        port: Optional[int] = None,
        python: str = sys.executable,
        api_key: Optional[str] = None,
        client_timeout: float = 120,
        echo_command: bool = False,
        module: str = "server_ext.launch",
        stop_grace_s: float = 20.0,
    ):
        """``client_timeout``: seconds ``.client`` waits for an answer; ``echo_command``: write
        ``$ <command line>`` into the log before each start, so a log says what made it;
        ``module``: what to run (``sglang.launch_server`` for stock SGLang, to compare);
        ``stop_grace_s``: seconds ``stop()`` gives the server after SIGTERM before SIGKILL. SGLang
        drains on SIGTERM and looks at what is left every 5 s (so a clean exit takes 5 s at least),
        and a server stopped while its own warm-up request is still in flight never drains at all
        (0.4.6.post5: "Gracefully exiting... remaining number of requests 1" until killed): a test
        that has what it needs from a server can give it a short grace."""
        self._launch = [python, "-m", module, *args, "--host", "127.0.0.1"]
        self._port_fixed = port is not None
        self._api_key = api_key
        self._client_timeout = client_timeout
        self._echo_command = echo_command
        # An INFO line tells when the warm-up is over; a quieter log level hides it.
        self._says_when_warm = not any(level in args for level in ("warning", "error", "critical"))
        self.stop_grace_s = stop_grace_s
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        prepend_pythonpath(self.env, REPO_ROOT)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc: Optional[subprocess.Popen] = None
        self._use_port(port or free_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.args = self._launch + ["--port", str(port)]
        self.client = SGLangClient(self.url, timeout=self._client_timeout, api_key=self._api_key)
        # Readiness probes time out sooner: whoever else holds a taken port may never answer.
        self._probe = SGLangClient(self.url, timeout=_PROBE_TIMEOUT_S, api_key=self._api_key)

    def start(self, timeout: float = 300.0) -> "ServerProcess":
        if ServerProcess.alive(self):  # the process itself (a subclass's alive() may ask more)
            raise RuntimeError(f"this server already runs (pid {self.proc.pid}); stop() it before starting it again")
        for _ in range(_START_ATTEMPTS):
            outcome = self._start_once(timeout)
            if outcome == "ready":
                return self
            self.stop(wait=2.0)  # it can never serve like this: no need to wait for a clean exit
            if outcome == "http_port_taken":
                if self._port_fixed:
                    raise ServerStartError(f"port {self.port} is in use:\n{self.log_tail()}")
                self._use_port(free_port())
            # "own_port_taken": SGLang picks its ports afresh at the next start.
        raise ServerStartError(f"a port was taken in {_START_ATTEMPTS} starts in a row:\n{self.log_tail()}")

    def _start_once(self, timeout: float) -> str:
        """"ready" once the server generates and its own warm-up is over; "http_port_taken" or
        "own_port_taken" if a port it binds was taken; raises otherwise."""
        with open(self.log_path, "ab") as log:
            if self._echo_command:
                log.write(("$ " + shlex.join(self.args) + "\n").encode())
                log.flush()
            log_start = log.tell()
            self.proc = subprocess.Popen(  # cwd: SGLang writes files there (sglang_storage/ of the batch API)
                self.args, cwd=os.path.dirname(os.path.abspath(self.log_path)), env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        generated: Optional[float] = None  # when the first generate request succeeded
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None  # asked before the log is read: an exit's last words are in it
            log = self._log_since(log_start)
            taken = self._port_taken(log)
            if taken:
                return taken
            if exited:
                raise ServerStartError(f"server exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                if generated is None:
                    self._probe.generate("ready?", max_new_tokens=1)
                    generated = time.monotonic()
            except Exception:
                time.sleep(1.0)
                continue
            warm_by_now = time.monotonic() - generated > _WARM_WAIT_S  # a launcher that never says so
            if not self._says_when_warm or warm_by_now or _WARM in log:
                return "ready"
            time.sleep(0.2)
        self.stop()
        raise ServerStartError(f"server not ready after {timeout:.0f}s:\n{self.log_tail()}")

    @staticmethod
    def _port_taken(log: bytes) -> Optional[str]:
        if _BIND_FAILED in log:
            return "http_port_taken"
        if any(marker in log for marker in _OWN_PORT_TAKEN):
            return "own_port_taken"
        return None

    def _log_since(self, offset: int) -> bytes:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return b""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, wait: Optional[float] = None) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left of it (spawned children too).

        ``wait``: seconds given to the server after each signal (``stop_grace_s`` if not given)."""
        if self.proc is None:
            return
        if wait is None:
            wait = self.stop_grace_s
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None

    def __enter__(self) -> "ServerProcess":
        """Starts the server unless it already runs (``with ServerProcess(...).start():`` works too)."""
        if ServerProcess.alive(self):
            return self
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
