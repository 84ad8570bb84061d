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
import time
import uuid

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
    were done before such a release reached the scheduler). Once it has served, ``abort_last``
    ends it as a client does (SGLang's ``/abort_request``), rather than waiting for its tokens:
    0.5.23 decodes ~40 tokens/s on two loaded cores."""

    def __init__(self, server, n=1, max_new_tokens=1500, last_tokens=None):
        self.url = server.url
        self.results = [dict() for _ in range(n)]
        self.started = [threading.Event() for _ in range(n)]
        self.lengths = [max_new_tokens] * n
        if last_tokens is not None:
            self.lengths[-1] = last_tokens
        self.rids = [f"stream-{uuid.uuid4().hex}" for _ in range(n)]
        bodies = [{"text": PROMPTS[2], "stream": True, "rid": rid,
                   "sampling_params": {"max_new_tokens": length, "temperature": 0, "ignore_eos": True}}
                  for length, rid in zip(self.lengths, self.rids)]
        self.threads = [
            threading.Thread(target=self._run, args=(self.url, body, r, e))
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

    def abort_last(self) -> None:
        """End the last stream as a client does: SGLang's ``/abort_request`` with its rid."""
        r = requests.post(self.url + "/abort_request", json={"rid": self.rids[-1]}, timeout=60)
        assert r.status_code == 200, r.text

    def join(self):
        for t in self.threads:
            t.join(300)
        return [r["last"]["meta_info"]["finish_reason"] for r in self.results]

    def completed_or_aborted_by_client(self, reasons) -> bool:
        """Every stream but the last completed in full; the last in full or by ``abort_last``
        (not by a release: its reason would say the memory is being released)."""
        full = [{"type": "length", "length": n} for n in self.lengths]
        last = reasons[-1]
        return reasons[:-1] == full[:-1] and (
            last == full[-1] or (last["type"] == "abort" and "being released" not in str(last.get("message"))))

    def ended_by_the_release(self, reasons) -> bool:
        """Release mode 'abort' ended every stream still running when it reached the scheduler, with
        the reason (the memory is being released), and the long last one surely; a stream done
        before it completed in full."""
        by_release = [r["type"] == "abort" and "being released" in str(r.get("message")) for r in reasons]
        full = [{"type": "length", "length": n} for n in self.lengths]
        return len(reasons) == len(self.lengths) and by_release[-1] and all(
            b or r == f for b, r, f in zip(by_release, reasons, full))


def release_seen_waiting(client, streams: Streams, tags, while_waiting=lambda: None, wait_timeout=240):
    """Release ``tags`` in mode 'wait' while ``streams`` run (its last one long, ``last_tokens``):
    the release is sent from a thread; once the status shows it waiting in the scheduler,
    ``while_waiting()`` runs and the long stream is ended by its client, and the release answers
    when the others have completed. Returns (its reply, whether it was seen waiting)."""
    answered = {}

    def release():
        try:
            answered["reply"] = client.release(tags, wait_timeout=wait_timeout)
        except Exception as e:  # the assertion in the test says what went wrong
            answered["reply"] = e

    thread = threading.Thread(target=release)
    thread.start()
    seen_waiting = False
    while thread.is_alive() and not seen_waiting:
        seen_waiting = client.status()["ranks"][0]["release_waiting"] == list(tags)
        time.sleep(0.02)
    if seen_waiting:
        while_waiting()
        streams.abort_last()
    thread.join(wait_timeout + 60)
    return answered.get("reply"), seen_waiting


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
