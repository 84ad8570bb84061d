"""The staged RL weight-update sequence, live: ``python examples/demo.py`` (or scripts/demo.sh).

Builds a tiny Llama model offline, launches ``python -m server_ext.launch`` on it and walks the
multi-stage awake over HTTP, printing each step:

    generate -> release all -> resume weights -> update weights -> resume kv_cache -> generate

On a GPU the server runs with ``--enable-memory-saver`` (the real torch_memory_saver) and the
demo prints GPU memory after each step. On a machine without a GPU it runs on the CPU without
the memory saver: every call and reply is real, but no memory moves (the reply says so).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root

from sglang_patch_dev.device_flags import server_flags  # noqa: E402
from sglang_patch_dev.server_process import ServerProcess  # noqa: E402
from sglang_patch_dev.offline_models import build  # noqa: E402


def gpu_used_gib():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used / 2**30
    except Exception:
        return None


def has_gpu() -> bool:
    return gpu_used_gib() is not None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary model and log directory")
    args = ap.parse_args(argv)

    gpu = has_gpu()
    work = tempfile.mkdtemp(prefix="sglang-tagged-demo-")
    model = build(os.path.join(work, "tiny-llama"))
    flags = ["--model-path", model]
    if gpu:
        flags += ["--enable-memory-saver", *server_flags("cuda", mem_fraction=0.5)]
    else:
        flags += server_flags("cpu")
    env = dict(os.environ, TMPDIR=work)
    env.setdefault("TORCHDYNAMO_DISABLE", "1")
    server = ServerProcess(flags, log_path=os.path.join(work, "server.log"), env=env)

    def step(title, reply=None):
        mem = gpu_used_gib()
        mem_txt = f"  | GPU used {mem:6.2f} GiB" if mem is not None else ""
        print(f"{title:<46}{mem_txt}")
        if isinstance(reply, dict):
            shown = {k: reply[k] for k in ("released_tags", "changed_tags", "message") if k in reply}
            print(f"    -> {shown}")

    print(f"device: {'GPU (real torch_memory_saver)' if gpu else 'CPU (no memory saver: states change, no memory moves)'}")
    print(f"model:  {model}\nlog:    {server.log_path}\n")
    t0 = time.monotonic()
    with server:
        c = server.client
        step(f"server ready in {time.monotonic() - t0:.0f}s at {server.url}")
        prompt = "Release the KV cache, update the weights"
        before = c.generate(prompt, max_new_tokens=12)["text"]
        step(f"1. generate: {before!r}")
        step("2. release all (rollout done, trainer's turn)", c.release())
        step("3. resume ['weights'] (KV cache and CUDA graphs stay released)", c.resume(["weights"]))
        reply = c.update_weights_from_disk(model)
        step(f"4. update_weights_from_disk: {reply['message']}")
        step("5. resume ['kv_cache'] (trainer copy is freed; the graphs come back with it)", c.resume(["kv_cache"]))
        after = c.generate(prompt, max_new_tokens=12)["text"]
        step(f"6. generate: {after!r}")
        try:
            c.release(["kv"])
        except Exception as e:
            step(f"7. a bad tag is a clear error: {e}")
        print(f"\nsame greedy output before and after the staged update: {before == after}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if before != after:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
