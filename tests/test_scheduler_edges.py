"""Scheduler corners a release can meet, on a server without the overlap scheduler and with tiny
prefill chunks:
- without the overlap scheduler (``--disable-overlap-schedule``; also PP, speculative decoding) a
  request that was just prefilled lives only in the scheduler's ``last_batch`` for one loop turn:
  a release arriving then must still see it running;
- a chunked prefill in progress (``--chunked-prefill-size 16``) must go on to its next chunk
  while an "abort" release waits, or SGLang's own memory check kills the scheduler.
Every request either completes, is refused (503), or ends with a stated reason; none hangs.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from conftest import PROMPTS, launch
from server_ext.client import SGLangError


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model):
    srv = launch(tmp_path_factory, tiny_model, "edges-server", extra=[
        "--disable-overlap-schedule", "--chunked-prefill-size", "16", "--weights-cpu-backup",
    ])
    yield srv
    srv.stop()


def generate_in_thread(server, body):
    out = {}

    def run():
        r = requests.post(server.url + "/generate", json=body, timeout=120)
        out["status"], out["body"] = r.status_code, r.json()

    t = threading.Thread(target=run)
    t.start()
    return t, out


# The race is over within the first loop turns; a longer request only makes the wait-mode release
# wait longer (200 tokens took 6-15 s a delay on two busy cores).
EDGE_TOKENS = 50


@pytest.mark.parametrize("delay_ms", [0, 1, 2, 5, 10, 20])
def test_release_just_after_a_request_never_strands_it(server, delay_ms):
    body = {"text": PROMPTS[1], "sampling_params": {"max_new_tokens": EDGE_TOKENS, "ignore_eos": True, "temperature": 0}}
    t, out = generate_in_thread(server, body)
    time.sleep(delay_ms / 1000)
    try:
        assert server.client.release(["kv_cache"])["released_tags"] == ["kv_cache"]
        t.join(90)
        assert not t.is_alive(), "the request was stranded by the release"
    finally:
        server.client.resume()
    if out["status"] == 503:  # refused at the door: the release was already under way
        assert out["body"]["error"] in ("memory_releasing", "memory_released")
    else:
        reason = out["body"]["meta_info"]["finish_reason"]
        # Completed in full before the release, or (if it raced past the gate) ended with a reason.
        assert reason == {"type": "length", "length": EDGE_TOKENS} or "is released" in reason.get("message", ""), reason
    assert server.client.generate(PROMPTS[0], max_new_tokens=4)["meta_info"]["completion_tokens"] == 4


def test_abort_release_during_a_chunked_prefill(server):
    body = {"input_ids": [7] * 1500, "sampling_params": {"max_new_tokens": 50, "ignore_eos": True}}
    t, out = generate_in_thread(server, body)
    time.sleep(0.3)  # inside the ~90 chunks of its prefill
    reply = server.client.release(mode="abort")
    assert reply["released_tags"] == ["cuda_graph", "kv_cache", "weights"]
    t.join(90)
    assert not t.is_alive()
    reason = out["body"]["meta_info"]["finish_reason"]
    assert reason["type"] == "abort" and "being released" in reason["message"], reason
    assert server.alive(), server.log_tail()
    server.client.resume()
    assert server.client.generate(PROMPTS[0], max_new_tokens=4)["meta_info"]["completion_tokens"] == 4


def test_server_survives_and_reports_state(server):
    assert server.alive()
    assert server.client.status()["released_tags"] == []
    with pytest.raises(SGLangError) as e:
        server.client.release(["bogus"])
    assert e.value.status == 400
