"""The patched routes under server options: --api-key without --enable-memory-saver, and
--resume-headroom-gb; and ServerProcess starting again when a port was taken.

Two servers in all (each start costs ~20 s on the CPU): the keyed one runs without the memory
saver and meets a taken torch.distributed port first, the no-room one a taken HTTP port (and,
on 0.5.17, carries SGLang's IPC as msgpack).
"""

import socket
import threading

import pytest
import requests

from conftest import make_server, start_all
from sglang_patch_dev import server_process

KEY = "s3cret"


@pytest.fixture(scope="module")
def taken_port():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))  # bound, not listening: the server cannot bind it, probes are refused at once
    yield taken.getsockname()[1]
    taken.close()


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
                self._stop.wait(0.2)
            self._sock.close()

        self._watcher = threading.Thread(target=watch, daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        self._watcher.join()


@pytest.fixture(scope="module")
def servers(tmp_path_factory, tiny_model, taken_port):
    """The keyed server runs without the memory saver; its torch.distributed port
    (--dist-init-addr) is held by another socket at first, so its first start dies with
    EADDRINUSE and ServerProcess must start it again. The no-room one asks for more free memory
    after a resume than any machine has (every resume is refused), and its first HTTP port is one
    another process holds, so ServerProcess must start it again on a fresh one."""
    held = HeldPort()
    keyed = make_server(
        tmp_path_factory, tiny_model, "keyed-no-saver-server", memory_saver=False, api_key=KEY, extra=["--dist-init-addr", f"127.0.0.1:{held.port}"]
    )
    keyed.held_dist_port = held
    held.free_when_met(server_process._OWN_PORT_TAKEN, keyed.log_path)
    real_free_port = server_process.free_port
    server_process.free_port = lambda: taken_port  # the port the no-room server is made with
    try:
        no_room = make_server(tmp_path_factory, tiny_model, "no-room-server", extra=["--resume-headroom-gb", "1000000"])
    finally:
        server_process.free_port = real_free_port
    # SGLang 0.5.17 can carry its IPC messages as msgpack instead of pickle: this server does, so
    # the memory messages (release, resume, status, the 507) cross it for real. Older releases
    # ignore the variable.
    no_room.env["SGLANG_USE_PICKLE_IPC"] = "0"
    try:
        start_all(keyed, no_room)
    finally:
        held.stop()
    yield {"keyed": keyed, "no_room": no_room}
    keyed.stop()
    no_room.stop()


@pytest.fixture
def keyed_no_saver(servers):
    return servers["keyed"]


@pytest.fixture
def no_room(servers):
    return servers["no_room"]


@pytest.mark.parametrize(
    "method, route, body, with_key",
    [
        ("POST", "/release_memory_occupation", {"tags": ["kv_cache"]}, 200),
        ("POST", "/resume_memory_occupation", {}, 200),
        ("GET", "/memory_occupation", None, 200),
        ("POST", "/update_weights_from_disk", {"model_path": "/nonexistent"}, 400),  # bad path: refused after auth
    ],
)
def test_api_key_guards_the_admin_routes(keyed_no_saver, method, route, body, with_key):
    def call(headers=None):
        return requests.request(method, keyed_no_saver.url + route, json=body, headers=headers, timeout=60)

    assert call().status_code == 401
    assert call({"Authorization": "Bearer nope"}).status_code == 401
    r = call({"Authorization": f"Bearer {KEY}"})
    assert r.status_code == with_key, r.text
    keyed_no_saver.client.resume()  # leave everything resident for the next case


def test_without_memory_saver_the_reply_says_nothing_moved(keyed_no_saver):
    c = keyed_no_saver.client  # sends the key
    reply = c.release(["kv_cache"])
    assert reply["success"] and reply["memory_saver_enabled"] is False
    assert "without --enable-memory-saver" in reply["message"]
    assert reply["released_tags"] == ["kv_cache"]
    assert c.resume()["released_tags"] == []
    assert c.generate("The quick", max_new_tokens=3)["meta_info"]["completion_tokens"] == 3


def test_resume_without_room_is_507_and_keeps_the_tag_released(no_room):
    c = no_room.client
    assert c.release(["kv_cache"])["released_tags"] == ["kv_cache"]
    r = requests.post(no_room.url + "/resume_memory_occupation", json={"tags": ["kv_cache"]}, timeout=60)
    assert r.status_code == 507, r.text
    reply = r.json()
    assert reply["error"] == "insufficient_memory" and reply["released_tags"] == ["kv_cache"]
    assert "needs" in reply["message"] and "free" in reply["message"] and "stay released" in reply["message"]
    assert c.status()["released_tags"] == ["kv_cache"]
    assert no_room.alive()
    assert requests.post(no_room.url + "/generate", json={"text": "hi"}, timeout=60).status_code == 503
    assert c.release()["changed_tags"] == ["cuda_graph", "weights"]  # the server keeps taking requests


def test_server_process_started_again_when_sglangs_own_port_was_taken(keyed_no_saver):
    assert keyed_no_saver.held_dist_port.met  # the first attempt did meet the held port
    assert keyed_no_saver.client.generate("The quick", max_new_tokens=2)["meta_info"]["completion_tokens"] == 2


def test_server_process_moved_to_a_fresh_port_when_its_port_was_taken(no_room, taken_port):
    assert no_room.port != taken_port
    with open(no_room.log_path, "rb") as f:
        assert server_process._BIND_FAILED in f.read()  # the first attempt did meet the taken port
