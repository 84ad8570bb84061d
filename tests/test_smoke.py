"""The smoke test every supported release passes in CI, one server: start, the staged cycle with a
real tensor update, 503 while released, a release under load (wait and abort), the status.

CI runs the whole suite, in both forms, on the primary release, on 0.5.6 (verl's pin) and on the
newest; the other releases run this module and tests/test_frameworks.py in the runtime form
(scripts/test-release.sh --smoke). Memory that comes back from a release holds garbage (the CPU
stand-in scribbles NaN; the GPU maps fresh pages), so the outputs after the staged cycle equal
the reference only if the pushed tensors really reached every weight.
"""

from __future__ import annotations

import pytest
import requests

from conftest import greedy, launch
from helpers import Streams, load_weights, serialized


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model):
    srv = launch(tmp_path_factory, tiny_model, "smoke-server", extra=["--max-total-tokens", "20000"])
    srv.model_path = tiny_model
    yield srv
    srv.stop()


def test_smoke(server):
    c = server.client
    reference = greedy(c)
    assert all(reference) and len(set(reference)) == len(reference), reference

    # The staged cycle: release all, resume weights, push real tensors, resume the KV cache.
    assert c.release()["released_tags"] == ["cuda_graph", "kv_cache", "weights"]
    refused = requests.post(server.url + "/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 2}}, timeout=60)
    assert refused.status_code == 503 and refused.json()["error"] == "memory_released", refused.text
    assert c.resume(["weights"])["weights_current"] is False
    stale = requests.post(server.url + "/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 2}}, timeout=60)
    assert stale.status_code == 503, stale.text  # kv_cache is still released
    payload = serialized(list(load_weights(server.model_path).items()))
    assert c.update_weights_from_tensor([payload], flush_cache=False)["success"] is True
    assert c.status()["weights_current"] is True
    assert c.resume(["kv_cache"])["released_tags"] == []
    assert greedy(c) == reference

    # A release under load: "wait" lets 8 streams finish, "abort" ends them with a reason.
    streams = Streams(server, n=8, max_new_tokens=200)
    assert c.release(["kv_cache"], wait_timeout=240)["changed_tags"] == ["kv_cache"]
    assert streams.join() == [{"type": "length", "length": 200}] * 8
    c.resume()
    streams = Streams(server, n=8, max_new_tokens=1000)
    assert c.release(["kv_cache"], mode="abort")["released_tags"] == ["kv_cache"]
    assert all(r["type"] == "abort" for r in streams.join())
    c.resume()
    assert greedy(c) == reference
    assert server.alive(), server.log_tail()
