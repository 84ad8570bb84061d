"""The released floor: GPU memory still used after a release of everything, stock SGLang beside
this package beside a bare CUDA context, on the same GPU in one run per SGLang release (issues 12, 20).

    python bench/released_floor.py --out DIR [--mem-fraction 0.85] [--cycles 10]
    python bench/released_floor.py --table DIR/released_floor-*.json     # the table of every release given

A run measures the SGLang installed where it runs (on the device: the kit that was sourced) and
writes ``released_floor-<sglang version>.json``. For each launcher (``sglang.launch_server``, then
``server_ext.launch``; same flags: Llama-3-8B shape, dummy bf16 weights, ``--enable-memory-saver``,
the device's flags): start, wait for SGLang's warm-up, read the GPU's used memory (nvidia-smi:
every process), release all (stock: ``{}``, the package: ``{}`` = all three tags), wait 2 s, read
it again, stop, wait for the GPU to be empty. The bare context is a process that only
initialises CUDA (``torch.zeros(1, device="cuda")``). The package's server also runs with
``--weights-cpu-backup`` so that its weights come back after a resume, and checks that the floor
costs no speed: greedy output and decode speed (512 tokens, batch 1) before, and after
``--cycles`` release/resume cycles of everything. The table: one row per release, GiB
(2^30 bytes), the package's floor against a bare context + 0.25 GiB (issue 20's target).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib import metadata

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from sglang_patch_dev.device_flags import server_flags  # noqa: E402
from sglang_patch_dev.offline_models import build_shape_only, llama8b_config  # noqa: E402
from sglang_patch_dev.server_process import ServerProcess  # noqa: E402

GIB = 1 << 30
TARGET_ABOVE_BARE_GIB = 0.25
LAUNCHERS = {"stock": "sglang.launch_server", "package": "server_ext.launch"}
PROMPT, SPEED_PROMPT, SPEED_TOKENS = "The quick brown fox", "Decode speed", 512


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


def greedy_and_speed(server) -> tuple:
    """The greedy output of a fixed prompt, and decode tokens/s of one 512-token request."""
    text = server.client.generate(PROMPT, max_new_tokens=64, ignore_eos=True)["text"]
    started = time.monotonic()
    server.client.generate(SPEED_PROMPT, max_new_tokens=SPEED_TOKENS, ignore_eos=True)
    return text, SPEED_TOKENS / (time.monotonic() - started)


def measure(kind: str, model_dir: str, fraction: float, out_dir: str, baseline: int, cycles: int) -> dict:
    flags = ["--model-path", model_dir, "--load-format", "dummy", "--enable-memory-saver",
             *server_flags("cuda", dtype="bfloat16", mem_fraction=fraction)]
    if kind == "package":
        flags.append("--weights-cpu-backup")  # the weights come back after a resume: the same greedy output
    server = ServerProcess(flags, os.path.join(out_dir, f"released_floor_{kind}.log"), module=LAUNCHERS[kind],
                           echo_command=True, client_timeout=300)
    server.start(timeout=600)
    result = {}
    try:
        # Stock pauses under a running request and dies ("Pointer argument cannot be accessed from
        # Triton"): let SGLang's own warm-up request finish first.
        time.sleep(10)
        if kind == "package":
            greedy_and_speed(server)  # warm
            text_before, speed_before = greedy_and_speed(server)
        resident = device_used_bytes() - baseline
        started = time.monotonic()
        r = requests.post(server.url + "/release_memory_occupation", json={}, timeout=300)
        release_s = time.monotonic() - started
        r.raise_for_status()
        time.sleep(2)
        released = device_used_bytes() - baseline
        alive = server.alive()  # a dead server's floor is 0: the figure would mean nothing
        result.update(resident_gib=resident / GIB, released_floor_gib=released / GIB if alive else None,
                      alive_after_release=alive, release_s=release_s, reply=r.json())
        if kind == "package" and alive:
            result["status_rank0"] = server.client.status()["ranks"][0]
            floors = [released]
            server.client.resume()
            for _ in range(cycles - 1):
                server.client.release()
                time.sleep(1)
                floors.append(device_used_bytes() - baseline)
                server.client.resume()
            text_after, speed_after = greedy_and_speed(server)
            result.update(
                cycles=cycles, floor_each_cycle_gib=[f / GIB for f in floors],
                decode_tok_s_before=speed_before, decode_tok_s_after=speed_after,
                decode_after_over_before=speed_after / speed_before, same_greedy_output=text_after == text_before)
    finally:
        server.stop()
    return result


def versions() -> dict:
    out = {}
    for dist in ("sglang", "torch", "torch_memory_saver"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def gpu_name() -> str:
    return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                          capture_output=True, text=True, check=True).stdout.strip().splitlines()[0]


def run(args) -> dict:
    os.makedirs(args.out, exist_ok=True)
    model_dir = build_shape_only(tempfile.mkdtemp(prefix="floor-llama8b-"), llama8b_config())
    baseline = settle(device_used_bytes())
    result = {"date": time.strftime("%Y-%m-%d"), "gpu": gpu_name(), "versions": versions(),
              "command": " ".join(["python", "bench/released_floor.py", *sys.argv[1:]]),
              "mem_fraction_static": args.mem_fraction, "gpu_used_before_gib": baseline / GIB,
              "bare_cuda_context_gib": bare_context_bytes(baseline) / GIB}
    for kind in LAUNCHERS:
        settle(baseline)
        try:
            result[kind] = measure(kind, model_dir, args.mem_fraction, args.out, baseline, args.cycles)
        except Exception as e:  # one launcher failing (stock has died on its release) leaves the other's row
            result[kind] = {"error": f"{type(e).__name__}: {e}"}
        print(kind, json.dumps({k: v for k, v in result[kind].items() if not isinstance(v, (dict, list))}), flush=True)
    floor = result["package"].get("released_floor_gib")
    result["package_floor_above_bare_context_gib"] = None if floor is None else floor - result["bare_cuda_context_gib"]
    path = os.path.join(args.out, f"released_floor-{result['versions']['sglang']}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}")
    return result


def _gib(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def table(results) -> str:
    """Markdown: one row per release, stock beside the package beside a bare context."""
    lines = ["| SGLang | date | bare CUDA context | stock after release | package after release | package − bare "
             "| ≤ bare + 0.25 | decode after cycles / before | same greedy output |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: r.get("versions", {}).get("sglang") or ""):
        stock, package = r.get("stock", {}), r.get("package", {})
        above = r.get("package_floor_above_bare_context_gib")
        met = "—" if above is None else ("yes" if above <= TARGET_ABOVE_BARE_GIB else "no")
        speed = package.get("decode_after_over_before")
        lines.append("| " + " | ".join([
            str(r.get("versions", {}).get("sglang") or "?"), r["date"], _gib(r["bare_cuda_context_gib"]),
            _gib(stock.get("released_floor_gib")) if "error" not in stock else "failed",
            _gib(package.get("released_floor_gib")) if "error" not in package else "failed",
            _gib(above), met, "—" if speed is None else f"{speed * 100:.1f}%",
            str(package.get("same_greedy_output", "—")).lower()]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="folder for this release's JSON and the servers' logs")
    ap.add_argument("--mem-fraction", type=float, default=0.85)
    ap.add_argument("--cycles", type=int, default=10, help="release/resume cycles of everything before the speed check")
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print the table of these runs' JSON files and exit")
    args = ap.parse_args()
    if args.table:
        results = []
        for path in args.table:
            with open(path) as f:
                results.append(json.load(f))
        print(table(results))
        return
    if not args.out:
        ap.error("--out is required unless --table is given")
    print(table([run(args)]))


if __name__ == "__main__":
    main()
