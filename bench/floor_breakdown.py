"""What the released floor is made of: every byte a released server still holds on the GPU, by
where it was allocated (issue 12).

    python bench/floor_breakdown.py --out $OUT/breakdown [--mem-fraction 0.85] [--disable-cuda-graph]

Starts ``server_ext.launch`` (8B shape, dummy bf16 weights, ``--enable-memory-saver``, the
device's flags) with a start-up hook in every process that uses CUDA: the allocator records the
Python stack of each allocation from the first CUDA call on
(``torch.cuda.memory._record_memory_history``), and a thread writes a snapshot once asked (a
request file). After a generate and a release of everything, the bench asks, and prints, for
each process that allocated on the GPU: the device memory used (nvidia-smi), the allocator's reserved and allocated
bytes outside the tagged regions, and the live blocks grouped by the first SGLang (or torch)
frame that allocated them. What the allocator does not know (the context, loaded kernels, graph
executables) is the rest. As an experiment after the snapshot (the server stops right after),
each process then drops cuBLAS's workspaces and empties its cache: what that frees is reported.
Writes ``floor_breakdown.json`` and the raw snapshots.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

import psutil
import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from sglang_patch_dev.device_flags import server_flags  # noqa: E402
from sglang_patch_dev.offline_models import build_shape_only, llama8b_config  # noqa: E402
from sglang_patch_dev.server_process import ServerProcess  # noqa: E402

MIB = 1 << 20

# Runs in every Python process of the server (PYTHONPATH), then hands over to the next
# sitecustomize on the path (the device kit's).
HOOK = r'''
import os, sys, threading, time
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules["sitecustomize"]
try:
    import sitecustomize  # noqa: F401  (the next one on the path)
except ImportError:
    pass
sys.path.insert(0, _here)

import torch

def _dump(device):
    import pickle, traceback
    out = os.environ["FLOOR_DIAG_DIR"]
    name = os.path.join(out, "snapshot-%d" % os.getpid())
    try:
        with torch.cuda.device(device):  # the device is per thread: the one the process uses
            if torch.cuda.memory_reserved() == 0:  # CUDA initialised, nothing allocated: no context to create
                return
            free, total = torch.cuda.mem_get_info()
            data = {"snapshot": torch.cuda.memory._snapshot(), "mem_get_info": (free, total)}
            with open(name + ".pickle", "wb") as f:
                pickle.dump(data, f)
            # Experiment (the server is stopped right after): how much do cuBLAS's workspaces hold?
            torch._C._cuda_clearCublasWorkspaces()
            torch.cuda.empty_cache()
            data["freed_by_clearing_cublas_workspaces"] = torch.cuda.mem_get_info()[0] - free
            with open(name + ".pickle", "wb") as f:
                pickle.dump(data, f)
    except BaseException:
        with open(name + ".error", "w") as f:
            f.write(traceback.format_exc())
    finally:
        open(name + ".done", "w").close()

def _wait_for_request(device):
    # A thread, not a signal handler: the scheduler's main thread may not return to Python for a
    # long time (a signal handler never ran in 120 s there).
    request = os.path.join(os.environ["FLOOR_DIAG_DIR"], "dump.request")
    while not os.path.exists(request):
        time.sleep(0.2)
    _dump(device)

def _start():
    torch.cuda.memory._record_memory_history(max_entries=1, context="alloc", stacks="python")
    open(os.path.join(os.environ["FLOOR_DIAG_DIR"], "cuda-%d" % os.getpid()), "w").close()
    threading.Thread(target=_wait_for_request, args=(torch.cuda.current_device(),), daemon=True).start()

torch.cuda._lazy_call(_start)
'''


def cuda_pids() -> dict:
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return {int(p): int(m) for p, m in (line.split(",") for line in out.strip().splitlines() if line)}


def device_used_mib() -> int:
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def where(frames: list) -> str:
    """The first frame in SGLang (or this package), else the first Python frame, else C++."""
    for wanted in ("sglang", "torch/", ".py"):  # sglang_patch's frames count as SGLang's
        for fr in frames:
            name = fr.get("filename", "")
            if wanted in name and "torch/cuda/memory.py" not in name:
                return f"{name.split('site-packages/')[-1]}:{fr.get('line')} {fr.get('name')}"
    return " < ".join(fr.get("name", "?")[:60] for fr in frames[:3]) or "?"


def analyse(path: str) -> dict:
    with open(path, "rb") as f:
        data = pickle.load(f)
    snap, (free, total) = data["snapshot"], data["mem_get_info"]
    by_pool = collections.Counter()
    live, cached = collections.Counter(), 0
    for seg in snap["segments"]:
        pool = tuple(seg.get("segment_pool_id", (0, 0)))
        by_pool[str(pool)] += seg["total_size"]
        for block in seg["blocks"]:
            if block["state"] == "active_allocated":
                live[(str(pool), where(block.get("frames", [])))] += block["size"]
            elif block["state"] == "inactive":
                cached += block["size"]
    return {
        "process_device_used_mib": (total - free) / MIB,
        "freed_by_clearing_cublas_workspaces_mib": data.get("freed_by_clearing_cublas_workspaces", 0) / MIB,
        "segments_by_pool_mib": {k: v / MIB for k, v in by_pool.items()},
        "cached_inactive_mib": cached / MIB,
        "live_blocks_mib": [{"pool": p, "where": w, "mib": round(b / MIB, 2)} for (p, w), b in live.most_common(40)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mem-fraction", type=float, default=0.85)
    ap.add_argument("--disable-cuda-graph", action="store_true")
    args = ap.parse_args()
    args.out = os.path.abspath(args.out)  # the server runs in its log folder: the hook needs a full path
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):  # a request left by an earlier run would snapshot at start-up
        if name == "dump.request" or name.startswith(("cuda-", "snapshot-")):
            os.remove(os.path.join(args.out, name))
    hook_dir = tempfile.mkdtemp(prefix="floor-hook-")
    with open(os.path.join(hook_dir, "sitecustomize.py"), "w") as f:
        f.write(HOOK)
    env = dict(os.environ, FLOOR_DIAG_DIR=args.out, PYTHONPATH=hook_dir + os.pathsep + os.environ.get("PYTHONPATH", ""))
    model_dir = build_shape_only(tempfile.mkdtemp(prefix="floor-llama8b-"), llama8b_config())
    flags = ["--model-path", model_dir, "--load-format", "dummy", "--enable-memory-saver",
             *server_flags("cuda", dtype="bfloat16", mem_fraction=args.mem_fraction)]
    if args.disable_cuda_graph:
        flags.append("--disable-cuda-graph")
    server = ServerProcess(flags, os.path.join(args.out, "server.log"), env=env, echo_command=True, client_timeout=300)
    result = {"date": time.strftime("%Y-%m-%d"), "flags": flags[2:], "device_used_before_mib": device_used_mib()}
    server.start(timeout=600)
    try:
        time.sleep(10)  # SGLang's warm-up request
        server.client.generate("hello", max_new_tokens=8)
        result["resident_mib"] = device_used_mib()
        result["release_reply"] = requests.post(server.url + "/release_memory_occupation", json={}, timeout=300).json()
        time.sleep(2)
        result["released_device_used_mib"] = device_used_mib()
        result["per_process_mib"] = {str(k): v for k, v in cuda_pids().items()}
        result["status_rank0"] = server.client.status()["ranks"][0]
        # The processes that initialised CUDA (the hook leaves a marker; nvidia-smi may show
        # another PID namespace's numbers).
        ours = {p.pid for p in [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children(recursive=True)]}
        with_cuda = [pid for pid in ours if os.path.exists(os.path.join(args.out, f"cuda-{pid}"))]
        result["processes_with_cuda"] = len(with_cuda)
        open(os.path.join(args.out, "dump.request"), "w").close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(os.path.exists(os.path.join(args.out, f"snapshot-{p}.done")) for p in with_cuda):
            time.sleep(0.5)
        result["processes"] = {str(pid): analyse(os.path.join(args.out, f"snapshot-{pid}.pickle")) for pid in with_cuda
                               if os.path.exists(os.path.join(args.out, f"snapshot-{pid}.pickle"))}
        result["snapshot_errors"] = {name: open(os.path.join(args.out, name)).read()[-2000:]
                                     for name in os.listdir(args.out) if name.endswith(".error")}
    finally:
        server.stop()
    with open(os.path.join(args.out, "floor_breakdown.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1)[:20000])


if __name__ == "__main__":
    main()
