"""ServerProcess starts again on a fresh port when its port was taken before the server bound it."""

import socket

from conftest import launch
from sglang_patch_dev import server_process


def test_start_moves_to_a_fresh_port_when_the_port_is_taken(tmp_path_factory, tiny_model, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = [taken.getsockname()[1]]  # the first "free" port is one another process holds
    real_free_port = server_process.free_port
    monkeypatch.setattr(server_process, "free_port", lambda: ports.pop(0) if ports else real_free_port())
    try:
        srv = launch(tmp_path_factory, tiny_model, "port-taken-server")
        try:
            assert srv.port != taken.getsockname()[1]
            assert srv.client.generate("hi", max_new_tokens=2)["meta_info"]["completion_tokens"] == 2
            with open(srv.log_path, "rb") as f:
                assert server_process._BIND_FAILED in f.read()  # the first attempt did meet the taken port
        finally:
            srv.stop()
    finally:
        taken.close()
