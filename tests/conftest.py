"""Shared fixtures: a tiny model built offline and a patched server launched as a real process.

The same end-to-end tests run on this CPU machine (CI) and on a GPU (tests/gpu and the device
command in docs/testing.md). Where they run is chosen by SGLANG_PATCH_TEST_DEVICE, else by whether
CUDA is available:
- cpu: ``--device cpu``, and the torch_memory_saver stand-in from tests/support on PYTHONPATH,
  logging every call to a per-server file;
- cuda: the real torch_memory_saver (``--enable-memory-saver``) and the real CUDA path.
"""

from __future__ import annotations

import json
import os
import sys
import threading

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# Python caches compiled bytecode (__pycache__) unless PYTHONDONTWRITEBYTECODE is set, as it is in
# some sandboxes and CI images. Without the cache every process that imports torch, transformers
# and SGLang compiles them from source again: a test server (three processes) cost 75 CPU-s on
# 0.4.6.post5 and 140 on 0.5.23 on a 2-core machine, with the cache 26 and 49 (bench/README.md).
# The tests and the servers they start (which inherit this environment) write it as a normal
# Python does; the first start after an install pays for the compile once.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

from server_ext.envs import prepend_pythonpath  # noqa: E402
from sglang_patch_dev import device_flags  # noqa: E402
from sglang_patch_dev.server_process import ServerProcess  # noqa: E402
from sglang_patch_dev.offline_models import build  # noqa: E402

STANDIN_DIR = os.path.join(REPO, "tests", "support")


def _device() -> str:
    forced = os.environ.get("SGLANG_PATCH_TEST_DEVICE")
    if forced:
        return forced
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


DEVICE = _device()
ON_CPU = DEVICE == "cpu"
# Seconds a test server gets to start. One start is 75 (0.4.x) to 140 (0.5.23) CPU-seconds of
# imports and set-up on this 2-core machine (bench/server_start_cost.py); in CI two modules start
# servers side by side in each of two lanes, so a start can take twice its CPU time and more. A
# start that fails says so at once (ServerProcess watches the process); this limit is for a hang.
START_TIMEOUT_S = 600
# Seconds a test server gets after SIGTERM before SIGKILL: a test is done with it by then, and
# SGLang's drain takes 5 s at least (sglang_patch_dev.server_process.ServerProcess).
STOP_GRACE_S = 2.0
needs_standin = pytest.mark.skipif(not ON_CPU, reason="reads the CPU stand-in's call log (on GPU: tests/gpu)")

PROMPTS = [
    "The quick brown fox",
    "Release the KV cache, update the weights",
    "SGLang serves language models",
    "0123456789",
]


def server_flags(memory_saver: bool = True):
    flags = ["--enable-memory-saver"] if memory_saver else []
    if ON_CPU:
        return flags + device_flags.server_flags("cpu")
    return flags + device_flags.server_flags("cuda", dtype="bfloat16", mem_fraction=0.3)


def server_env(tmp_dir: str) -> dict:
    """A private TMPDIR (SGLang leaves socket files there) and, on CPU, the stand-in first on the path."""
    env = dict(os.environ)
    env["TMPDIR"] = tmp_dir
    env["TORCHDYNAMO_DISABLE"] = "1" if ON_CPU else env.get("TORCHDYNAMO_DISABLE", "0")
    if ON_CPU:
        prepend_pythonpath(env, STANDIN_DIR)
        env["TMS_STANDIN_LOG"] = os.path.join(tmp_dir, "tms-calls.jsonl")
    return env


class StandinLog:
    """The stand-in's call log of one server: a list of {pid, title, call, tag, bytes}."""

    def __init__(self, path: str):
        self.path = path

    def calls(self, call=None):
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [r for r in rows if call is None or r["call"] == call]

    def mark(self) -> int:
        return len(self.calls())

    def since(self, mark: int, call=None):
        return [r for r in self.calls()[mark:] if call is None or r["call"] == call]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build(str(tmp_path_factory.mktemp("tiny-model")))


def make_server(tmp_path_factory, model_path: str, name: str, memory_saver: bool = True, extra=(), api_key=None) -> ServerProcess:
    """A patched server for ``model_path`` with the test flags, not started yet."""
    tmp = str(tmp_path_factory.mktemp(name))
    server = ServerProcess(
        ["--model-path", model_path, *server_flags(memory_saver), *extra, *(["--api-key", api_key] if api_key else [])],
        log_path=os.path.join(tmp, "server.log"),
        env=server_env(tmp),
        api_key=api_key,
        stop_grace_s=STOP_GRACE_S,
    )
    server.standin_log = StandinLog(os.path.join(tmp, "tms-calls.jsonl"))
    return server


def start_all(*servers: ServerProcess) -> None:
    """Start servers side by side (much of a start is waiting), raising the first failure.

    On a GPU they start one after another: each sizes its KV pool from the memory free when it
    started, so a neighbour allocating its own pool meanwhile would leave it none (SGLang 0.4.8:
    "Not enough memory")."""
    if DEVICE == "cuda":
        for started, server in enumerate(servers):
            try:
                server.start(timeout=START_TIMEOUT_S)
            except Exception:
                for other in servers[:started]:
                    other.stop()
                raise
        return
    errors = []

    def start(server):
        try:
            server.start(timeout=START_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 - re-raised below, in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for server in servers:
            server.stop()
        raise errors[0]


def launch(tmp_path_factory, model_path: str, name: str, **options) -> ServerProcess:
    """A started server (see make_server)."""
    return make_server(tmp_path_factory, model_path, name, **options).start(timeout=START_TIMEOUT_S)


def greedy(client, prompts=PROMPTS, max_new_tokens=12):
    return [client.generate(p, max_new_tokens=max_new_tokens)["text"] for p in prompts]
