"""The patched routes under SGLang's own server options: --api-key, and no --enable-memory-saver."""

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


@pytest.mark.parametrize("route", ["/release_memory_occupation", "/resume_memory_occupation"])
def test_api_key_guards_the_memory_routes(keyed, route):
    assert requests.post(keyed.url + route, json={}, timeout=30).status_code == 401
    bad = requests.post(keyed.url + route, json={}, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert bad.status_code == 401
    assert requests.post(keyed.url + route, json={}, headers={"Authorization": "Bearer s3cret"}, timeout=30).ok


def test_without_memory_saver_the_reply_says_nothing_moved(no_saver):
    reply = no_saver.client.release(["kv_cache"])
    assert reply["success"] and reply["memory_saver_enabled"] is False
    assert "without --enable-memory-saver" in reply["message"]
    assert reply["released_tags"] == ["kv_cache"]
    assert no_saver.client.resume()["released_tags"] == []
    assert no_saver.client.generate("The quick", max_new_tokens=3)["meta_info"]["completion_tokens"] == 3
