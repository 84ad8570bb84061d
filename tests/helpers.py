"""Helpers the end-to-end modules share: long streaming requests, a checkpoint's tensors, a
trainer's serialized weight payload, and servers started the way the RL frameworks start them."""

from __future__ import annotations

import base64
import glob
import json
import os
import runpy
import sys
import threading

import requests

from conftest import ON_CPU, PROMPTS, REPO, STOP_GRACE_S, server_env, server_flags
from server_ext import cpu_compat
from server_ext.envs import prepend_pythonpath
from sglang_patch_dev.server_process import ServerProcess


class Streams:
    """``n`` long streaming generations in threads, all producing tokens when the constructor returns.

    ``last_tokens``: the last stream generates that many tokens instead of ``max_new_tokens``, so
    that a release sent after the constructor returns surely finds a request running, however fast
    the others finish on the machine at hand (a stream's first token can reach the test seconds
    after the scheduler produced it while the CPU is loaded: in CI 0.5.23's 16 x 300-token streams
    were done before such a release reached the scheduler)."""

    def __init__(self, server, n=1, max_new_tokens=1500, last_tokens=None):
        self.results = [dict() for _ in range(n)]
        self.started = [threading.Event() for _ in range(n)]
        self.lengths = [max_new_tokens] * n
        if last_tokens is not None:
            self.lengths[-1] = last_tokens
        bodies = [{"text": PROMPTS[2], "stream": True,
                   "sampling_params": {"max_new_tokens": length, "temperature": 0, "ignore_eos": True}}
                  for length in self.lengths]
        self.threads = [
            threading.Thread(target=self._run, args=(server.url, body, r, e))
            for body, r, e in zip(bodies, self.results, self.started)
        ]
        for t in self.threads:
            t.start()
        assert all(e.wait(60) for e in self.started), "not every stream started"

    def _run(self, url, body, result, started):
        with requests.post(url + "/generate", json=body, stream=True, timeout=300) as r:
            for line in r.iter_lines():
                if line and line != b"data: [DONE]":
                    started.set()
                    result["last"] = json.loads(line[len(b"data: "):])
                if line == b"data: [DONE]":
                    result["done"] = True

    def join(self):
        for t in self.threads:
            t.join(300)
        return [r["last"]["meta_info"]["finish_reason"] for r in self.results]



def load_weights(model_dir: str) -> dict:
    from safetensors.torch import load_file

    weights = {}
    for f in sorted(glob.glob(os.path.join(model_dir, "*.safetensors"))):
        weights.update(load_file(f))
    return weights


def sglang_importable_here() -> None:
    """SGLang's serializer and tensor classes are imported in this (test) process, as a trainer does;
    on the CPU their modules need the CPU compat's stand-ins (vllm, sgl_kernel) to import. Appended
    to the path: an installed package of the same name wins."""
    if ON_CPU:
        sys.path.extend(f for f in cpu_compat.folders() if f not in sys.path)


def serialized(named_tensors, flattened=False) -> str:
    """One TP rank's payload as the trainers make it: SGLang's MultiprocessingSerializer over the
    (name, tensor) list or slime's FlattenedTensorBucket, base64 text for HTTP. On the CPU the
    tensors travel as shared-memory files (the GPU sends CUDA IPC handles)."""
    import torch.multiprocessing

    sglang_importable_here()
    from sglang.srt.utils import MultiprocessingSerializer

    torch.multiprocessing.set_sharing_strategy("file_system")
    payload = named_tensors
    if flattened:
        from sglang.srt.weight_sync.tensor_bucket import FlattenedTensorBucket

        bucket = FlattenedTensorBucket(named_tensors=named_tensors)
        payload = {"flattened_tensor": bucket.get_flattened_tensor(), "metadata": bucket.get_metadata()}
    data = MultiprocessingSerializer.serialize(payload)
    return data if isinstance(data, str) else base64.b64encode(data).decode()



# -- servers started the way a framework starts them -----------------------------------------------

FRAMEWORKS_DIR = os.path.join(REPO, "tests", "frameworks")


def switch_env(tmp_dir: str, **extra: str) -> dict:
    """The environment a framework gives SGLang: its own, plus the one switch (and, on this CPU
    machine, the memory-saver stand-in and the CPU compat on the path)."""
    env = server_env(tmp_dir)
    env["SGLANG_TAGGED_MEMORY"] = "1"
    env.pop("SGLANG_TAGGED_MEMORY_SAID", None)
    if ON_CPU:
        cpu_compat.add_to_environment(env)
    prepend_pythonpath(env, FRAMEWORKS_DIR)
    env.update(extra)
    return env


def framework_server(tmp_path_factory, name: str, module: str, model: str, memory_saver=True, extra=(), **env):
    """A server started as ``python -m <module>`` with only the switch (not started yet)."""
    tmp = str(tmp_path_factory.mktemp(name))
    return ServerProcess(["--model-path", model, *server_flags(memory_saver), *extra],
                         log_path=os.path.join(tmp, "server.log"), env=switch_env(tmp, **env), module=module,
                         stop_grace_s=STOP_GRACE_S)


def third_party_patched_sglang(dest: str) -> str:
    """A copy of the installed SGLang with a stand-in third-party source patch in its release/resume
    handlers (tests/frameworks/third_party_patch.py; it reads SGLang's source without importing it,
    so it runs here). Returns the folder to put first on PYTHONPATH."""
    runpy.run_path(os.path.join(FRAMEWORKS_DIR, "third_party_patch.py"))["main"](dest)
    return dest
