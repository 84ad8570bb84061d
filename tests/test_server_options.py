"""The patched routes under server options: --api-key without --enable-memory-saver, and
--resume-headroom-gb.

Two servers in all, started side by side: the keyed one runs without the memory saver, the
no-room one refuses every resume (and, on 0.5.17, carries SGLang's IPC as msgpack). The test
harness's own restarts on a taken port are tested in test_server_process.py, without SGLang.
"""

import pytest
import requests

from conftest import make_server, start_all

KEY = "s3cret"


@pytest.fixture(scope="module")
def servers(tmp_path_factory, tiny_model):
    """The keyed server runs without the memory saver; the no-room one asks for more free memory
    after a resume than any machine has (every resume is refused)."""
    keyed = make_server(tmp_path_factory, tiny_model, "keyed-no-saver-server", memory_saver=False, api_key=KEY)
    no_room = make_server(tmp_path_factory, tiny_model, "no-room-server", extra=["--resume-headroom-gb", "1000000"])
    # SGLang 0.5.17 can carry its IPC messages as msgpack instead of pickle: this server does, so
    # the memory messages (release, resume, status, the 507) cross it for real. Older releases
    # ignore the variable.
    no_room.env["SGLANG_USE_PICKLE_IPC"] = "0"
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
