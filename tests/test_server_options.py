"""The patched routes under server options: --api-key without --enable-memory-saver, and
--resume-headroom-gb; and ServerProcess moving to a fresh port when its port was taken.

Two servers in all (each start costs ~20 s on the CPU): the keyed one runs without the memory
saver, the no-room one is started through a taken port first.
"""

import socket

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


@pytest.fixture(scope="module")
def servers(tmp_path_factory, tiny_model, taken_port):
    """The keyed server runs without the memory saver. The no-room one asks for more free memory
    after a resume than any machine has (every resume is refused), and its first port is one
    another process holds, so ServerProcess must start it again on a fresh one."""
    keyed = make_server(tmp_path_factory, tiny_model, "keyed-no-saver-server", memory_saver=False, api_key=KEY)
    real_free_port = server_process.free_port
    server_process.free_port = lambda: taken_port  # the port the no-room server is made with
    try:
        no_room = make_server(tmp_path_factory, tiny_model, "no-room-server", extra=["--resume-headroom-gb", "1000000"])
    finally:
        server_process.free_port = real_free_port
    start_all(keyed, no_room)
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


def test_server_process_moved_to_a_fresh_port_when_its_port_was_taken(no_room, taken_port):
    assert no_room.port != taken_port
    with open(no_room.log_path, "rb") as f:
        assert server_process._BIND_FAILED in f.read()  # the first attempt did meet the taken port
