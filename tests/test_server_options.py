"""The patched routes under server options: --api-key, no --enable-memory-saver, --resume-headroom-gb."""

import pytest
import requests

from conftest import launch


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, tiny_model):
    srv = launch(tmp_path_factory, tiny_model, "keyed-server", api_key="s3cret")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def no_saver(tmp_path_factory, tiny_model):
    srv = launch(tmp_path_factory, tiny_model, "no-saver-server", memory_saver=False)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def no_room(tmp_path_factory, tiny_model):
    """Asks for more free memory after a resume than any machine has: every resume is refused."""
    srv = launch(tmp_path_factory, tiny_model, "no-room-server", extra=["--resume-headroom-gb", "1000000"])
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    "method, route, body, with_key",
    [
        ("POST", "/release_memory_occupation", {"tags": ["kv_cache"]}, 200),
        ("POST", "/resume_memory_occupation", {}, 200),
        ("GET", "/memory_occupation", None, 200),
        ("POST", "/update_weights_from_disk", {"model_path": "/nonexistent"}, 400),  # bad path: refused after auth
    ],
)
def test_api_key_guards_the_admin_routes(keyed, method, route, body, with_key):
    def call(headers=None):
        return requests.request(method, keyed.url + route, json=body, headers=headers, timeout=60)

    assert call().status_code == 401
    assert call({"Authorization": "Bearer nope"}).status_code == 401
    r = call({"Authorization": "Bearer s3cret"})
    assert r.status_code == with_key, r.text
    keyed.client.resume()  # leave everything resident for the next case


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
    assert c.release()["changed_tags"] == ["weights"]  # the server keeps taking requests


def test_without_memory_saver_the_reply_says_nothing_moved(no_saver):
    reply = no_saver.client.release(["kv_cache"])
    assert reply["success"] and reply["memory_saver_enabled"] is False
    assert "without --enable-memory-saver" in reply["message"]
    assert reply["released_tags"] == ["kv_cache"]
    assert no_saver.client.resume()["released_tags"] == []
    assert no_saver.client.generate("The quick", max_new_tokens=3)["meta_info"]["completion_tokens"] == 3
