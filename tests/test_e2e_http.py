"""End to end through ``python -m server_ext.launch``: tagged release/resume over real HTTP.

This server runs with ``--weights-cpu-backup``, so the weights' content survives every release in
these tests and any test may generate after any other (test_staged_update.py covers a server
without it, where resumed weights must be updated before generating).
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from conftest import ON_CPU, PROMPTS, greedy, launch, needs_standin
from helpers import Streams, release_seen_waiting
from server_ext.client import SGLangError
from sglang_patch.memory_occupation.http_api import LIVENESS_PATHS


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model):
    # Room for 16 streams of 1000 tokens in the KV cache (the CPU default is 4096 tokens).
    srv = launch(tmp_path_factory, tiny_model, "http-server", extra=["--weights-cpu-backup", "--max-total-tokens", "20000"])
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def all_resident(server):
    """Each test starts and ends with everything resident and the server alive."""
    server.client.resume()
    yield
    assert server.alive(), server.log_tail()
    server.client.resume()


def post(server, route, body=None, data=None):
    return requests.post(server.url + route, json=body, data=data, timeout=60)


def test_generate_works(server):
    out = server.client.generate(PROMPTS[0], max_new_tokens=8)
    assert out["meta_info"]["completion_tokens"] == 8


@pytest.mark.parametrize("tags", [["kv_cache"], ["weights"], ["cuda_graph"], ["weights", "kv_cache"], None, []])
def test_release_then_resume_reports_state(server, tags):
    expected = sorted(tags or ["cuda_graph", "weights", "kv_cache"])
    reply = server.client.release(tags)
    assert reply["success"] is True
    assert reply["released_tags"] == expected
    assert sorted(reply["changed_tags"]) == expected
    assert reply["memory_saver_enabled"] is True

    reply = server.client.resume(tags)
    assert reply["released_tags"] == []
    assert sorted(reply["changed_tags"]) == expected


def test_staged_resume_one_tag_at_a_time(server):
    """Trainer code written for two tags (verl: weights, then kv_cache) still ends fully resumed:
    the graphs come back with the KV cache."""
    server.client.release()
    r1 = server.client.resume(["weights"])
    assert r1["released_tags"] == ["cuda_graph", "kv_cache"] and r1["changed_tags"] == ["weights"]
    r2 = server.client.resume(["kv_cache"])
    assert r2["released_tags"] == [] and r2["changed_tags"] == ["cuda_graph", "kv_cache"]
    # The server still serves (content is checked by the staged-update tests).
    assert server.client.generate(PROMPTS[0], max_new_tokens=4)["meta_info"]["completion_tokens"] == 4


@pytest.mark.skipif(not ON_CPU, reason="the GPU captures CUDA graphs (their tag: tests/gpu/test_graph_memory.py)")
def test_cuda_graph_tag_without_graphs_is_a_state_the_reply_explains(server):
    """CUDA graphs are off on the CPU (as with --disable-cuda-graph): the tag holds no memory, but
    it is released and resumed like the others, and generation waits for it."""
    reply = server.client.release(["cuda_graph"])
    assert reply["changed_tags"] == ["cuda_graph"] and "no CUDA graphs are captured" in reply["message"]
    status = server.client.status()
    assert status["ranks"][0]["tags"]["cuda_graph"] == {"state": "released", "bytes": 0}
    assert status["ranks"][0]["device"] is None  # no GPU here: nothing to break down
    r = requests.post(server.url + "/generate", json={"text": PROMPTS[0]}, timeout=60)
    assert r.status_code == 503 and r.json()["released_tags"] == ["cuda_graph"]
    server.client.resume(["cuda_graph"])
    assert server.client.generate(PROMPTS[0], max_new_tokens=4)["meta_info"]["completion_tokens"] == 4


def test_repeated_release_and_resume_are_noops(server):
    server.client.release(["kv_cache"])
    again = server.client.release(["kv_cache"])
    assert again["success"] and again["changed_tags"] == [] and again["released_tags"] == ["kv_cache"]
    assert "nothing to release" in again["message"]
    server.client.resume(["kv_cache"])
    again = server.client.resume(["kv_cache"])
    assert again["success"] and again["changed_tags"] == [] and again["released_tags"] == []


def test_empty_body_and_no_body_mean_all(server):
    r = post(server, "/release_memory_occupation", data=b"")
    assert r.status_code == 200, r.text
    assert r.json()["released_tags"] == ["cuda_graph", "kv_cache", "weights"]
    r = post(server, "/resume_memory_occupation", body={})
    assert r.status_code == 200 and r.json()["released_tags"] == []


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"tags": ["bogus"]}, "unknown tag(s) ['bogus']"),
        ({"tags": "kv_cache"}, "must be a list of strings"),
        ({"tags": [1]}, "every tag must be a string"),
        ({"tags": ["kv_cache", "kv_cache"]}, "more than once"),
        ({"tag": ["kv_cache"]}, "unknown field(s) ['tag']"),
        ([1, 2], "must be a JSON object"),
    ],
)
@pytest.mark.parametrize("route", ["/release_memory_occupation", "/resume_memory_occupation"])
def test_bad_input_is_400_and_server_keeps_serving(server, route, body, needle):
    assert_400_and_still_serving(server, route, body, needle)


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"mode": "later"}, "unknown mode 'later'"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"timeout": "soon"}, "timeout must be a positive number"),
    ],
)
def test_bad_release_options_are_400(server, body, needle):
    assert_400_and_still_serving(server, "/release_memory_occupation", body, needle)


def test_resume_takes_no_mode(server):
    assert_400_and_still_serving(server, "/resume_memory_occupation", {"mode": "wait"}, "unknown field(s) ['mode']")


def assert_400_and_still_serving(server, route, body, needle):
    r = post(server, route, body=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert needle in r.json()["message"]
    # Nothing was released and the server still answers.
    assert server.client.release([])["changed_tags"] == ["cuda_graph", "kv_cache", "weights"]
    server.client.resume()
    assert server.client.generate(PROMPTS[1], max_new_tokens=2)["meta_info"]["completion_tokens"] == 2


def test_invalid_json_is_400(server):
    r = post(server, "/release_memory_occupation", data=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]


@pytest.mark.parametrize(
    "payload",
    [["bm90IGEgcGlja2xl"], []],  # base64 of "not a pickle"; no entry for TP rank 0
    ids=["not-a-pickle", "no-entry-for-the-rank"],
)
def test_bad_weight_payload_is_400_and_server_keeps_serving(server, payload):
    """SGLang's scheduler dies on a payload it cannot deserialize (and the server with it)."""
    weights_current = server.client.status()["weights_current"]
    # SGLang 0.5.23 takes tensors only inside a weight-update session (/begin_weight_update ...
    # /end_weight_update; refused outside one before the payload is read); earlier releases have no such route.
    session = post(server, "/begin_weight_update", body={}).status_code == 200
    try:
        r = post(server, "/update_weights_from_tensor", body={"serialized_named_tensors": payload})
    finally:
        if session:
            assert post(server, "/end_weight_update", body={}).status_code == 200
    assert r.status_code == 400, r.text
    reply = r.json()
    assert reply["success"] is False
    assert "update_weights_from_tensor failed" in reply["message"] and "one entry per TP rank" in reply["message"]
    assert server.client.status()["weights_current"] == weights_current  # nothing was loaded
    assert server.client.generate(PROMPTS[1], max_new_tokens=2)["meta_info"]["completion_tokens"] == 2


def test_client_raises_with_status_and_message(server):
    with pytest.raises(SGLangError) as e:
        server.client.release(["bogus"])
    assert e.value.status == 400 and "known tags" in str(e.value)


# 16 streams run when each release is sent: no crash, every request completes or ends with a
# stated reason, and memory is never paused under them.
STREAMS = 16
# Tokens each of them generates before it completes (each decode step of 16 costs ~0.3 s on two
# loaded cores with 0.5.6: 300 tokens made the wait test 187 s in CI).
STREAM_TOKENS = 100
# The last of them generates this many: a stream that outlasts the way of a release to the
# scheduler on a loaded machine (in CI, 0.5.23's 16 x 300-token streams were all done before the
# release reached the scheduler, though each had its first token when it was sent: the release
# answered 200 in reject mode, and in wait mode without waiting), and a 0.2 s release timeout
# (0.5.17 decodes ~400 tokens/s here idle).
LONG_STREAM_TOKENS = 2000


def test_release_mode_reject_is_409_while_generating(server):
    streams = Streams(server, n=STREAMS, max_new_tokens=STREAM_TOKENS, last_tokens=LONG_STREAM_TOKENS)
    r = post(server, "/release_memory_occupation", body={"tags": ["kv_cache"], "mode": "reject"})
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "busy" and "running" in r.json()["message"]
    streams.abort_last()
    reasons = streams.join()
    assert streams.completed_or_aborted_by_client(reasons), reasons  # undisturbed by the release
    assert server.client.release(["kv_cache"], mode="reject")["changed_tags"] == ["kv_cache"]


def test_release_mode_wait_waits_for_running_requests(server):
    streams = Streams(server, n=STREAMS, max_new_tokens=STREAM_TOKENS, last_tokens=LONG_STREAM_TOKENS)

    def refuses_new_generation():
        # While the release waits for the streams, new generation is refused, not queued.
        r = post(server, "/generate", body={"text": PROMPTS[0], "sampling_params": {"max_new_tokens": 2}})
        assert r.status_code == 503 and r.json()["error"] == "memory_releasing", r.text

    # Default mode: wait (a long timeout: what is tested is that it waits).
    reply, seen_waiting = release_seen_waiting(server.client, streams, ["kv_cache"], refuses_new_generation)
    assert seen_waiting, f"the release answered without waiting for the 16 running streams: {reply}"
    assert reply["changed_tags"] == ["kv_cache"], reply
    reasons = streams.join()
    assert streams.completed_or_aborted_by_client(reasons), reasons  # none ended by the release


def test_release_mode_wait_times_out_with_409(server):
    streams = Streams(server, max_new_tokens=LONG_STREAM_TOKENS)  # runs for seconds: far past 0.2 s
    r = post(server, "/release_memory_occupation", body={"tags": ["weights"], "timeout": 0.2})
    assert r.status_code == 409, r.text
    assert "timed out" in r.json()["message"]
    streams.abort_last()
    reasons = streams.join()
    assert streams.completed_or_aborted_by_client(reasons), reasons  # not ended by the timed-out release
    assert server.client.release(["weights"])["released_tags"] == ["weights"]


def test_release_mode_abort_ends_running_requests_with_a_reason(server):
    # 16 x 1000 tokens, the last 2000 (the KV pool of 20000 tokens holds no more): a stream still
    # running when the release reaches the scheduler ends with the reason, one done before it in full.
    streams = Streams(server, n=STREAMS, max_new_tokens=1000, last_tokens=LONG_STREAM_TOKENS)
    reply = server.client.release(mode="abort")
    assert reply["released_tags"] == ["cuda_graph", "kv_cache", "weights"]
    reasons = streams.join()
    assert streams.ended_by_the_release(reasons), reasons


# A body each generation route accepts. The routes under test are derived from the app itself
# (generation_routes below); a route SGLang adds without a body here fails the coverage test.
SERVED_MODEL = "<the served model>"  # call_route puts the name /v1/models lists here
CHAT = {"model": "default", "messages": [{"role": "user", "content": PROMPTS[0]}], "max_tokens": 4}
BODIES = {
    ("POST", "/generate"): {"json": {"text": PROMPTS[0], "sampling_params": {"max_new_tokens": 4}}},
    ("POST", "/generate#stream"): {"json": {"text": PROMPTS[0], "stream": True, "sampling_params": {"max_new_tokens": 4}}},
    ("POST", "/v1/completions"): {"json": {"model": "default", "prompt": PROMPTS[0], "max_tokens": 4}},
    ("POST", "/v1/completions#stream"): {"json": {"model": "default", "prompt": PROMPTS[0], "max_tokens": 4, "stream": True}},
    ("POST", "/v1/chat/completions"): {"json": CHAT},
    ("POST", "/v1/chat/completions#stream"): {"json": dict(CHAT, stream=True)},
    ("POST", "/invocations"): {"json": CHAT},
    ("POST", "/v1/embeddings"): {"json": {"model": "default", "input": PROMPTS[0]}},
    ("POST", "/encode"): {"json": {"text": PROMPTS[0]}},
    ("POST", "/classify"): {"json": {"text": PROMPTS[0]}},
    ("POST", "/vertex_generate"): {"json": {"instances": [{"text": PROMPTS[0]}], "parameters": {"sampling_params": {"max_new_tokens": 4}}}},
    ("POST", "/generate_from_file"): {"files": {"file": ("embeds.json", b"[[0.0, 0.0]]")}},
    ("GET", "/health_generate"): {},
    # Routes of later releases (0.4.7.post1 on); a release without the route skips its body.
    ("POST", "/v1/rerank"): {"json": {"query": PROMPTS[0], "documents": [PROMPTS[1], PROMPTS[2]]}},
    ("POST", "/v1/score"): {"json": {"model": "default", "query": PROMPTS[0], "items": [PROMPTS[1]], "label_token_ids": [1, 2]}},
    # 0.5.6 on: the OpenAI responses API (creating one generates; reading or cancelling one does not)
    # and OpenAI-style classification. Responses names the served model: 0.5.23 answers 404 for a
    # name it does not serve (and 400 for none) before the refusal could.
    ("POST", "/v1/responses"): {"json": {"model": SERVED_MODEL, "input": PROMPTS[0], "max_output_tokens": 4}},
    ("POST", "/v1/classify"): {"json": {"model": "default", "input": PROMPTS[0]}},
    # 0.5.17 on: OpenAI transcription (an upload; the refusal comes before any audio is decoded).
    ("POST", "/v1/audio/transcriptions"): {"files": {"file": ("a.wav", b"RIFF")}, "data": {"language": "en"}},
}


def generation_routes():
    """(method, path) of every route of SGLang's app whose handler calls generate_request, directly or
    through a function it calls (the OpenAI adapter): derived from the code, not listed by hand."""
    import inspect
    import types

    from server_ext import cpu_compat

    cpu_compat.enable_without_gpu()
    from fastapi.routing import APIRoute
    from sglang.srt.entrypoints import http_server

    def names(fn):
        codes, seen = [fn.__code__], set()
        while codes:
            code = codes.pop()
            seen.update(code.co_names)
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        return seen

    from sglang.srt.managers.tokenizer_manager import TokenizerManager

    # generate_request, and the TokenizerManager methods that call it (score_request, 0.4.7.post1 on)
    generating = {"generate_request"} | {
        n for n, f in vars(TokenizerManager).items() if inspect.isfunction(f) and "generate_request" in names(f)}

    def serving_generates(attr, called):
        """0.4.8 on: OpenAI routes call app.state.openai_serving_<x>.<method>(...); the class in
        entrypoints/openai/serving_<x>(s).py generates on that route if a method the route calls,
        or one those call on self, does (0.5.6's responses API reads and cancels without generating)."""
        import importlib

        stem = attr[len("openai_serving_"):]
        for name in (f"sglang.srt.entrypoints.openai.serving_{stem}", f"sglang.srt.entrypoints.openai.serving_{stem}s"):
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            for cls in vars(module).values():
                if not (inspect.isclass(cls) and cls.__module__ == module.__name__):
                    continue
                methods = dict(inspect.getmembers(cls, inspect.isfunction))
                todo, seen = [m for m in called if m in methods], set()
                while todo:
                    method = todo.pop()
                    if method in seen:
                        continue
                    seen.add(method)
                    inner = names(methods[method])
                    if inner & generating:
                        return True
                    todo += [m for m in inner if m in methods]
        return False

    def reaches(fn, depth=2):
        called = names(fn)
        if any(n.startswith("openai_serving_") and serving_generates(n, called) for n in called):
            return True
        return bool(called & generating) or depth > 0 and any(
            inspect.isfunction(f) and f.__module__.startswith("sglang") and reaches(f, depth - 1)
            for f in (fn.__globals__.get(n) for n in called))

    return sorted((method, r.path) for r in http_server.app.routes if isinstance(r, APIRoute) and reaches(r.endpoint)
                  for method in r.methods if method in ("GET", "POST"))


def app_routes():
    """(method, path) of every route of the installed SGLang's app."""
    from server_ext import cpu_compat

    cpu_compat.enable_without_gpu()
    from fastapi.routing import APIRoute
    from sglang.srt.entrypoints import http_server

    return {(m, r.path) for r in http_server.app.routes if isinstance(r, APIRoute) for m in r.methods}


def bodies_of_this_release():
    routes = app_routes()
    return [(m, p) for m, p in BODIES if (m, p.split("#")[0]) in routes]


# Generation routes that answer before they generate: the refusal reaches the caller another way.
DEFERRED = {
    # The OpenAI batch API accepts the batch (200) and generates in a background task; a refused
    # batch completes with each request's error (the refusal message) in its output file.
    ("POST", "/v1/batches"): "test_a_batch_submitted_while_released_records_the_refusal",
}


# Liveness probes answer 200 while released, even where they generate (0.4.10's /health).
LIVENESS = {("GET", path) for path in LIVENESS_PATHS}


def test_every_generation_route_has_a_body_under_test():
    assert set(generation_routes()) - set(DEFERRED) - LIVENESS <= {(m, p.split("#")[0]) for m, p in BODIES}


def test_health_is_200_while_released_and_health_generate_is_503(server):
    """A server that released its memory on purpose is alive: probes and routers must keep it."""
    server.client.release()
    try:
        r = requests.get(server.url + "/health", timeout=60)
        assert r.status_code == 200, r.text
        if ("GET", "/health") in generation_routes():  # 0.4.10 on: /health generates; the body says why it did not
            assert r.json()["generation_refused"]["error"] == "memory_released", r.text
        assert requests.get(server.url + "/health_generate", timeout=60).status_code == 503
    finally:
        server.client.resume()
    assert requests.get(server.url + "/health", timeout=60).status_code == 200


def test_a_batch_submitted_while_released_records_the_refusal(server):
    """No request is lost without a reason: the batch ends with the refusal in its output file."""
    if ("POST", "/v1/batches") not in app_routes():
        pytest.skip("this SGLang release has no batch API (removed in 0.4.8)")
    line = {"custom_id": "r0", "method": "POST", "url": "/v1/completions",
            "body": {"model": "default", "prompt": PROMPTS[0], "max_tokens": 4}}
    upload = requests.post(server.url + "/v1/files", files={"file": ("b.jsonl", json.dumps(line).encode())},
                           data={"purpose": "batch"}, timeout=60)
    assert upload.status_code == 200, upload.text
    server.client.release()
    try:
        r = requests.post(server.url + "/v1/batches", timeout=60, json={
            "input_file_id": upload.json()["id"], "endpoint": "/v1/completions", "completion_window": "24h"})
        assert r.status_code == 200, r.text
        batch = r.json()
        deadline = time.monotonic() + 60
        while batch["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.2)
            batch = requests.get(f"{server.url}/v1/batches/{batch['id']}", timeout=60).json()
        assert batch["status"] == "completed", batch
        output = requests.get(f"{server.url}/v1/files/{batch['output_file_id']}/content", timeout=60).text
        result = json.loads(output.strip().splitlines()[0])
        assert result["response"] is None and "/resume_memory_occupation" in result["error"]["message"], result
    finally:
        server.client.resume()


def call_route(server, method, path):
    kwargs = BODIES[(method, path)]
    if kwargs.get("json", {}).get("model") == SERVED_MODEL:
        served = requests.get(server.url + "/v1/models", timeout=60).json()["data"][0]["id"]
        kwargs = dict(kwargs, json=dict(kwargs["json"], model=served))
    return requests.request(method, server.url + path.split("#")[0], timeout=60, **kwargs)


@pytest.mark.parametrize("tags", [["kv_cache"], ["weights"], None])
def test_every_generation_route_answers_the_same_503_while_released(server, tags):
    server.client.release(tags)
    released = tags or ["cuda_graph", "kv_cache", "weights"]
    expected = None
    for method, path in bodies_of_this_release():
        r = call_route(server, method, path)
        assert r.status_code == 503, (path, r.status_code, r.text)
        expected = expected or r.json()
        assert r.json() == expected, path  # one refusal, one JSON, whatever the route
    assert expected["error"] == "memory_released" and expected["released_tags"] == released
    assert "/resume_memory_occupation" in expected["message"] and json.dumps(released) in expected["message"]
    assert server.client.status()["released_tags"] == released  # nothing changed, nothing queued
    server.client.resume(tags)
    assert server.client.generate(PROMPTS[0], max_new_tokens=4)["meta_info"]["completion_tokens"] == 4
    for method, path in [("POST", "/v1/completions"), ("POST", "/generate#stream")]:
        assert call_route(server, method, path).status_code == 200  # the same routes serve again


def test_weights_cpu_backup_keeps_outputs_across_a_release(server):
    """No update after the resume: the backup put the weights' bytes back (the stand-in scribbles
    NaN over paused memory, the real memory saver maps fresh pages)."""
    info = requests.get(server.url + "/get_server_info", timeout=60).json()
    if "enable_weights_cpu_backup" in info:  # 0.5 on: SGLang's own backup (the saver's host copy) is used
        assert info["enable_weights_cpu_backup"] is True and info["weights_cpu_backup"] is True
    before = greedy(server.client)
    server.client.release()
    status = server.client.status()
    assert status["ranks"][0]["weights_cpu_backup_bytes"] == status["ranks"][0]["tags"]["weights"]["bytes"]
    reply = server.client.resume()
    assert reply["weights_current"] is True
    assert server.client.status()["weights_current"] is True
    assert greedy(server.client) == before


@pytest.mark.skipif(not ON_CPU, reason="the CPU test set-up's idle sleep (GPU runs use SGLang's own defaults)")
def test_an_idle_scheduler_sleeps_instead_of_polling(server):
    """On the CPU every test server sleeps while idle (``--sleep-on-idle`` from 0.4.7; on 0.4.6.post5
    the CPU compat's backport of it): a scheduler polling its sockets in a busy loop takes a whole
    core (measured: 8 CPU-seconds in 10 idle seconds) from the tests and the other servers."""
    import psutil

    schedulers = [p for p in psutil.Process(server.proc.pid).children(recursive=True) if "scheduler" in p.name()]
    assert schedulers, [p.name() for p in psutil.Process(server.proc.pid).children(recursive=True)]
    before = [sum(p.cpu_times()[:2]) for p in schedulers]
    time.sleep(3)
    used = [sum(p.cpu_times()[:2]) - b for p, b in zip(schedulers, before)]
    assert max(used) < 1.0, f"an idle scheduler used {max(used):.2f} CPU-seconds in 3 s"


@needs_standin
def test_patches_reached_the_scheduler_process(server):
    """Allocations carry the right tags, and they happened in the spawned scheduler process. Read
    for the running server's processes only: a start that ServerProcess had to repeat (a port
    taken under load) left its first scheduler's calls in the same log."""
    import psutil

    live = {child.pid for child in psutil.Process(server.proc.pid).children(recursive=True)}
    regions = [r for r in server.standin_log.calls("region") if r["pid"] in live]
    assert {r["tag"] for r in regions} == {"weights", "kv_cache"}
    assert all(r["pid"] != server.proc.pid and r["title"].startswith("sglang::scheduler") for r in regions)
    weights = [r for r in regions if r["tag"] == "weights"]
    kv = [r for r in regions if r["tag"] == "kv_cache"]
    assert len(weights) == 1 and weights[0]["bytes"] > 0
    assert len(kv) == 2  # ReqToTokenPool, then the MHA token-to-KV pool
    assert all(r["bytes"] > 0 for r in kv)


@needs_standin
@pytest.mark.parametrize(
    "tags, paused",
    [(["kv_cache"], ["kv_cache"]), (["weights"], ["weights"]), (None, ["kv_cache", "weights"])],
)
def test_release_pauses_exactly_the_asked_tags(server, tags, paused):
    import sglang_patch

    if tags is None and "cuda_graph" in sglang_patch.get("scheduler").native_tags and not sglang_patch.runtime_disabled():
        # SGLang's own release (0.5 on), which the runtime patches call, pauses the graphs' tag even
        # where no graph was captured (on the CPU): a tag with no memory, so no memory moves. (The
        # source series still replaces SGLang's handlers: docs/source-patches.md.)
        paused = paused + ["cuda_graph"]
    log = server.standin_log
    mark = log.mark()
    server.client.release(tags)
    assert [c["tag"] for c in log.since(mark, "pause")] == paused
    mark = log.mark()
    server.client.resume(tags)
    assert [c["tag"] for c in log.since(mark, "resume")] == sorted(paused, key=["cuda_graph", "weights", "kv_cache"].index)
    scheduler_pids = {r["pid"] for r in log.calls("region")}
    assert {c["pid"] for c in log.since(0) if c["call"] != "region"} <= scheduler_pids
