"""The released floor: GPU memory still used after a release of everything, stock SGLang beside
this package, with a bare CUDA context for reference, on the same GPU in one run (issue 12).

    python bench/released_floor.py --out docs/bench [--mem-fraction 0.85]

For each launcher (``sglang.launch_server``, then ``server_ext.launch``; same flags: Llama-3-8B
shape, dummy bf16 weights, ``--enable-memory-saver``): start, generate once, read the GPU's used
memory (nvidia-smi: every process), release all (stock: ``{}``, the package: ``{}`` = all three
tags), wait 2 s, read it again, stop, wait for the GPU to be empty. The bare context is a process
that only initialises CUDA (``torch.zeros(1, device="cuda")``). Prints and writes
``released_floor.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from sglang_patch_dev.device_flags import server_flags  # noqa: E402
from sglang_patch_dev.offline_models import build_shape_only, llama8b_config  # noqa: E402
from sglang_patch_dev.server_process import ServerProcess  # noqa: E402

GIB = 1 << 30
LAUNCHERS = {"stock": "sglang.launch_server", "package": "server_ext.launch"}


def device_used_bytes() -> int:
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) << 20  # MiB, first GPU


def settle(baseline: int, timeout: float = 60) -> int:
    """Wait until the GPU is back near ``baseline`` (a stopped server's memory is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        used = device_used_bytes()
        if used <= baseline + (64 << 20):
            return used
        time.sleep(1)
    return device_used_bytes()


def bare_context_bytes(baseline: int) -> int:
    code = ("import sys, torch; torch.zeros(1, device='cuda'); torch.cuda.synchronize(); "
            "print('ready', flush=True); sys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1)
        return device_used_bytes() - baseline
    finally:
        proc.communicate("\n", timeout=60)


def measure(kind: str, model_dir: str, fraction: float, out_dir: str, baseline: int) -> dict:
    server = ServerProcess(["--model-path", model_dir, "--load-format", "dummy", "--enable-memory-saver",
                            *server_flags("cuda", dtype="bfloat16", mem_fraction=fraction)],
                           os.path.join(out_dir, f"released_floor_{kind}.log"), module=LAUNCHERS[kind],
                           echo_command=True, client_timeout=300)
    server.start(timeout=600)
    try:
        # Stock pauses under a running request and dies ("Pointer argument cannot be accessed from
        # Triton"): let SGLang's own warm-up request finish first.
        time.sleep(10)
        resident = device_used_bytes() - baseline
        started = time.monotonic()
        r = requests.post(server.url + "/release_memory_occupation", json={}, timeout=300)
        release_s = time.monotonic() - started
        r.raise_for_status()
        time.sleep(2)
        released = device_used_bytes() - baseline
        alive = server.alive()  # a dead server's floor is 0: the figure would mean nothing
        status = server.client.status() if kind == "package" else None
    finally:
        server.stop()
    return {"resident_gib": resident / GIB, "released_floor_gib": released / GIB if alive else None,
            "alive_after_release": alive, "release_s": release_s,
            "reply": r.json(), "status_rank0": status["ranks"][0] if status else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mem-fraction", type=float, default=0.85)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model_dir = build_shape_only(tempfile.mkdtemp(prefix="floor-llama8b-"), llama8b_config())
    baseline = settle(device_used_bytes())
    result = {"date": time.strftime("%Y-%m-%d"), "mem_fraction_static": args.mem_fraction,
              "gpu_used_before_gib": baseline / GIB, "bare_cuda_context_gib": bare_context_bytes(baseline) / GIB}
    for kind in LAUNCHERS:
        settle(baseline)
        result[kind] = measure(kind, model_dir, args.mem_fraction, args.out, baseline)
        print(kind, json.dumps({k: v for k, v in result[kind].items() if k.endswith("gib")}), flush=True)
    floor = result["package"]["released_floor_gib"]
    result["package_floor_above_bare_context_gib"] = None if floor is None else floor - result["bare_cuda_context_gib"]
    with open(os.path.join(args.out, "released_floor.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=2))


if __name__ == "__main__":
    main()
