"""Weights across a torch_memory_saver pause/resume: ``WeightsBackup`` vs TMS's own CPU backup.

Three ways to move a Llama-3-8B-shaped model (bf16, 15 GiB, ``llama_param_shapes``) to the host and
back, on one GPU with the real torch_memory_saver (TMS):

- **A** ``sglang_patch.memory_occupation.weights_backup.WeightsBackup``: parameters made in
  ``region(tag="weights")``; a trial is ``save`` -> ``pause`` -> ``resume`` -> ``restore``. The first
  ``save`` allocates and pins the host buffer and is reported apart from the steady trials.
- **B** TMS's own backup: the same parameters in ``region(tag="weights_tms_backup",
  enable_cpu_backup=True)``; ``pause`` and ``resume`` timed. TMS issue #111 reports 2.41 GiB/s
  pause and 5.32 GiB/s resume for it (L20, PCIe 4) vs ~24 GiB/s for a pinned ``copy_``:
  https://github.com/fzyzcjy/torch_memory_saver/issues/111. **B+retain** repeats B with
  ``retain_cpu_backup = True`` (TMS PR #86: the pinned shadow is kept across resumes).
- **C** the floor: one pinned host buffer <-> one device buffer, ``copy_(non_blocking=True)``.

Each step is timed with ``time.perf_counter`` between two ``torch.cuda.synchronize()``; the JSON
holds every trial and the medians. A checksum (sha256 of the ends of the first, middle and last
parameter) must match after A's restore and after B's resume, or the run fails.

TMS's default hook (``preload``, as in SGLang) intercepts cudaMalloc through ``LD_PRELOAD``, which
only the dynamic loader reads, at process start. Started without it, the script re-executes itself
once under ``torch_memory_saver.configure_subprocess()``'s environment (``--hook-mode torch``: TMS's
pluggable allocator, no preload). From the repo root::

    source .device-kit/setup.sh && python bench/weights_backup.py --out $OUT/weights_backup.json
    python bench/weights_backup.py --out /tmp/wb.json --trials 2 --gib-limit 4     # ~1 min
    python bench/weights_backup.py --selftest --out /tmp/wb.json                   # CPU, no TMS
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from sglang_patch_dev.offline_models import build_config, llama8b_config, llama_param_shapes  # noqa: E402
from sglang_patch.memory_occupation.weights_backup import WeightsBackup  # noqa: E402

GIB = 2**30
_REEXEC = "WEIGHTS_BACKUP_BENCH_REEXEC"


# --- Model stand-in, checksums, timing ----------------------------------------------------
def model_shapes(config: dict, gib_limit: float = None):
    """The HF parameter shapes, keeping only the first layers while the total exceeds gib_limit."""
    cfg = dict(config)
    while True:
        shapes = llama_param_shapes(cfg)
        if not gib_limit or cfg["num_hidden_layers"] == 0 or shapes_bytes(shapes) <= gib_limit * GIB:
            return shapes, cfg["num_hidden_layers"]
        cfg["num_hidden_layers"] -= 1


def shapes_bytes(shapes, dtype=torch.bfloat16) -> int:
    return sum(torch.Size(s).numel() for _, s in shapes) * dtype.itemsize


def make_model(shapes, device: str, dtype=torch.bfloat16) -> torch.nn.Module:
    """A module holding one parameter per HF name ('.' -> '_'), filled with seeded random values."""
    gen = torch.Generator(device=device).manual_seed(0)
    model = torch.nn.Module()
    for name, shape in shapes:
        p = torch.empty(shape, dtype=dtype, device=device).uniform_(-1, 1, generator=gen)
        model.register_parameter(name.replace(".", "_"), torch.nn.Parameter(p, requires_grad=False))
    return model


def checksum(model: torch.nn.Module, k: int = 65536) -> str:
    params = list(model.parameters())
    h = hashlib.sha256()
    for p in (params[0], params[len(params) // 2], params[-1]):
        flat = p.detach().reshape(-1)
        h.update(torch.cat([flat[:k], flat[-k:]]).cpu().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def timed(fn) -> float:
    """Seconds fn takes, between two torch.cuda.synchronize() (none on a CPU-only host)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def summarize(trials) -> dict:
    return {"median_s": {k: round(statistics.median(t[k] for t in trials), 4) for k in trials[0]},
            "trials_s": [{k: round(v, 4) for k, v in t.items()} for t in trials]}


# --- A: WeightsBackup, B: TMS enable_cpu_backup, C: plain pinned copies -------------------
def bench_weights_backup(shapes, trials: int, device: str, tms=None) -> dict:
    """First trial (the first save pins the host buffer) apart from `trials` steady ones."""
    tag = "weights"
    with tms.region(tag=tag) if tms else contextlib.nullcontext():
        model = make_model(shapes, device)
    before, backup, runs, unrestored = checksum(model), WeightsBackup(), [], None
    for i in range(trials + 1):
        t = {"save": timed(lambda: backup.save(model))}
        if tms:
            t["pause"] = timed(lambda: tms.pause(tag))
            t["resume"] = timed(lambda: tms.resume(tag))
        else:  # selftest: lose the bytes the way a release would
            with torch.no_grad():
                for p in model.parameters():
                    p.zero_()
        if i == 0:
            unrestored = checksum(model) == before
        t["restore"] = timed(lambda: backup.restore(model))
        assert checksum(model) == before, f"A: trial {i}: the weights differ after restore"
        runs.append(t)
    out = {"first_s": {k: round(v, 4) for k, v in runs[0].items()}, **summarize(runs[1:]),
           "checksum": before, "bytes_unchanged_without_restore": unrestored, "host_bytes": backup.host_bytes}
    return out


def bench_tms_backup(shapes, trials: int, tms, retain: bool) -> dict:
    tag = "weights_tms_backup"
    if retain:
        tms.retain_cpu_backup = True
    with tms.region(tag=tag, enable_cpu_backup=True):
        model = make_model(shapes, "cuda")
    before, runs = checksum(model), []
    for i in range(trials + (1 if retain else 0)):
        runs.append({"pause": timed(lambda: tms.pause(tag)), "resume": timed(lambda: tms.resume(tag))})
        assert checksum(model) == before, f"B: trial {i}: TMS did not restore the weights"
    out = {"retain_cpu_backup": tms.retain_cpu_backup, "backend": _tms_backend(tms), "checksum": before}
    if retain:  # the first pause allocates the retained shadow
        out["first_s"] = {k: round(v, 4) for k, v in runs.pop(0).items()}
        tms.retain_cpu_backup = False
    return {**out, **summarize(runs)}


def bench_plain_copy(nbytes: int, trials: int) -> dict:
    dev = torch.empty(nbytes, dtype=torch.uint8, device="cuda").fill_(7)
    t0 = time.perf_counter()
    src = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    pin_s = time.perf_counter() - t0
    runs = [{"h2d": timed(lambda: dev.copy_(src, non_blocking=True)),
             "d2h": timed(lambda: src.copy_(dev, non_blocking=True))} for _ in range(trials)]
    return {"pin_s": round(pin_s, 4), **summarize(runs)}


def _tms_backend(tms):
    try:  # private: which host shadow enable_cpu_backup uses ("pinned" = cudaMallocHost, or "mmap")
        return tms._impl._binary_wrapper.cdll.tms_get_cpu_backup_backend().decode() or "pinned (default)"
    except Exception as e:
        return f"unknown ({e!r})"


# --- Report -------------------------------------------------------------------------------
def table(res: dict) -> str:
    gib = res["bytes"] / GIB
    rows = []
    labels = {"A": "A WeightsBackup", "B": "B TMS cpu_backup", "B_retain": "B+retain", "C": "C pinned copy"}
    for label, r in ((label, res[key]) for key, label in labels.items() if res.get(key)):
        steps = dict(r["median_s"])
        if "restore" in steps and "resume" in steps:
            steps["resume+restore"] = steps["resume"] + steps["restore"]
            steps["save+pause"] = steps["save"] + steps["pause"]
        rows += [(f"{label} first", k, v) for k, v in r.get("first_s", {}).items() if k in ("save", "pause")]
        rows += [(label, k, v) for k, v in steps.items()]
    lines = [f"{'what':<22}{'step':<16}{'GiB':>8}{'s':>10}{'GiB/s':>9}"]
    for what, step, s in rows:
        lines.append(f"{what:<22}{step:<16}{gib:>8.2f}{s:>10.4f}{(gib / s if s > 0 else float('inf')):>9.1f}")
    return "\n".join(lines)


def write(res: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(table(res))
    print(f"wrote {out}")


def header(shapes, layers: int, trials: int, device: str) -> dict:
    nbytes = shapes_bytes(shapes)
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "torch": torch.__version__, "torch_memory_saver": _version("torch_memory_saver"),
            "bytes": nbytes, "gib": round(nbytes / GIB, 3), "params": len(shapes), "layers": layers,
            "dtype": "bfloat16", "trials": trials, "timing": "perf_counter between cuda synchronizes; medians"}


def _version(pkg: str):
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


# --- Entry points -------------------------------------------------------------------------
def ensure_preload() -> None:
    """Re-exec once under configure_subprocess()'s LD_PRELOAD: the hook must load at process start."""
    if "torch_memory_saver" in os.environ.get("LD_PRELOAD", ""):
        return
    if os.environ.get(_REEXEC):
        sys.exit("LD_PRELOAD lacks torch_memory_saver after re-exec; try --hook-mode torch")
    from torch_memory_saver import configure_subprocess

    with configure_subprocess():
        env = {**os.environ, _REEXEC: "1"}
    print(f"re-executing with LD_PRELOAD={env['LD_PRELOAD']}", flush=True)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def run_gpu(args) -> None:
    if args.hook_mode == "preload":
        ensure_preload()
    from torch_memory_saver import torch_memory_saver as tms

    if args.hook_mode == "torch":
        tms.hook_mode = "torch"
    torch.cuda.set_device(0)
    shapes, layers = model_shapes(llama8b_config(), args.gib_limit)
    res = {**header(shapes, layers, args.trials, "cuda"), "hook_mode": args.hook_mode}
    print(f"{res['device']}: {res['gib']} GiB in {len(shapes)} params ({layers} layers), {args.trials} trials")
    res["A"] = bench_weights_backup(shapes, args.trials, "cuda", tms)
    if hasattr(torch._C, "_host_emptyCache"):
        torch._C._host_emptyCache()  # A's pinned buffer back to the OS: C times its own pinning
    res["B"] = bench_tms_backup(shapes, args.trials, tms, retain=False)
    if not args.no_retain and hasattr(type(tms), "retain_cpu_backup"):
        res["B_retain"] = bench_tms_backup(shapes, args.trials, tms, retain=True)
    res["C"] = bench_plain_copy(res["bytes"], args.trials)
    write(res, Path(args.out))


def selftest(args) -> None:
    """CPU, no TMS: trimming of the 8B shapes, WeightsBackup save/restore, the JSON and the table."""
    full, layers = model_shapes(llama8b_config())
    assert layers == 32 and 16.0e9 < shapes_bytes(full) < 16.1e9, shapes_bytes(full)
    small, layers = model_shapes(llama8b_config(), gib_limit=4)
    assert 0 < layers < 32 and shapes_bytes(small) <= 4 * GIB < shapes_bytes(model_shapes(
        {**llama8b_config(), "num_hidden_layers": layers + 1})[0])
    try:
        WeightsBackup().restore(torch.nn.Linear(2, 2))
        raise AssertionError("restore without save must raise")
    except RuntimeError:
        pass
    shapes, layers = model_shapes({**build_config(hidden=64, layers=3, vocab=256), "torch_dtype": "bfloat16"})
    res = {**header(shapes, layers, args.trials, "cpu"), "hook_mode": None, "selftest": True}
    res["A"] = bench_weights_backup(shapes, args.trials, "cpu")
    assert res["A"]["bytes_unchanged_without_restore"] is False and res["A"]["host_bytes"] == res["bytes"]
    write(res, Path(args.out))
    back = json.loads(Path(args.out).read_text())
    assert set(back["A"]["median_s"]) == {"save", "restore"} and len(back["A"]["trials_s"]) == args.trials
    print("selftest ok")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--trials", type=int, default=3, help="steady-state trials per method (median reported)")
    ap.add_argument("--gib-limit", type=float, help="keep the first layers until the model is <= this many GiB")
    ap.add_argument("--hook-mode", choices=("preload", "torch"), default="preload",
                    help="torch_memory_saver hook (SGLang uses preload)")
    ap.add_argument("--no-retain", action="store_true", help="skip B with retain_cpu_backup=True")
    ap.add_argument("--selftest", action="store_true", help="CPU only, no torch_memory_saver: tiny model")
    args = ap.parse_args(argv)
    selftest(args) if args.selftest else run_gpu(args)


if __name__ == "__main__":
    main()
