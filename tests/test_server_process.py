"""The test harness: ``ServerProcess`` starts a server again when a port it needs was taken
(sglang_patch_dev/server_process.py), on a fresh HTTP port when that one was taken, on the same
one when a port SGLang picks for itself was (torch.distributed's store, ``--dist-init-addr``).

The server here is ``port_clash_server.py``, which fails with the log lines SGLang's scheduler
and uvicorn write: the harness is the subject, and a real start that can only fail would cost a
whole SGLang start per case.
"""

import os
import socket
import threading

import pytest

from conftest import REPO
from sglang_patch_dev import server_process
from sglang_patch_dev.server_process import ServerProcess
from server_ext.envs import prepend_pythonpath


class HeldPort:
    """A port another process listens on, as when a client connection or a neighbour took the
    port SGLang picked for torch.distributed. ``free_when_met(markers, log_path)`` lets go of it
    once the log shows the server met it (so the next start gets it), or at ``stop()``."""

    def __init__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        self.met = False
        self._stop = threading.Event()
        self._watcher = None

    def free_when_met(self, markers, log_path: str) -> None:
        def watch():
            while not self._stop.is_set():
                try:
                    with open(log_path, "rb") as f:
                        self.met = any(m in f.read() for m in markers)
                except OSError:
                    pass
                if self.met:
                    break
                self._stop.wait(0.05)
            self._sock.close()

        self._watcher = threading.Thread(target=watch, daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        self._watcher.join()


def clash_server(tmp_path, args, **kw) -> ServerProcess:
    env = prepend_pythonpath(dict(os.environ), os.path.join(REPO, "tests"))
    return ServerProcess(args, log_path=str(tmp_path / "server.log"), env=env, module="port_clash_server", **kw)


def test_started_again_when_a_port_sglang_picked_was_taken(tmp_path):
    held = HeldPort()
    srv = clash_server(tmp_path, ["--dist-init-addr", f"127.0.0.1:{held.port}"])
    held.free_when_met(server_process._OWN_PORT_TAKEN, srv.log_path)
    first_port = srv.port
    try:
        with srv.start(timeout=60):
            assert held.met  # the first attempt did meet the held port
            assert srv.port == first_port  # SGLang's own port, not the HTTP one, was the problem
            assert srv.client.generate("The quick", max_new_tokens=2)["meta_info"]["completion_tokens"] == 2
    finally:
        held.stop()


def test_moved_to_a_fresh_port_when_its_port_was_taken(tmp_path, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))  # bound, not listening: the server cannot bind it, probes are refused at once
    taken_port = taken.getsockname()[1]
    monkeypatch.setattr(server_process, "free_port", lambda: taken_port)
    srv = clash_server(tmp_path, [])
    monkeypatch.undo()  # the restart asks for a really free port
    try:
        with srv.start(timeout=60):
            assert srv.port != taken_port
            with open(srv.log_path, "rb") as f:
                assert server_process._BIND_FAILED in f.read()  # the first attempt did meet the taken port
            assert srv.client.generate("hi", max_new_tokens=1)["meta_info"]["completion_tokens"] == 1
    finally:
        taken.close()


def test_a_fixed_port_that_is_taken_fails_with_the_reason(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        srv = clash_server(tmp_path, [], port=taken.getsockname()[1])
        with pytest.raises(server_process.ServerStartError, match="is in use"):
            srv.start(timeout=60)
        assert not srv.alive()
