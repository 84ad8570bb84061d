"""Start ``python -m server_ext.launch`` as a child process group, wait until it serves, stop it.

Used by the demo, the tests and the benchmark. SGLang's own ``/health`` turns 200 before its
warm-up request finishes, so readiness means a generate request succeeded. A server that dies
during start-up (for instance a scheduler that cannot load) is reported with the end of its log
instead of a hang, and ``stop()`` kills the whole process group (SGLang's children included).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional

from server_ext.client import SGLangClient
from server_ext.envs import prepend_pythonpath

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerStartError(RuntimeError):
    pass


class ServerProcess:
    def __init__(
        self,
        args: List[str],
        log_path: str,
        env: Optional[Dict[str, str]] = None,
        port: Optional[int] = None,
        python: str = sys.executable,
        api_key: Optional[str] = None,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [python, "-m", "server_ext.launch", *args, "--host", "127.0.0.1", "--port", str(self.port)]
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        prepend_pythonpath(self.env, REPO_ROOT)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc: Optional[subprocess.Popen] = None
        self.client = SGLangClient(self.url, timeout=120, api_key=api_key)

    def start(self, timeout: float = 300.0) -> "ServerProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"server exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                self.client.generate("ready?", max_new_tokens=1)
                return self
            except Exception:
                time.sleep(1.0)
        self.stop()
        raise ServerStartError(f"server not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left of it (spawned children too)."""
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
