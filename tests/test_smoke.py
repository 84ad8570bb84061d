"""The smoke test every supported release passes in CI, on one server started the way the RL
frameworks start SGLang: stock ``python -m sglang.launch_server`` with only ``SGLANG_TAGGED_MEMORY=1``
in its environment, and — on releases where SGLang has its own release/resume (0.4.8 on) — a
stand-in third-party source patch inside those handlers, as slime ships one
(tests/frameworks/third_party_patch.py). Through it: the staged cycle with a real tensor update,
503 while released, no-op releases and resumes, a release under load (wait and abort), the status.

Wrap, don't replace: the package checks, then calls the release/resume method it found on SGLang
with the tags that change, so the other patch's additions run for each real change of a tag SGLang
handles and never for a no-op. Memory that comes back from a release holds garbage (the CPU
stand-in scribbles NaN; the GPU maps fresh pages), so the outputs after the staged cycle equal the
reference only if the pushed tensors really reached every weight.

CI runs the whole suite, in both forms, on the primary release, on 0.5.6 (verl's pin) and on the
newest; the other releases run this module and tests/test_frameworks.py (the replays of the
frameworks that pin them): scripts/test-release.sh --smoke.
"""

from __future__ import annotations

import json
import os

import pytest
import requests

import sglang_patch
from conftest import START_TIMEOUT_S, greedy
from helpers import (Streams, framework_server, load_weights, release_seen_waiting, serialized,
                     third_party_patched_sglang)
from server_ext.envs import prepend_pythonpath

NATIVE_TAGS = set(sglang_patch.get("scheduler").native_tags or ())


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model):
    tmp = str(tmp_path_factory.mktemp("smoke-third-party"))
    notes = os.path.join(tmp, "notes.jsonl")
    srv = framework_server(tmp_path_factory, "smoke-server", "sglang.launch_server", tiny_model,
                           extra=["--max-total-tokens", "20000"], THIRD_PARTY_NOTES=notes)
    if NATIVE_TAGS:
        prepend_pythonpath(srv.env, third_party_patched_sglang(os.path.join(tmp, "tree")))
    srv.model_path = tiny_model
    srv.notes = notes
    with srv.start(timeout=START_TIMEOUT_S):
        # Only the switch patches this server, through sglang_tagged_memory.pth in a site directory:
        # a set-up without it runs stock SGLang, and every test below would fail obscurely (seen on
        # the H200, 2026-12-02: a device kit puts the package on PYTHONPATH, which reads no .pth).
        status = requests.get(srv.url + "/memory_occupation", timeout=60)
        assert status.status_code == 200, (
            f"the switch did not patch this server (GET /memory_occupation: {status.status_code}): "
            "sglang_tagged_memory.pth must be in a site directory (pip install the package; on a device "
            "kit copy it there, as docs/testing.md's GPU commands do)")
        yield srv


class ThirdPartyNotes:
    """What the stand-in third-party patch noted from inside SGLang's handlers since the last check."""

    def __init__(self, path: str):
        self.path, self.seen = path, 0

    def new(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            rows = [(n["what"], sorted(n["tags"])) for n in map(json.loads, f)]
        new, self.seen = rows[self.seen:], len(rows)
        return new


def test_smoke(server):
    c = server.client
    notes = ThirdPartyNotes(server.notes)

    def call(what, reply):
        """The other patch ran once for the tags SGLang handles that changed, and not at all for a no-op."""
        changed = sorted(set(reply["changed_tags"]) & NATIVE_TAGS)
        assert notes.new() == ([(what, changed)] if changed else []), (what, reply)
        return reply

    reference = greedy(c)
    assert all(reference) and len(set(reference)) == len(reference), reference

    # The staged cycle: release all, resume weights, push real tensors, resume the KV cache.
    assert call("release", c.release())["released_tags"] == ["cuda_graph", "kv_cache", "weights"]
    assert call("release", c.release(["kv_cache"]))["changed_tags"] == []  # a no-op
    refused = requests.post(server.url + "/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 2}}, timeout=60)
    assert refused.status_code == 503 and refused.json()["error"] == "memory_released", refused.text
    assert call("resume", c.resume(["weights"]))["weights_current"] is False
    assert call("resume", c.resume(["weights"]))["changed_tags"] == []  # a no-op
    stale = requests.post(server.url + "/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 2}}, timeout=60)
    assert stale.status_code == 503, stale.text  # kv_cache is still released
    payload = serialized(list(load_weights(server.model_path).items()))
    assert c.update_weights_from_tensor([payload], flush_cache=False)["success"] is True
    assert c.status()["weights_current"] is True
    assert call("resume", c.resume(["kv_cache"]))["released_tags"] == []
    assert greedy(c) == reference

    # A release under load: "wait" lets 8 streams finish (the last, long one ended by its client
    # once the release is seen waiting), "abort" ends them with a reason.
    streams = Streams(server, n=8, max_new_tokens=50, last_tokens=2000)
    reply, seen_waiting = release_seen_waiting(c, streams, ["kv_cache"])
    assert seen_waiting, f"the release answered without waiting for the running streams: {reply}"
    assert call("release", reply)["changed_tags"] == ["kv_cache"]
    assert streams.completed_or_aborted_by_client(streams.join())
    call("resume", c.resume())
    # The last stream 2000 tokens: the release finds it running however slowly the release
    # reaches the scheduler on a loaded machine (in CI, 0.5.23's 8 x 1000 were all done first).
    # Running streams end with the reason, those done before it in full.
    streams = Streams(server, n=8, max_new_tokens=1000, last_tokens=2000)
    assert call("release", c.release(["kv_cache"], mode="abort"))["released_tags"] == ["kv_cache"]
    reasons = streams.join()
    assert streams.ended_by_the_release(reasons), reasons
    call("resume", c.resume())
    assert greedy(c) == reference
    assert server.alive(), server.log_tail()


def test_weight_update_sessions(server):
    """SGLang 0.5.23 takes tensor updates only inside a weight-update session (/begin_weight_update
    ... /end_weight_update). A bare one (test_smoke's, as slime and verl send it) runs in a session
    the package opens and closes for it; updates inside a session the caller opened (a framework
    written for 0.5.23: one session around all its buckets) run in that one, with no second one
    (docs/patches.md, "Weight-update sessions"). Releases without sessions skip this."""
    c = server.client
    reference = greedy(c)
    begin = requests.post(server.url + "/begin_weight_update", json={}, timeout=60)
    if begin.status_code == 404:
        pytest.skip("this release has no weight-update sessions")
    assert begin.status_code == 200, begin.text

    def payload():  # a fresh one per update: on the CPU the receiver consumes the shared-memory files
        return serialized(list(load_weights(server.model_path).items()))

    try:
        for _ in range(2):  # two buckets in the caller's session
            reply = c.update_weights_from_tensor([payload()], flush_cache=False)
            assert "session opened" not in reply["message"], reply
    finally:
        end = requests.post(server.url + "/end_weight_update", json={}, timeout=60)
    assert end.status_code == 200, end.text
    reply = c.update_weights_from_tensor([payload()])  # bare again: in a session of the package's
    assert "weight-update session opened and closed for it" in reply["message"], reply
    left_open = requests.post(server.url + "/end_weight_update", json={}, timeout=60)
    assert left_open.status_code == 400, left_open.text  # the package's session is closed
    assert greedy(c) == reference
    assert server.alive(), server.log_tail()
