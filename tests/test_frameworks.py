"""The RL frameworks' own call sequences, replayed with only ``SGLANG_TAGGED_MEMORY=1`` set.

Nothing here calls ``sglang_patch.apply()`` or starts ``server_ext.launch``: each server is
started the way the framework starts it (stock ``python -m sglang.launch_server``; slime's
spawned ``launch_server``; verl main's ``_launch_subprocesses`` + uvicorn; AReaL's custom
scheduler entry; verl v0.5's in-process ``Engine`` subclass) and driven with the framework's
calls, bodies and error handling (``raise_for_status``). The launchers and the sources they
replay, file by file, are in tests/frameworks/. Each sequence pushes real tensors through
SGLang's own serializer (or a checkpoint from disk, AReaL's colocated mode), and checks that the
output follows each push: weights B, then A (the reference outputs again), then B.

Each runs on the releases its framework pins (CI runs every supported release, and the
framework's pin is where its users are): verl v0.5 on 0.4.6.post5; verl main on 0.5.6; slime
main's sequence on 0.5.15.post1 (slime main's pin), 0.5.12.post1 (slime v0.3.0's) and 0.5.9 (slime
v0.2.3-v0.2.4's; not on v0.2.0's 0.5.5.post1, which has no ``/model_info`` route); AReaL on
0.5.10.post1. The stock launcher with only the switch, and another patch inside SGLang's own
release/resume, are in every release's smoke test (tests/test_smoke.py).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest
import requests

from conftest import ON_CPU, REPO, START_TIMEOUT_S
from helpers import FRAMEWORKS_DIR, framework_server, load_weights, serialized, sglang_importable_here, switch_env
from server_ext.envs import prepend_pythonpath
from sglang_patch._core import installed_sglang_version
from sglang_patch_dev.device_flags import server_args_has_field

RELEASE = installed_sglang_version()
PROMPT_IDS = [[5, 17, 33, 48, 60], [100, 7, 250, 3], [11, 12, 13, 14, 15, 16], [300, 200, 100]]
SAMPLING = {"max_new_tokens": 8, "temperature": 0.0}


def only_on(*releases):
    return pytest.mark.skipif(RELEASE not in releases, reason=f"replayed on sglang {', '.join(releases)}")


def post(server, route: str, body=None):
    """A framework's POST: JSON body, ``raise_for_status()`` (verl, slime and AReaL read only the status)."""
    r = requests.post(server.url + route, json={} if body is None else body, timeout=120)
    r.raise_for_status()
    return r.json() if r.content else None


def generate(server, route="/generate"):
    """The rollout: every prompt as input ids, greedy, with logprobs (slime's and AReaL's body)."""
    return [post(server, route, {"input_ids": ids, "sampling_params": SAMPLING, "return_logprob": True})["text"]
            for ids in PROMPT_IDS]


# -- weights: A (the checkpoint the server loaded) and B (A plus seeded noise) ---------------------


@pytest.fixture(scope="module")
def checkpoints(tiny_model, tmp_path_factory):
    """{"A": model dir, "B": a copy whose weights differ}: two checkpoints of one architecture."""
    import torch
    from safetensors.torch import save_file

    b_dir = str(tmp_path_factory.mktemp("weights-b"))
    for f in os.listdir(tiny_model):
        if not f.endswith(".safetensors"):
            shutil.copy(os.path.join(tiny_model, f), b_dir)
    generator = torch.Generator().manual_seed(1)
    weights = {n: (t + torch.randn(t.shape, generator=generator, dtype=t.dtype) * 0.5 if t.dim() > 1 else t).contiguous()
               for n, t in load_weights(tiny_model).items()}
    save_file(weights, os.path.join(b_dir, "model.safetensors"))
    return {"A": tiny_model, "B": b_dir}


def assert_follows_pushes(reference, outputs_by_step):
    """Outputs after pushes B, A, B: B differs from the reference, A gives it back, B again gives B's."""
    (b1, first), (a, second), (b2, third) = outputs_by_step
    assert (b1, a, b2) == ("B", "A", "B")
    assert second == reference, "after pushing the loaded checkpoint back, outputs must equal the reference"
    assert first != reference, "weights B must change the outputs (else this test could not fail)"
    assert third == first, "the same weights must give the same outputs"


# -- slime main: spawned launch_server, flattened buckets, weight versions (0.5.9, 0.5.12.post1, 0.5.15.post1)


@only_on("0.5.9", "0.5.12.post1", "0.5.15.post1")  # slime main pins 0.5.15.post1, v0.3.0 0.5.12.post1, v0.2.3-4 0.5.9
def test_slime_main_sequence(tmp_path_factory, checkpoints):
    """slime/ray/rollout.py + train.py (THUDM/slime@624b824a): after launch everything is released
    (placement_group.py:250; offload = GET /flush_cache + POST /release_memory_occupation {},
    sglang_engine.py:328-330); each step resumes ["weights"] (rollout.py:343-356), pushes the weights
    inside /pause_generation ... /continue_generation as FlattenedTensorBucket payloads with
    load_format "flattened_bucket" and weight_version (update_weight_from_tensor.py:277-425), resumes
    ["kv_cache", "cuda_graph"] in one call (rollout.py:358-363), generates and releases {} again.
    slime's rollout env (rollout.py:142-161) sets SGLANG_MEMORY_SAVER_CUDA_GRAPH=true."""
    weights = {name: load_weights(path) for name, path in checkpoints.items()}
    # slime's server args with the memory saver on (sglang_engine.py:532-611): no warm-up, and, where
    # ServerArgs has the field (0.5.17; not 0.5.9), no prefill CUDA graphs (sglang_engine.py:606-611:
    # SGLang's breakable backend refuses the memory saver's graph tag, which slime's
    # SGLANG_MEMORY_SAVER_CUDA_GRAPH=true turns on; found on the H200 without it).
    extra = ["--skip-server-warmup"]
    if server_args_has_field("cuda_graph_backend_prefill"):
        extra += ["--cuda-graph-backend-prefill", "disabled"]
    srv = framework_server(tmp_path_factory, "slime", "slime_launch", checkpoints["A"], extra=extra,
                           SGLANG_MEMORY_SAVER_CUDA_GRAPH="true").start(timeout=START_TIMEOUT_S)
    try:
        reference = generate(srv)

        def offload():
            requests.get(srv.url + "/flush_cache", timeout=60).raise_for_status()
            post(srv, "/release_memory_occupation", {})

        offload()
        steps = []
        for version, name in enumerate(("B", "A", "B"), start=1):
            assert post(srv, "/resume_memory_occupation", {"tags": ["weights"]})["released_tags"] == ["cuda_graph", "kv_cache"]
            post(srv, "/pause_generation", {})
            requests.get(srv.url + "/flush_cache", timeout=60).raise_for_status()
            tensors = list(weights[name].items())
            reply = post(srv, "/update_weights_from_tensor", {
                "serialized_named_tensors": [serialized(tensors, flattened=True)],
                "load_format": "flattened_bucket", "flush_cache": False, "weight_version": str(version)})
            assert reply["success"] is True, reply
            post(srv, "/continue_generation", {})
            assert post(srv, "/resume_memory_occupation", {"tags": ["kv_cache", "cuda_graph"]})["released_tags"] == []
            steps.append((name, generate(srv)))
            model_info = requests.get(srv.url + "/model_info", timeout=60).json()
            assert model_info.get("weight_version") == str(version), model_info
            offload()
        assert_follows_pushes(reference, steps)
        status = requests.get(srv.url + "/memory_occupation", timeout=60)
        assert status.status_code == 200 and status.json()["released_tags"] == ["cuda_graph", "kv_cache", "weights"]
        # One tag at a time on this server too (slime itself resumes by tag and releases all).
        post(srv, "/resume_memory_occupation", {})
        assert post(srv, "/release_memory_occupation", {"tags": ["kv_cache"]})["released_tags"] == ["kv_cache"]
        assert srv.alive(), srv.log_tail()
    finally:
        srv.stop()


# -- AReaL v1.0.4: custom scheduler entry, pause/continue, update from disk while released (0.5.10.post1)


@only_on("0.5.10.post1")
@pytest.mark.parametrize("memory_saver", [False, True], ids=["areal-default", "memory-saver+backup"])
def test_areal_colocated_sequence(tmp_path_factory, checkpoints, memory_saver):
    """areal/trainer/rl_trainer.py (inclusionAI/AReaL@v1.0.4): offload = /pause_generation {} +
    /release_memory_occupation {} (:411-441); onload = /resume_memory_occupation {} +
    /continue_generation {} (:443-489). Init offloads (:372); each step: onload -> rollout ->
    offload -> /update_weights_from_disk {model_path, abort_all_requests: true} while released
    (fsdp_engine.py:1473-1492) -> onload -> eval -> offload -> rollout.resume(), whose requests reach
    the server while it is paused and released (:811). The first rollout follows a resume with no
    update. Every call is retried 3 times, 1 s apart, then raises (areal/infra/utils/http.py:23-119):
    here any non-2xx fails at once. AReaL's default runs without the memory saver (cli_args.py:1765);
    with it, the docs' line SGLANG_TAGGED_MEMORY_WEIGHTS_CPU_BACKUP=1 keeps the first rollout's weights."""
    extra_env = {"SGLANG_TAGGED_MEMORY_WEIGHTS_CPU_BACKUP": "1"} if memory_saver else {}
    srv = framework_server(tmp_path_factory, "areal", "areal_launch", checkpoints["A"], memory_saver=memory_saver,
                           **extra_env).start(timeout=START_TIMEOUT_S)
    try:
        reference = generate(srv)

        def offload():
            post(srv, "/pause_generation", {})
            post(srv, "/release_memory_occupation", {})

        def onload():
            post(srv, "/resume_memory_occupation", {})
            post(srv, "/continue_generation", {})

        offload()
        steps, early = [], None
        for name in ("B", "A", "B"):
            onload()
            rollout = generate(srv)
            if early is not None:  # the request sent while paused and released waited, then ran on these weights
                early.join(timeout=120)
                assert early.result == rollout[0], early.result
            offload()
            reply = post(srv, "/update_weights_from_disk", {"model_path": checkpoints[name], "abort_all_requests": True})
            assert reply["success"] is True and "resumed ['weights'] first" in reply["message"], reply
            onload()
            steps.append((name, generate(srv)))  # eval
            offload()
            early = _send_in_background(srv, PROMPT_IDS[0])  # rollout.resume(): the next step's first request
            time.sleep(1.0)
            assert early.is_alive(), f"a request sent while paused must wait, not answer: {early.result}"
        onload()
        early.join(timeout=120)
        assert early.result == steps[-1][1][0]
        assert_follows_pushes(reference, steps)
        assert srv.alive(), srv.log_tail()
    finally:
        srv.stop()


class _send_in_background(threading.Thread):
    """One /generate in a thread; ``result`` is its text, or the error it met."""

    def __init__(self, srv, ids):
        super().__init__(daemon=True)
        self.srv, self.ids, self.result = srv, ids, None
        self.start()

    def run(self):
        try:
            self.result = post(self.srv, "/generate", {"input_ids": self.ids, "sampling_params": SAMPLING,
                                                        "return_logprob": True})["text"]
        except Exception as e:  # noqa: BLE001 - the test reads it
            self.result = f"failed: {e!r}"


# -- verl main: SGLangHttpServer layout, trainer over HTTP (0.5.6) --------------------------------------


@only_on("0.5.6")
def test_verl_main_sequence(tmp_path_factory, checkpoints):
    """verl main (volcengine/verl@b178a3cd; setup.py pins sglang 0.5.6), HYBRID mode: generate ->
    the actor's sleep() releases ["kv_cache", "weights"] through the tokenizer manager
    (async_sglang_server.py:384-395) -> the trainer's rollout_mode() (fsdp_workers.py:735-752):
    POST /resume_memory_occupation {"tags": ["weights"]}, sglang.srt.weight_sync.utils.update_weights
    -> POST /update_weights_from_tensor (LocalSerializedTensor per tensor, load_format None,
    flush_cache default True; http_server_engine.py:747-777), GET /flush_cache, POST resume
    {"tags": ["kv_cache"]}. Then one_step_off_policy (ray_trainer.py:437-438, 510-511): clear_kv_cache()
    releases ["kv_cache"] and the next generation comes with no resume: this server runs with
    SGLANG_TAGGED_MEMORY_RESUME_ON_GENERATE=1, as docs/frameworks.md says for that recipe."""
    sglang_importable_here()
    from sglang.srt.model_executor.model_runner import LocalSerializedTensor
    from sglang.srt.utils import MultiprocessingSerializer

    weights = {name: load_weights(path) for name, path in checkpoints.items()}
    srv = framework_server(tmp_path_factory, "verl-main", "verl_main_server", checkpoints["A"], extra=["--skip-server-warmup"],
                           SGLANG_TAGGED_MEMORY_RESUME_ON_GENERATE="1").start(timeout=START_TIMEOUT_S)
    try:
        reference = generate(srv, "/verl_actor/generate")
        steps = []
        for name in ("B", "A", "B"):
            post(srv, "/verl_actor/sleep")
            assert post(srv, "/resume_memory_occupation", {"tags": ["weights"]})["released_tags"] == ["kv_cache"]
            named = [(n, LocalSerializedTensor(values=[serialized(t)])) for n, t in weights[name].items()]
            payload = MultiprocessingSerializer.serialize(named)
            payload = payload if isinstance(payload, str) else base64.b64encode(payload).decode()
            reply = post(srv, "/update_weights_from_tensor", {"serialized_named_tensors": [payload], "load_format": None,
                                                              "flush_cache": True})
            assert reply["success"] is True, reply
            requests.get(srv.url + "/flush_cache", timeout=60).raise_for_status()
            post(srv, "/resume_memory_occupation", {"tags": ["kv_cache"]})
            steps.append((name, generate(srv, "/verl_actor/generate")))
        assert_follows_pushes(reference, steps)
        # one_step_off_policy: clear_kv_cache(), then the next batch is generated with no resume.
        post(srv, "/verl_actor/clear_kv_cache")
        assert requests.get(srv.url + "/memory_occupation", timeout=60).json()["released_tags"] == ["kv_cache"]
        assert generate(srv, "/verl_actor/generate") == steps[-1][1]
        assert requests.get(srv.url + "/memory_occupation", timeout=60).json()["released_tags"] == []
        assert srv.alive(), srv.log_tail()
    finally:
        srv.stop()


# -- verl v0.5: the in-process Engine subclass (0.4.6.post5) -------------------------------------------


@only_on("0.4.6.post5")
def test_verl_v05_engine_sequence(tmp_path, checkpoints):
    """verl v0.5.0's AsyncEngine and FSDP sharding manager with multi_stage_wake_up (see
    tests/frameworks/verl_v05_engine.py for the file-by-file sources), in a fresh interpreter with
    only the switch set."""
    env = switch_env(str(tmp_path))
    prepend_pythonpath(env, REPO)
    env["PYTHONFAULTHANDLER"] = "1"  # an abort prints every thread's Python stack

    def run():
        return subprocess.run(
            [sys.executable, os.path.join(FRAMEWORKS_DIR, "verl_v05_engine.py"), checkpoints["A"],
             os.path.join(checkpoints["B"], "model.safetensors"), "cpu" if ON_CPU else "cuda"],
            capture_output=True, text=True, timeout=600, env=env, cwd=str(tmp_path))

    proc = run()
    if proc.returncode == -signal.SIGABRT and "Broken pipe" in proc.stderr:
        # Seen about once in ten runs on the CPU (2026-12-02, also before that day's changes): a
        # C++ thread of the Engine's process meets a closed pipe and aborts before any output.
        # Not understood yet; one more run says whether it is that flake or a real failure.
        warnings.warn("verl v0.5 replay aborted with 'Broken pipe'; ran it again:\n" + proc.stderr[-3000:])
        proc = run()
    assert proc.returncode == 0, proc.stderr[-4000:] + "\n-- stdout:\n" + proc.stdout[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(step["update"][0] is True for step in out["steps"]), out["steps"]
    assert_follows_pushes(out["reference"], [(s["weights"], s["texts"]) for s in out["steps"]])
    assert out["status"]["released_tags"] == ["cuda_graph", "kv_cache", "weights"], out["status"]
