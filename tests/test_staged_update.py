"""The point of the project: release all, resume weights, update them, resume the KV cache.

Greedy outputs after the staged sequence must equal those before the release. Memory that comes
back from a release holds garbage (the real torch_memory_saver maps fresh pages; the CPU stand-in
scribbles NaN), so until the weights are updated generation is refused (503 ``weights_stale``).
The control case, on a server started with ``--allow-stale-weights``, shows the test can fail:
skipping the update changes the outputs.
"""

from __future__ import annotations

import pytest
import requests

from conftest import greedy, make_server, start_all


@pytest.fixture(scope="module")
def servers(tmp_path_factory, tiny_model):
    """The staged server, and the control one with --allow-stale-weights, started side by side."""
    staged = make_server(tmp_path_factory, tiny_model, "staged-server")
    stale_ok = make_server(tmp_path_factory, tiny_model, "stale-ok-server", extra=["--allow-stale-weights"])
    start_all(staged, stale_ok)
    for srv in (staged, stale_ok):
        srv.model_path = tiny_model
    yield staged, stale_ok
    staged.stop()
    stale_ok.stop()


@pytest.fixture(scope="module")
def server(servers):
    return servers[0]


@pytest.fixture(scope="module")
def reference(server):
    outputs = greedy(server.client)
    assert all(outputs) and len(set(outputs)) == len(outputs), f"degenerate reference outputs: {outputs}"
    return outputs


def test_staged_update_from_disk_restores_outputs(server, reference):
    c = server.client
    assert c.release()["released_tags"] == ["cuda_graph", "kv_cache", "weights"]
    assert c.resume(["weights"])["released_tags"] == ["cuda_graph", "kv_cache"]
    # The update runs while the KV cache is still released: that is the memory the trainer needs.
    assert c.update_weights_from_disk(server.model_path)["success"] is True
    assert c.resume(["kv_cache"])["released_tags"] == []
    assert greedy(c) == reference


def test_generation_on_stale_weights_is_503_until_an_update(server, reference):
    c = server.client
    c.release(["weights"])
    reply = c.resume(["weights"])
    assert reply["weights_current"] is False and "generation is refused" in reply["message"]
    r = requests.post(server.url + "/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 2}}, timeout=60)
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "weights_stale" and "update_weights_from_disk" in r.json()["message"]
    assert "--allow-stale-weights" in r.json()["message"] and "--weights-cpu-backup" in r.json()["message"]
    c.update_weights_from_disk(server.model_path)
    assert greedy(c) == reference


@pytest.fixture(scope="module")
def stale_ok_server(servers):
    return servers[1]


def test_without_the_update_the_weights_are_garbage(stale_ok_server, reference):
    c = stale_ok_server.client
    assert greedy(c) == reference  # same model, same greedy outputs as the first server
    c.release(["weights"])
    c.resume(["weights"])
    assert c.status()["weights_current"] is False
    assert greedy(c) != reference  # --allow-stale-weights: it generates, from garbage
    c.update_weights_from_disk(stale_ok_server.model_path)
    assert greedy(c) == reference


def test_kv_cache_release_flushes_the_prefix_cache(server, reference):
    """Cached prefixes would point into memory that came back as garbage: the flush drops them."""
    c = server.client
    assert greedy(c) == reference  # warms the radix cache with these prompts
    c.release(["kv_cache"])
    c.resume(["kv_cache"])
    out = [c.generate(p, max_new_tokens=12) for p in ["The quick brown fox"]]
    assert out[0]["meta_info"]["cached_tokens"] == 0
    assert greedy(c) == reference


def test_memory_occupation_reports_state_bytes_and_current_weights(server):
    c = server.client
    s = c.status()
    assert s["released_tags"] == [] and s["weights_current"] is True
    (rank,) = s["ranks"]
    assert rank["tp_rank"] == 0 and rank["memory_saver_enabled"] is True
    assert rank["tags"]["weights"]["bytes"] > 0 and rank["tags"]["kv_cache"]["bytes"] > 0
    c.release(["kv_cache"])
    assert c.status()["ranks"][0]["tags"]["kv_cache"]["state"] == "released"
    c.release(["weights"])
    assert c.status()["released_tags"] == ["kv_cache", "weights"]
    c.resume(["weights"])
    assert c.status()["weights_current"] is False  # their content did not survive the release
    c.update_weights_from_disk(server.model_path)
    assert c.status()["weights_current"] is True
    c.resume(["kv_cache"])
    assert c.status()["released_tags"] == []


def test_weight_update_into_released_weights_resumes_them_first(server, reference):
    """AReaL's colocated step updates from disk while everything is released: the weights are mapped
    back first (the KV cache stays released), the update fills them, and the reply says so."""
    c = server.client
    c.release()
    r = requests.post(server.url + "/update_weights_from_disk", json={"model_path": server.model_path}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and "resumed ['weights'] first" in r.json()["message"], r.json()
    status = c.status()
    assert status["released_tags"] == ["cuda_graph", "kv_cache"] and status["weights_current"] is True
    gen = requests.post(server.url + "/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 2}}, timeout=60)
    assert gen.status_code == 503 and gen.json()["error"] == "memory_released", gen.text  # the frontend knows
    c.resume()
    assert greedy(c) == reference
