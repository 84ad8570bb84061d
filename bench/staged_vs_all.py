"""Staged vs all-at-once resume: GPU memory of one RL weight-update cycle on a shared GPU.

The experiment
--------------
An RL trainer and an SGLang rollout server share one GPU. Once per step the trainer hands its new
weights to the server. The server (patched by this project) releases its memory by tag before
training and resumes it afterwards. Two ways to do the hand-over:

- **all-at-once**: release all -> trainer allocates its weights -> resume all (weights + KV cache)
  -> update weights from the trainer's tensors -> trainer frees -> generate.
  While the update runs, the trainer's weights, the server's weights *and* the KV cache are all
  on the GPU.
- **staged**: release all -> trainer allocates -> resume ``weights`` -> update -> trainer frees
  -> resume ``kv_cache`` -> generate. The KV cache only comes back once the trainer's copy is gone,
  so the peak should be lower by about the trainer's weight bytes.

The model is Llama-3-8B shaped (bf16, vocab 128256) with ``--load-format dummy``; only its shape
matters. The trainer is a separate process holding bf16 tensors with the real HF parameter names
and shapes, shared with the server by CUDA IPC (``update_weights_from_tensor``), as verl/slime do.
A pynvml sampler thread reads the GPU's used memory every ~20 ms and labels every sample with the
current (mode, cycle, stage).

Phases (``--phases``, all by default; they share one server at ``--fraction`` where they can):

- ``cycle``      one detailed cycle of each mode (staged first: an all-at-once OOM kills the server);
                 per-stage memory, peaks, saving vs the trainer's weight bytes, memory_timeline.png.
- ``latency``    release/resume wall time per tag over HTTP (median of ``--latency-reps``) vs raw
                 torch_memory_saver pause/resume of the same bytes in a standalone process.
- ``throughput`` decode tokens/s (batch ``--tput-batch``, ``--tput-tokens`` new tokens) before and
                 after ``--sweep-cycles`` staged cycles (and after the all-at-once ones, if alive).
- ``sweep``      for each ``--fractions`` value, a fresh server runs ``--sweep-cycles`` staged
                 cycles, then as many all-at-once cycles; each mode is ok / oom (at cycle k) /
                 died / failed-to-start. The largest OK fraction per mode is reported.

Output in ``--out``: ``staged_vs_all.json`` (rewritten after every phase), ``memory_timeline.png``,
``logs/server_<fraction>.log``. Usage (repo root, one GPU)::

    python bench/staged_vs_all.py --out docs/bench
    python bench/staged_vs_all.py --out docs/bench --phases sweep --fractions 0.91 0.94
    python bench/staged_vs_all.py --out /tmp/x --selftest      # CPU only: stats, JSON, plot
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sglang_patch_dev.offline_models import build_shape_only, llama8b_config, llama_param_shapes  # noqa: E402
from sglang_patch_dev.device_flags import server_flags  # noqa: E402
from sglang_patch_dev.server_process import ServerProcess, ServerStartError  # noqa: E402

GB = 1e9
ALL_PHASES = ("cycle", "latency", "throughput", "sweep")
MODES = ("staged", "all_at_once")
OOM_PATTERN = re.compile(r"out of memory|cudaErrorMemoryAllocation|CUDA_ERROR_OUT_OF_MEMORY|OutOfMemoryError", re.I)
PROMPT = "Reinforcement learning shares the GPU between the trainer and the rollout engine."

_T0 = time.monotonic()


def log(msg: str) -> None:
    now = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    print(f"[{now} +{time.monotonic() - _T0:7.1f}s] {msg}", flush=True)


# ------------------------------------------------------------------------------------------
# Model: an 8B-shaped Llama directory (config + small tokenizer) and its parameter list
# ------------------------------------------------------------------------------------------
def build_model_dir(config: Dict[str, Any], tokenizer_vocab: int) -> str:
    return build_shape_only(tempfile.mkdtemp(prefix="bench-llama8b-"), config, tokenizer_vocab)


def numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def update_groups(shapes, layers: int, chunk_layers: int, subset: bool) -> List[List[str]]:
    """Names per /update_weights_from_tensor request. ``subset``: layer 0 + final norm only."""
    names = [n for n, _ in shapes]
    layer_of = lambda n: int(n.split(".")[2]) if n.startswith("model.layers.") else None  # noqa: E731
    if subset:
        return [[n for n in names if layer_of(n) == 0] + ["model.norm.weight"]]
    groups = [["model.embed_tokens.weight"]]
    for start in range(0, layers, chunk_layers):
        groups.append([n for n in names if layer_of(n) is not None and start <= layer_of(n) < start + chunk_layers])
    groups.append(["model.norm.weight", "lm_head.weight"])
    return groups


# ------------------------------------------------------------------------------------------
# Trainer process: holds the full bf16 weights on the GPU on command, shares them by CUDA IPC
# ------------------------------------------------------------------------------------------
def _trainer_main(conn, shapes) -> None:  # runs in the spawned process
    import gc

    import torch
    import torch.multiprocessing  # noqa: F401 - registers the CUDA-IPC reductions ForkingPickler uses

    torch.cuda.set_device(0)
    torch.zeros(1, device="cuda")  # CUDA context up front, so its size stays constant
    try:
        from sglang.srt.utils import MultiprocessingSerializer

        serialize = lambda obj: MultiprocessingSerializer.serialize(obj, output_str=True)  # noqa: E731
        serializer = "sglang.srt.utils.MultiprocessingSerializer"
    except Exception:  # the same bytes as sglang's: ForkingPickler + base64
        import base64
        import io
        from multiprocessing.reduction import ForkingPickler

        def serialize(obj):
            buf = io.BytesIO()
            ForkingPickler(buf).dump(obj)
            return base64.b64encode(buf.getvalue()).decode("utf-8")

        serializer = "local ForkingPickler+base64 (sglang import failed)"

    tensors: Dict[str, Any] = {}

    def free() -> None:
        tensors.clear()
        gc.collect()
        torch.cuda.synchronize()
        torch.cuda.ipc_collect()  # blocks shared by IPC wait in limbo until the consumer let go
        torch.cuda.empty_cache()

    conn.send(("ok", {"pid": os.getpid(), "serializer": serializer, "torch": torch.__version__}))
    while True:
        cmd, kw = conn.recv()
        t0 = time.perf_counter()
        try:
            if cmd == "alloc":
                free()
                for name, shape in shapes:
                    t = torch.empty(shape, dtype=torch.bfloat16, device="cuda")
                    t.normal_(0.0, 0.02) if len(shape) > 1 else t.fill_(1.0)
                    tensors[name] = t
                torch.cuda.synchronize()
                nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
                reply = {"bytes": nbytes, "tensors": len(tensors), "reserved": torch.cuda.memory_reserved()}
            elif cmd == "serialize":
                chunks = [serialize([(n, tensors[n]) for n in group]) for group in kw["groups"]]
                reply = {"chunks": chunks, "chars": sum(len(c) for c in chunks)}
            elif cmd == "free":
                free()
                reply = {"reserved": torch.cuda.memory_reserved()}
            elif cmd == "exit":
                free()
                conn.send(("ok", {}))
                return
            else:
                raise ValueError(f"unknown command {cmd!r}")
            reply["seconds"] = time.perf_counter() - t0
            conn.send(("ok", reply))
        except torch.cuda.OutOfMemoryError as e:
            free()
            conn.send(("oom", str(e)[:400]))
        except Exception:
            conn.send(("error", traceback.format_exc()[-2000:]))


class TrainerError(RuntimeError):
    def __init__(self, kind: str, message: str):
        super().__init__(f"trainer {kind}: {message}")
        self.kind = kind


class Trainer:
    def __init__(self, shapes):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_trainer_main, args=(child, shapes), daemon=True)
        self.proc.start()
        self.info: Optional[Dict[str, Any]] = None  # the hello message, read by wait_ready()

    def wait_ready(self, timeout: float = 300) -> Dict[str, Any]:
        if self.info is None:
            self.info = self.request(None, timeout=timeout)
        return self.info

    def request(self, cmd: Optional[str], timeout: float = 120, **kw) -> Dict[str, Any]:
        try:
            if cmd is not None:
                self.conn.send((cmd, kw))
            if not self.conn.poll(timeout):
                raise TrainerError("timeout", f"no answer to {cmd!r} in {timeout:.0f}s")
            status, payload = self.conn.recv()
        except (EOFError, OSError) as e:
            raise TrainerError("died", f"trainer process gone ({e!r}, exit code {self.proc.exitcode})") from None
        if status != "ok":
            raise TrainerError(status, str(payload))
        return payload

    def close(self) -> None:
        try:
            if self.proc.is_alive():
                self.request("exit", timeout=30)
        except Exception:
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


# ------------------------------------------------------------------------------------------
# GPU memory sampler
# ------------------------------------------------------------------------------------------
def gpu_index() -> int:
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
    return int(first) if first.isdigit() else 0


class Sampler:
    """pynvml used-memory samples every ``interval`` s, each tagged with ``self.label``."""

    def __init__(self, interval: float = 0.02, index: Optional[int] = None):
        import pynvml

        self.nvml = pynvml
        pynvml.nvmlInit()
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(gpu_index() if index is None else index)
        self.interval = interval
        self.label: Tuple[str, int, str] = ("init", 0, "init")
        self.t: List[float] = []
        self.used: List[int] = []
        self.labels: List[Tuple[str, int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)

    def read(self) -> int:
        return int(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used)

    def total(self) -> int:
        return int(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).total)

    def device_info(self) -> Dict[str, Any]:
        name = self.nvml.nvmlDeviceGetName(self.handle)
        driver = self.nvml.nvmlSystemGetDriverVersion()
        dec = lambda x: x.decode() if isinstance(x, bytes) else x  # noqa: E731
        return {"gpu_name": dec(name), "gpu_total_bytes": self.total(), "driver": dec(driver), "nvml_index": gpu_index()}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                used = self.read()
            except Exception:
                used = -1
            self.t.append(time.monotonic())
            self.used.append(used)
            self.labels.append(self.label)
            self._stop.wait(self.interval)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def index_at(self, t: float) -> int:
        import bisect

        return bisect.bisect_left(self.t, t)

    def window(self, t0: float, t1: float) -> Tuple[List[float], List[int], List[Tuple[str, int, str]]]:
        i, j = self.index_at(t0), self.index_at(t1)
        return self.t[i:j], self.used[i:j], self.labels[i:j]


# ------------------------------------------------------------------------------------------
# Pure helpers: statistics, summaries, JSON, plot (exercised by --selftest)
# ------------------------------------------------------------------------------------------
def gb(x: Optional[float], nd: int = 3) -> Optional[float]:
    return None if x is None else round(x / GB, nd)


def median(xs: Sequence[float]) -> Optional[float]:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def stage_summary(used: Sequence[int], labels: Sequence[Tuple[str, int, str]]) -> List[Dict[str, Any]]:
    """Per consecutive stage: sample count, min/mean/max/last GB."""
    out: List[Dict[str, Any]] = []
    for u, lab in zip(used, labels):
        if u < 0:
            continue
        if not out or out[-1]["_label"] != lab:
            out.append({"_label": lab, "stage": lab[2], "values": []})
        out[-1]["values"].append(u)
    for s in out:
        v = s.pop("values")
        s.pop("_label")
        s.update(n=len(v), min_gb=gb(min(v)), mean_gb=gb(sum(v) / len(v)), max_gb=gb(max(v)), last_gb=gb(v[-1]))
    return out


def timeline_record(t: Sequence[float], used: Sequence[int], labels, t_start: float) -> Dict[str, Any]:
    """Compact samples for the JSON and the plot: seconds since cycle start, GB, stage names."""
    keep = [(ti, u, lab) for ti, u, lab in zip(t, used, labels) if u >= 0]
    stages: List[Tuple[float, str]] = []
    for ti, _, lab in keep:
        if not stages or stages[-1][1] != lab[2]:
            stages.append((round(ti - t_start, 3), lab[2]))
    return {
        "t_s": [round(ti - t_start, 3) for ti, _, _ in keep],
        "gb": [round(u / GB, 3) for _, u, _ in keep],
        "stage_starts": stages,
    }


def largest_ok(runs: Dict[str, Dict[str, Any]], mode: str) -> Optional[float]:
    ok = [float(f) for f, r in runs.items() if r.get(mode, {}).get("status") == "ok"]
    return max(ok) if ok else None


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=str)
    os.replace(tmp, path)


def plot_timeline(cycle: Dict[str, Any], path: Path) -> None:
    """GPU memory vs time since cycle start, both modes on one chart, stages marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"all_at_once": "tab:red", "staged": "tab:blue"}
    names = {"all_at_once": "all-at-once resume", "staged": "staged resume (weights, then kv_cache)"}
    fig, ax = plt.subplots(figsize=(12, 6.5), dpi=100)
    ymax = 0.0
    for mode in ("all_at_once", "staged"):
        m = cycle.get("modes", {}).get(mode)
        if not m or not m.get("timeline", {}).get("t_s"):
            continue
        tl = m["timeline"]
        peak = m.get("peak_gb")
        label = names[mode] + (f" - peak {peak:.1f} GB" if peak is not None else "") + ("" if m.get("ok") else " (FAILED)")
        ax.plot(tl["t_s"], tl["gb"], color=colors[mode], lw=1.6, label=label)
        ymax = max(ymax, max(tl["gb"]))
    total = cycle.get("gpu_total_gb")
    top = max(ymax, total or 0) * 1.02 or 1.0
    for k, mode in enumerate(("all_at_once", "staged")):
        m = cycle.get("modes", {}).get(mode)
        if not m or not m.get("timeline", {}).get("t_s"):
            continue
        for t, stage in m["timeline"]["stage_starts"]:
            ax.axvline(t, color=colors[mode], ls=":", lw=0.8, alpha=0.7)
            y = top * 0.62 if k == 0 else top * 0.04
            ax.text(t, y, " " + stage, color=colors[mode], fontsize=7.5, rotation=90, va="top" if k == 0 else "bottom")
    if total:
        ax.axhline(total, color="k", lw=1, ls="--")
        ax.text(0, total, f" GPU total {total:.1f} GB", fontsize=8, va="bottom")
    resident, tw = cycle.get("resident_gb"), cycle.get("trainer_weights_gb")
    if resident is not None and tw is not None:
        ax.axhline(resident, color="gray", lw=1, ls="-.")
        ax.text(0, resident, f" server resident {resident:.1f} GB", fontsize=8, va="top", color="gray")
        ax.axhspan(resident, resident + tw, color="tab:orange", alpha=0.15,
                   label=f"trainer weights {tw:.1f} GB on top of the resident server")
    saving = cycle.get("saving_gb")
    title = "GPU memory during one RL weight-update cycle"
    if cycle.get("fraction") is not None:
        title += f" (mem_fraction_static {cycle['fraction']})"
    if saving is not None:
        title += f"\npeak saving of staged resume: {saving:.1f} GB"
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("seconds since the start of the cycle")
    ax.set_ylabel("GPU memory used (GB, nvml)")
    ax.set_ylim(0, top * 1.01)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary_lines(report: Dict[str, Any]) -> List[str]:
    lines = ["", "=== staged vs all-at-once: summary ==="]
    ph = report.get("phases", {})
    c = ph.get("cycle")
    if c:
        lines.append(f"cycle @ mem_frac {c.get('fraction')}: trainer weights {c.get('trainer_weights_gb')} GB, "
                     f"server resident {c.get('resident_gb')} GB")
        for mode in MODES:
            m = c.get("modes", {}).get(mode, {})
            lines.append(f"  {mode:<12} peak {m.get('peak_gb')} GB  ok={m.get('ok')}  {m.get('error') or ''}")
        lines.append(f"  saving {c.get('saving_gb')} GB = {c.get('saving_over_trainer_weights')} x trainer weights")
    lat = ph.get("latency")
    if lat:
        lines.append("latency (median s)      HTTP release  HTTP resume  raw pause  raw resume   GB")
        for tag, h in lat.get("http", {}).get("per_tag", {}).items():
            r = lat.get("raw_tms", {}).get(tag, {})
            lines.append(f"  {tag:<20} {h.get('release_s_median')!s:>12} {h.get('resume_s_median')!s:>12} "
                         f"{r.get('pause_s_median')!s:>10} {r.get('resume_s_median')!s:>11} {h.get('bytes_gb')!s:>6}")
    tp = ph.get("throughput")
    if tp:
        parts = [f"{k}={v.get('tokens_per_s_median')}" for k, v in tp.items() if isinstance(v, dict) and "tokens_per_s_median" in v]
        lines.append("decode tokens/s: " + ", ".join(parts))
    sw = ph.get("sweep")
    if sw:
        lines.append("sweep (mem_fraction_static):  " + "  ".join(MODES))
        for f, r in sorted(sw.get("runs", {}).items()):
            cells = []
            for mode in MODES:
                m = r.get(mode, {})
                st = m.get("status", "-")
                if st not in ("ok", "not_run", "skipped", "-") and m.get("failed_cycle") is not None:
                    st += f"@{m['failed_cycle']}"
                cells.append(f"{st:<14}")
            lines.append(f"  {f:<6} start={r.get('start', '-'):<8} " + " ".join(cells))
        lines.append(f"  largest OK: {sw.get('largest_ok')}")
    if report.get("errors"):
        lines.append(f"errors: {len(report['errors'])} (see JSON)")
    return lines


# ------------------------------------------------------------------------------------------
# The server: ServerProcess, plus what telling an OOM from a death needs; guarded calls
# ------------------------------------------------------------------------------------------
class ServerDied(RuntimeError):
    def __init__(self, kind: str, what: str, detail: str = ""):
        super().__init__(f"{what}: server {kind}. {detail}")
        self.kind, self.what, self.detail = kind, what, detail


class BenchServer(ServerProcess):
    """The bench's server at one mem_fraction_static: 8B-shaped dummy weights, the memory saver.

    On a CUDA OOM in resume torch_memory_saver exits the scheduler while the HTTP process lives
    on, so ``alive()`` also watches the ``sglang::`` children, and ``log_size``/``log_since`` let
    ``classify`` read what the server logged during one call.
    """

    def __init__(self, model_dir: str, fraction: float, log_path: Path, http_timeout: float, extra: Sequence[str] = ()):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        args = ["--model-path", model_dir, "--load-format", "dummy", "--enable-memory-saver",
                # Random weights, partly updated: generating after a resume measures speed, not text.
                "--allow-stale-weights", *server_flags("cuda", mem_fraction=fraction), *extra]
        super().__init__(args, str(log_path), client_timeout=http_timeout + 5, echo_command=True)
        self.fraction = fraction
        self.http_timeout = http_timeout
        self.broken = False  # set after a failed cycle: its memory state is unknown
        self.watched: List[Any] = []  # psutil processes (sglang::scheduler, ::detokenizer)

    def start(self, timeout: float = 300.0) -> "BenchServer":
        """A server that does not come up raises ServerDied("failed_to_start"), which the sweep records."""
        try:
            super().start(timeout)
        except ServerStartError as e:
            raise ServerDied("failed_to_start", "start", str(e)) from None
        self._watch_children()
        return self

    def _watch_children(self) -> None:
        try:
            import psutil

            kids = psutil.Process(self.proc.pid).children(recursive=True)
            named = [k for k in kids if "sglang::" in (" ".join(k.cmdline()) + k.name())]
            self.watched = named or kids
        except Exception:
            self.watched = []

    def alive(self) -> bool:
        if self.broken or not super().alive():
            return False
        for p in self.watched:
            try:
                if not p.is_running() or p.status() == "zombie":
                    return False
            except Exception:
                return False
        return True

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        return self._log_since(offset).decode(errors="replace")

    def server_info(self) -> Dict[str, Any]:
        import requests

        keys = ("max_total_num_tokens", "max_req_input_len", "mem_fraction_static", "version", "cuda_graph_max_bs")
        try:
            info = requests.get(self.url + "/get_server_info", timeout=15).json()
            return {k: info.get(k) for k in keys if k in info}
        except Exception as e:
            return {"error": repr(e)}

    def stop(self, wait: float = 5.0) -> None:
        """Less patience than ServerProcess (the run has a time budget); then the watched children,
        in case one left the process group."""
        if self.proc is None:
            return
        super().stop(wait)
        for p in self.watched:
            try:
                p.kill()  # psutil refuses if the pid now names another process
            except Exception:
                pass
        self.watched = []


def classify(server: BenchServer, offset: int, exc: Optional[BaseException]) -> str:
    text = server.log_since(offset) + (repr(exc) if exc else "")
    if OOM_PATTERN.search(text):
        return "oom"
    return "died" if not server.alive() else "error"


def guarded(server: BenchServer, what: str, fn: Callable, *args, timeout: Optional[float] = None, **kw):
    """Run an HTTP call in a thread; give up as soon as the server (or its scheduler) is gone.

    The HTTP call never returns when the scheduler dies mid-request (e.g. torch_memory_saver
    exits the process on a CUDA OOM in resume), so liveness is polled alongside.
    Raises ServerDied (kind oom / died / timeout / error) or returns fn's result.
    """
    import requests

    from server_ext.client import SGLangError

    timeout = timeout or server.http_timeout
    box: Dict[str, Any] = {}

    def run():
        try:
            box["result"] = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    offset = server.log_size()
    th = threading.Thread(target=run, name=f"http-{what}", daemon=True)
    t0 = time.monotonic()
    th.start()
    while th.is_alive():
        th.join(0.25)
        if th.is_alive() and not server.alive():
            th.join(1.0)
            if th.is_alive():
                raise ServerDied(classify(server, offset, None), what, server.log_since(offset)[-800:])
        if th.is_alive() and time.monotonic() - t0 > timeout:
            kind = classify(server, offset, None)
            raise ServerDied("timeout" if kind == "error" else kind, what, f"no reply in {timeout:.0f}s")
    err = box.get("error")
    if err is None:
        return box.get("result")
    if isinstance(err, SGLangError) and err.status == 409:
        raise err  # busy: the caller retries
    if isinstance(err, (SGLangError, requests.RequestException)):
        raise ServerDied(classify(server, offset, err), what, str(err)[:800])
    raise err


def memory_call(server: BenchServer, what: str, fn: Callable, tags, retries: int = 50):
    """release/resume with a retry on 409 (requests still running)."""
    from server_ext.client import SGLangError

    for _ in range(retries):
        try:
            return guarded(server, what, fn, tags)
        except SGLangError as e:
            if e.status != 409:
                raise
            time.sleep(0.2)
    raise ServerDied("error", what, "still busy (409) after retries")


# ------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.json_path = self.out / "staged_vs_all.json"
        self.deadline = _T0 + args.budget_s
        self.report: Dict[str, Any] = {
            "meta": {
                "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "command": shlex.join([sys.executable, *sys.argv]),
                "argv": sys.argv,
                "args": vars(args),
                "hostname": socket.gethostname(),
                "python": sys.version.split()[0],
            },
            "phases": {},
            "errors": [],
        }
        self.server: Optional[BenchServer] = None
        self.trainer: Optional[Trainer] = None
        self.sampler: Optional[Sampler] = None
        self.cycle_seconds: List[float] = []
        self.start_seconds: List[float] = []

    # -- bookkeeping -------------------------------------------------------------------------
    def save(self) -> None:
        write_json(self.json_path, self.report)

    def error(self, where: str, e: BaseException) -> None:
        log(f"ERROR in {where}: {e!r}")
        self.report["errors"].append({"where": where, "error": repr(e)[:2000], "t_s": round(time.monotonic() - _T0, 1)})

    def left(self) -> float:
        return self.deadline - time.monotonic()

    # -- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        import importlib.metadata as md

        cfg = llama8b_config()
        self.cfg = cfg
        self.shapes = llama_param_shapes(cfg)
        weight_bytes = sum(numel(s) for _, s in self.shapes) * 2
        self.report["model"] = {"config": cfg, "params": weight_bytes // 2, "bf16_bytes": weight_bytes,
                                "bf16_gb": gb(weight_bytes), "tokenizer_vocab": self.args.tokenizer_vocab}
        versions = {}
        for pkg in ("torch", "sglang", "torch_memory_saver", "nvidia-ml-py", "transformers"):
            try:
                versions[pkg] = md.version(pkg)
            except Exception:
                versions[pkg] = None
        self.report["meta"]["versions"] = versions
        self.sampler = Sampler(self.args.sample_ms / 1000.0).start()
        self.report["meta"]["gpu"] = self.sampler.device_info()
        self.report["meta"]["gpu"]["nvidia_smi"] = _nvidia_smi()
        self.gpu_total = self.sampler.total()
        self.idle_used = self.sampler.read()
        self.report["meta"]["gpu"]["used_at_start_gb"] = gb(self.idle_used)
        log(f"GPU {self.report['meta']['gpu']['gpu_name']}: {gb(self.gpu_total)} GB total, "
            f"{gb(self.idle_used)} GB used at start")
        if self.idle_used > 3 * GB:
            log("WARNING: the GPU is not idle; figures include another process's memory")
        self.model_dir = build_model_dir(cfg, self.args.tokenizer_vocab)
        log(f"model dir (8B-shaped config, {self.args.tokenizer_vocab}-token tokenizer): {self.model_dir}")
        self.save()

    def start_trainer(self) -> None:
        """Spawn the trainer; it imports torch/sglang while the first server starts."""
        if self.trainer is None:
            log("starting trainer process (spawn)")
            self.trainer = Trainer(self.shapes)

    def trainer_ready(self) -> Trainer:
        if self.trainer.info is None:
            info = self.trainer.wait_ready()
            self.report["trainer"] = dict(info)
            log(f"trainer ready (pid {info['pid']}, {info['serializer']})")
        return self.trainer

    # -- servers -------------------------------------------------------------------------------
    def start_server(self, fraction: float) -> Tuple[BenchServer, float]:
        self.wait_gpu_settled()
        log_path = self.out / "logs" / f"server_{fraction}.log"
        srv = BenchServer(self.model_dir, fraction, log_path, self.args.http_timeout, shlex.split(self.args.server_args))
        log(f"starting server mem_fraction_static={fraction} on port {srv.port} (log {log_path})")
        self.sampler.label = ("server_start", 0, f"start {fraction}")
        t0 = time.monotonic()
        try:
            srv.start(self.args.start_timeout)
        except BaseException:
            srv.stop()
            raise
        seconds = time.monotonic() - t0
        self.start_seconds.append(seconds)
        log(f"server ready in {seconds:.1f}s on port {srv.port}; GPU used {gb(self.sampler.read())} GB")
        return srv, seconds

    def stop_server(self, srv: Optional[BenchServer]) -> None:
        if srv is not None:
            log(f"stopping server mem_fraction_static={srv.fraction}")
            srv.stop()
            self.sampler.label = ("idle", 0, "no server")
        if self.server is srv:
            self.server = None

    def wait_gpu_settled(self, timeout: float = 20) -> None:
        """After a server is killed its memory takes a moment to return; wait for it."""
        floor = self.idle_used + 2 * GB  # + the trainer's CUDA context
        t0 = time.monotonic()
        while self.sampler.read() > floor and time.monotonic() - t0 < timeout:
            time.sleep(0.5)
        if self.sampler.read() > floor:
            log(f"WARNING: GPU still holds {gb(self.sampler.read())} GB before the next server start")

    def ensure_main_server(self) -> BenchServer:
        if self.server is not None and self.server.alive():
            return self.server
        if self.server is not None:
            self.stop_server(self.server)
        self.server, seconds = self.start_server(self.args.fraction)
        main = self.report.setdefault("main_server", {"fraction": self.args.fraction, "starts": []})
        self.sampler.label = ("resident", 0, "warm-up")
        guarded(self.server, "warm-up generate", self.server.client.generate, PROMPT, max_new_tokens=8)
        time.sleep(0.3)
        self.resident_used = self.sampler.read()
        main["starts"].append({"start_s": round(seconds, 1), "resident_gb": gb(self.resident_used),
                               "server_info": self.server.server_info()})
        self.save()
        return self.server

    # -- one cycle -----------------------------------------------------------------------------
    def run_cycle(self, srv: BenchServer, mode: str, cycle: int, hold: float, subset: bool, tag: str) -> Dict[str, Any]:
        """One RL update cycle; returns timings, peak and (on failure) the failure kind."""
        c, tr = srv.client, self.trainer_ready()
        groups = update_groups(self.shapes, self.cfg["num_hidden_layers"], self.args.chunk_layers, subset)
        info: Dict[str, Any] = {}

        def update():
            chunks = tr.request("serialize", groups=groups)["chunks"]
            for i, chunk in enumerate(chunks):
                guarded(srv, "update_weights_from_tensor", c.update_weights_from_tensor, [chunk],
                        flush_cache=(i == len(chunks) - 1))
            info["update_requests"] = len(chunks)

        def alloc():
            info["trainer"] = tr.request("alloc")

        steps: List[Tuple[str, Callable[[], Any]]] = [
            ("release all", lambda: memory_call(srv, "release all", c.release, None)),
            ("trainer alloc", alloc),
        ]
        if mode == "all_at_once":
            steps += [("resume all", lambda: memory_call(srv, "resume all", c.resume, None)),
                      ("update weights", update), ("trainer free", lambda: tr.request("free"))]
        else:
            steps += [("resume weights", lambda: memory_call(srv, "resume weights", c.resume, ["weights"])),
                      ("update weights", update), ("trainer free", lambda: tr.request("free")),
                      ("resume kv_cache", lambda: memory_call(srv, "resume kv_cache", c.resume, ["kv_cache"]))]
        steps.append(("generate", lambda: guarded(srv, "generate", c.generate, PROMPT,
                                                  max_new_tokens=self.args.cycle_tokens, ignore_eos=True)))

        rec: Dict[str, Any] = {"mode": mode, "cycle": cycle, "ok": True, "steps": []}
        t_start = time.monotonic()
        for stage, action in steps:
            self.sampler.label = (f"{tag}:{mode}", cycle, stage)
            t0 = time.monotonic()
            try:
                action()
            except (ServerDied, TrainerError) as e:
                rec.update(ok=False, failed_stage=stage, kind=getattr(e, "kind", "error"), error=str(e)[:1500])
                log(f"  {mode} cycle {cycle}: {stage} FAILED ({rec['kind']}): {str(e)[:300]}")
                self._trainer_free_quietly()
                srv.broken = True  # never reused: its memory state is unknown
                break
            dt = time.monotonic() - t0
            time.sleep(hold)
            rec["steps"].append({"stage": stage, "seconds": round(dt, 3), "gb_after": gb(self.sampler.read())})
        t_end = time.monotonic()
        _, used, _ = self.sampler.window(t_start, t_end)
        used = [u for u in used if u >= 0] + [int(s["gb_after"] * GB) for s in rec["steps"] if s["gb_after"]]
        rec["peak_gb"] = gb(max(used)) if used else None
        rec["seconds"] = round(t_end - t_start, 2)
        rec["t_start"], rec["t_end"] = t_start, t_end
        rec.update({k: v for k, v in info.items() if k != "trainer"})
        if "trainer" in info:
            rec["trainer_bytes"] = info["trainer"]["bytes"]
            rec["trainer_alloc_s"] = round(info["trainer"]["seconds"], 3)
        if rec["ok"]:
            self.cycle_seconds.append(rec["seconds"])
        return rec

    def _trainer_free_quietly(self) -> None:
        try:
            self.trainer.request("free", timeout=60)
        except Exception as e:
            log(f"  trainer free after failure: {e!r}")

    def run_cycles(self, srv: BenchServer, mode: str, n: int, hold: float, subset: bool, tag: str) -> Dict[str, Any]:
        out: Dict[str, Any] = {"status": "ok", "cycles_done": 0, "peaks_gb": [], "cycle_s": []}
        for k in range(n):
            est = median(self.cycle_seconds) or 5.0
            if self.left() < est + 15:
                out.update(status="truncated_by_budget")
                log(f"  {mode}: stopping after {k} cycles (time budget)")
                break
            rec = self.run_cycle(srv, mode, k, hold, subset, tag)
            out["peaks_gb"].append(rec["peak_gb"])
            out["cycle_s"].append(rec["seconds"])
            if not rec["ok"]:
                out.update(status=rec["kind"], failed_cycle=k, failed_stage=rec["failed_stage"], message=rec["error"][:800])
                break
            out["cycles_done"] = k + 1
        peaks = [p for p in out["peaks_gb"] if p is not None]
        out["peak_gb"] = max(peaks) if peaks else None
        log(f"  {mode}: {out['status']} after {out['cycles_done']}/{n} cycles, peak {out['peak_gb']} GB")
        return out

    # -- phases --------------------------------------------------------------------------------
    def phase_cycle(self) -> None:
        srv = self.ensure_main_server()
        a = self.args
        res: Dict[str, Any] = {"fraction": a.fraction, "hold_s": a.hold, "weight_update": "full model, "
                               f"{len(update_groups(self.shapes, self.cfg['num_hidden_layers'], a.chunk_layers, False))} requests",
                               "gpu_total_gb": gb(self.gpu_total), "modes": {}}
        self.report["phases"]["cycle"] = res
        for mode in MODES:  # staged first: an all-at-once OOM takes the server down
            srv = self.ensure_main_server()
            self.sampler.label = ("resident", 0, "resident")
            time.sleep(a.hold)
            resident = self.sampler.read()
            log(f"cycle phase: {mode} (server resident {gb(resident)} GB)")
            rec = self.run_cycle(srv, mode, 0, a.hold, subset=False, tag="cycle")
            t, used, labels = self.sampler.window(rec["t_start"], rec["t_end"])
            res["modes"][mode] = {
                "ok": rec["ok"], "peak_gb": rec["peak_gb"], "resident_before_gb": gb(resident),
                "seconds": rec["seconds"], "steps": rec["steps"], "error": rec.get("error"), "kind": rec.get("kind"),
                "stages": stage_summary(used, labels), "timeline": timeline_record(t, used, labels, rec["t_start"]),
            }
            if rec.get("trainer_bytes"):
                res["trainer_weights_bytes"] = rec["trainer_bytes"]
                res["trainer_weights_gb"] = gb(rec["trainer_bytes"])
            res["resident_gb"] = gb(resident)
            log(f"  {mode}: peak {rec['peak_gb']} GB, ok={rec['ok']}, {rec['seconds']}s")
            self.save()
        s, al = res["modes"]["staged"], res["modes"]["all_at_once"]
        if s["ok"] and al["ok"]:
            res["saving_gb"] = round(al["peak_gb"] - s["peak_gb"], 3)
            if res.get("trainer_weights_gb"):
                res["saving_over_trainer_weights"] = round(res["saving_gb"] / res["trainer_weights_gb"], 3)
            res["headroom_gb"] = {m: round(gb(self.gpu_total) - res["modes"][m]["peak_gb"], 3) for m in MODES}
        self.save()
        try:
            plot_timeline(res, self.out / "memory_timeline.png")
            log(f"wrote {self.out / 'memory_timeline.png'}")
        except Exception as e:
            self.error("plot", e)

    def phase_latency(self) -> None:
        srv = self.ensure_main_server()
        a, c = self.args, srv.client
        res: Dict[str, Any] = {"reps": a.latency_reps, "http": {"per_tag": {}}, "raw_tms": {}}
        self.report["phases"]["latency"] = res

        def timed(what, fn, tags):
            t0 = time.perf_counter()
            memory_call(srv, what, fn, tags)
            return time.perf_counter() - t0

        for tag, tags in (("kv_cache", ["kv_cache"]), ("weights", ["weights"]), ("all", None)):
            rel, resm, freed = [], [], []
            for r in range(a.latency_reps):
                self.sampler.label = ("latency", r, f"http {tag}")
                before = self.sampler.read()
                rel.append(timed(f"release {tag}", c.release, tags))
                time.sleep(0.2)
                freed.append(before - self.sampler.read())
                resm.append(timed(f"resume {tag}", c.resume, tags))
                time.sleep(0.2)
            res["http"]["per_tag"][tag] = {
                "release_s": [round(x, 4) for x in rel], "resume_s": [round(x, 4) for x in resm],
                "release_s_median": round(median(rel), 4), "resume_s_median": round(median(resm), 4),
                "bytes": int(median(freed)), "bytes_gb": gb(median(freed)),
            }
            log(f"  HTTP {tag}: release {median(rel):.3f}s resume {median(resm):.3f}s ({gb(median(freed))} GB)")
            self.save()
        noop = [timed("resume (no-op)", c.resume, ["kv_cache"]) for _ in range(a.latency_reps)]
        res["http"]["noop_resume_s_median"] = round(median(noop), 4)
        res["http"]["note"] = "wall time of the HTTP call; no-op = resume of a resident tag (HTTP + IPC overhead)"
        self.save()

        # Raw torch_memory_saver on the same bytes, while the server holds nothing.
        memory_call(srv, "release all (for raw tms)", c.release, None)
        try:
            for tag in ("weights", "kv_cache"):
                nbytes = res["http"]["per_tag"][tag]["bytes"]
                if nbytes < 1e8:
                    res["raw_tms"][tag] = {"skipped": f"release of {tag} freed only {nbytes} bytes"}
                    continue
                self.sampler.label = ("latency", 0, f"raw tms {tag}")
                log(f"  raw torch_memory_saver: {tag} {gb(nbytes)} GB")
                res["raw_tms"][tag] = run_tms_child(tag, nbytes, a.latency_reps, a.tms_mode)
                self.save()
        finally:
            memory_call(srv, "resume all (after raw tms)", c.resume, None)
        self.save()

    def throughput(self, srv: BenchServer, key: str) -> None:
        a, c = self.args, srv.client
        prompts = [f"{i}: {PROMPT}" for i in range(a.tput_batch)]
        self.sampler.label = ("throughput", 0, key)
        guarded(srv, "throughput warm-up", c.generate, prompts, max_new_tokens=8, ignore_eos=True)
        runs = []
        for _ in range(a.tput_reps):
            t0 = time.perf_counter()
            outs = guarded(srv, "throughput", c.generate, prompts, max_new_tokens=a.tput_tokens, ignore_eos=True)
            wall = time.perf_counter() - t0
            toks = sum(o["meta_info"]["completion_tokens"] for o in outs)
            runs.append({"wall_s": round(wall, 3), "completion_tokens": toks, "tokens_per_s": round(toks / wall, 1)})
        tp = self.report["phases"].setdefault("throughput", {"batch": a.tput_batch, "max_new_tokens": a.tput_tokens})
        tp[key] = {"runs": runs, "tokens_per_s_median": round(median([r["tokens_per_s"] for r in runs]), 1)}
        log(f"  throughput {key}: {tp[key]['tokens_per_s_median']} tokens/s")
        self.save()

    def sweep_one(self, fraction: float, srv: Optional[BenchServer], with_tput: bool) -> Dict[str, Any]:
        """``--sweep-cycles`` staged cycles then all-at-once ones on one server (started if None)."""
        a = self.args
        run: Dict[str, Any] = {}
        if srv is None:
            try:
                srv, seconds = self.start_server(fraction)
                run.update(start="ok", start_s=round(seconds, 1))
                guarded(srv, "warm-up", srv.client.generate, PROMPT, max_new_tokens=8)
            except ServerDied as e:
                run.update(start="failed", start_message=str(e)[-1500:])
                for mode in MODES:
                    run[mode] = {"status": "failed_to_start"}
                log(f"  mem_frac {fraction}: server failed to start")
                return run
        else:
            run.update(start="ok (main server reused)")
        run["server_info"] = srv.server_info()
        time.sleep(0.3)
        run["resident_gb"] = gb(self.sampler.read())
        hold, subset, tag = a.sweep_hold, a.sweep_update == "subset", f"sweep{fraction}"
        run["staged"] = self.run_cycles(srv, "staged", a.sweep_cycles, hold, subset, tag)
        if with_tput and srv.alive():
            self.throughput(srv, f"after_{a.sweep_cycles}_staged_cycles")
        if run["staged"]["status"] == "ok":
            run["all_at_once"] = self.run_cycles(srv, "all_at_once", a.sweep_cycles, hold, subset, tag)
        else:
            run["all_at_once"] = {"status": "not_run", "note": "staged did not pass on this server"}
        if with_tput and srv.alive() and run["all_at_once"].get("status") == "ok":
            self.throughput(srv, f"after_{a.sweep_cycles}_all_at_once_cycles")
        for mode in MODES:
            if run[mode].get("peak_gb") is not None:
                run[mode]["headroom_gb"] = round(gb(self.gpu_total) - run[mode]["peak_gb"], 3)
        self.stop_server(srv)  # the next fraction needs the GPU to itself
        return run

    def phase_sweep(self, do_tput: bool) -> None:
        a = self.args
        n_tensors = sum(len(g) for g in update_groups(self.shapes, self.cfg["num_hidden_layers"], a.chunk_layers, a.sweep_update == "subset"))
        res: Dict[str, Any] = {
            "cycles": a.sweep_cycles, "hold_s": a.sweep_hold, "fractions": a.fractions,
            "weight_update": (f"subset: {n_tensors} tensors (layer 0 + final norm) of the trainer's full allocation; "
                              "the trainer still allocates all weights every cycle") if a.sweep_update == "subset"
            else f"full model, {n_tensors} tensors",
            "runs": {},
        }
        self.report["phases"]["sweep"] = res
        main_alive = self.server is not None and self.server.alive()
        # The running main server serves its own fraction first; then it is stopped.
        order = sorted(a.fractions, key=lambda f: 0 if (main_alive and f == a.fraction) else 1)
        for fraction in order:
            key = str(fraction)
            reuse = fraction == a.fraction and self.server is not None and self.server.alive()
            if not reuse and self.server is not None:
                self.stop_server(self.server)
            need = (median(self.start_seconds) or 70) + 30
            if not reuse and self.left() < need:
                res["runs"][key] = {"start": "skipped", **{m: {"status": "skipped", "note": "time budget"} for m in MODES}}
                log(f"sweep {fraction}: skipped ({self.left():.0f}s left, ~{need:.0f}s needed to start and cycle)")
                continue
            log(f"sweep mem_fraction_static={fraction}")
            try:
                res["runs"][key] = self.sweep_one(fraction, self.server if reuse else None, do_tput and reuse)
            except Exception as e:
                self.error(f"sweep {fraction}", e)
                res["runs"][key] = {"start": "error", "error": repr(e)[:1000]}
            res["largest_ok"] = {m: largest_ok(res["runs"], m) for m in MODES}
            self.save()
        res["largest_ok"] = {m: largest_ok(res["runs"], m) for m in MODES}
        self.save()

    # -- driver --------------------------------------------------------------------------------
    def run(self) -> int:
        a = self.args
        phases = a.phases
        try:
            self.setup()
            self.start_trainer()
            if "throughput" in phases:
                try:
                    self.throughput(self.ensure_main_server(), "before")
                except Exception as e:
                    self.error("throughput before", e)
            for name, fn in (("cycle", self.phase_cycle), ("latency", self.phase_latency)):
                if name in phases:
                    log(f"--- phase {name} ---")
                    try:
                        fn()
                    except Exception as e:
                        self.error(name, e)
                        self.report["errors"][-1]["traceback"] = traceback.format_exc()[-3000:]
                    self.save()
            if "sweep" in phases:
                log("--- phase sweep ---")
                self.phase_sweep(do_tput="throughput" in phases)
            elif "throughput" in phases:
                log(f"--- throughput: {a.sweep_cycles} staged cycles, then measure again ---")
                try:
                    srv = self.ensure_main_server()
                    rec = self.run_cycles(srv, "staged", a.sweep_cycles, a.sweep_hold, a.sweep_update == "subset", "tput")
                    self.report["phases"].setdefault("throughput", {})["cycles_between"] = rec
                    if srv.alive():
                        self.throughput(srv, f"after_{a.sweep_cycles}_staged_cycles")
                except Exception as e:
                    self.error("throughput after", e)
        except Exception as e:
            self.error("run", e)
            self.report["errors"][-1]["traceback"] = traceback.format_exc()[-3000:]
        finally:
            self.teardown()
        for line in summary_lines(self.report):
            print(line, flush=True)
        return 0 if not self.report["errors"] else 1

    def teardown(self) -> None:
        try:
            self.stop_server(self.server)
        except Exception as e:
            self.error("stop server", e)
        if self.trainer is not None:
            self.trainer.close()
        if self.sampler is not None:
            self.sampler.stop()
            self.report["meta"]["samples"] = len(self.sampler.t)
            if len(self.sampler.t) > 1:
                dts = [b - a for a, b in zip(self.sampler.t, self.sampler.t[1:])]
                self.report["meta"]["sample_interval_s_median"] = round(statistics.median(dts), 4)
        if getattr(self, "model_dir", None):
            import shutil

            shutil.rmtree(self.model_dir, ignore_errors=True)
        self.report["meta"]["wall_s"] = round(time.monotonic() - _T0, 1)
        self.save()
        log(f"wrote {self.json_path}")


def _nvidia_smi() -> Optional[str]:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20).stdout.strip() or None
    except Exception:
        return None


# ------------------------------------------------------------------------------------------
# Raw torch_memory_saver timing, in a standalone process
# ------------------------------------------------------------------------------------------
def run_tms_child(tag: str, nbytes: int, reps: int, mode: str) -> Dict[str, Any]:
    """Time pause/resume of ``nbytes`` in one region, in a child process (preload mode = SGLang's)."""
    spec = {"tag": tag, "nbytes": int(nbytes), "reps": reps, "mode": mode}
    env = dict(os.environ)
    if mode == "preload":
        try:
            from torch_memory_saver import configure_subprocess  # sets LD_PRELOAD, as SGLang does

            with configure_subprocess():
                env = dict(os.environ)
        except Exception as e:
            log(f"  torch_memory_saver.configure_subprocess unavailable ({e!r}); using hook_mode='torch'")
            return run_tms_child(tag, nbytes, reps, "torch")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--tms-child", json.dumps(spec)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    for line in p.stdout.splitlines():
        if line.startswith("TMS_RESULT "):
            return json.loads(line[len("TMS_RESULT "):])
    if mode == "preload":
        log(f"  raw tms in preload mode failed (rc {p.returncode}); retrying with hook_mode='torch'")
        res = run_tms_child(tag, nbytes, reps, "torch")
        res["preload_failure"] = (p.stderr or p.stdout)[-800:]
        return res
    return {"error": f"rc {p.returncode}", "stderr": (p.stderr or p.stdout)[-1500:]}


def tms_child(spec: Dict[str, Any]) -> None:
    import torch

    try:
        from torch_memory_saver import torch_memory_saver as tms
    except ImportError:  # < 0.0.8: no singleton
        from torch_memory_saver import TorchMemorySaver

        tms = TorchMemorySaver()
    if spec["mode"] == "torch":
        tms.hook_mode = "torch"
    torch.cuda.set_device(0)
    torch.zeros(1, device="cuda")
    tag, nbytes = spec["tag"], spec["nbytes"]
    t0 = time.perf_counter()
    with tms.region(tag=tag):
        buf = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    alloc_s = time.perf_counter() - t0
    pause_s, resume_s = [], []
    for _ in range(spec["reps"]):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        tms.pause(tag)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        tms.resume(tag)
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        pause_s.append(t1 - t0)
        resume_s.append(t2 - t1)
    del buf
    out = {
        "tag": tag, "bytes": nbytes, "gb": gb(nbytes), "hook_mode": spec["mode"], "alloc_s": round(alloc_s, 4),
        "pause_s": [round(x, 4) for x in pause_s], "resume_s": [round(x, 4) for x in resume_s],
        "pause_s_median": round(statistics.median(pause_s), 4), "resume_s_median": round(statistics.median(resume_s), 4),
        "note": "one region, one tensor of the same bytes; torch.cuda.synchronize() around each call",
    }
    print("TMS_RESULT " + json.dumps(out), flush=True)


# ------------------------------------------------------------------------------------------
# Self-test of the pure parts (no GPU)
# ------------------------------------------------------------------------------------------
def selftest(out: Path) -> None:
    import random

    out.mkdir(parents=True, exist_ok=True)
    shapes = llama_param_shapes(llama8b_config())
    nbytes = sum(numel(s) for _, s in shapes) * 2
    assert len(shapes) == 32 * 9 + 3, len(shapes)
    assert 16.0e9 < nbytes < 16.1e9, nbytes
    groups = update_groups(shapes, 32, 8, False)
    assert sorted(sum(groups, [])) == sorted(n for n, _ in shapes) and len(groups) == 6
    assert len(update_groups(shapes, 32, 8, True)[0]) == 10

    random.seed(0)
    total, w, kv, trainer = 143.8e9, 16.1e9, 105e9, nbytes
    base = 0.6e9 + 4e9  # contexts, cuda graphs

    def synth(mode):
        levels = [("release all", base), ("trainer alloc", base + trainer)]
        if mode == "all_at_once":
            levels += [("resume all", base + trainer + w + kv), ("update weights", base + trainer + w + kv),
                       ("trainer free", base + w + kv)]
        else:
            levels += [("resume weights", base + trainer + w), ("update weights", base + trainer + w),
                       ("trainer free", base + w), ("resume kv_cache", base + w + kv)]
        levels.append(("generate", base + w + kv))
        t, used, labels, now = [], [], [], 100.0
        for stage, level in levels:
            for _ in range(random.randint(15, 25)):
                t.append(now)
                used.append(int(level + random.uniform(0, 0.05e9)))
                labels.append((f"cycle:{mode}", 0, stage))
                now += 0.02
        return t, used, labels

    cycle = {"fraction": 0.85, "gpu_total_gb": gb(total), "resident_gb": gb(base + w + kv),
             "trainer_weights_gb": gb(trainer), "modes": {}}
    for mode in MODES:
        t, used, labels = synth(mode)
        stages = stage_summary(used, labels)
        assert all(s["n"] >= 10 for s in stages), stages
        cycle["modes"][mode] = {"ok": True, "peak_gb": gb(max(used)), "stages": stages,
                                "timeline": timeline_record(t, used, labels, t[0])}
    cycle["saving_gb"] = round(cycle["modes"]["all_at_once"]["peak_gb"] - cycle["modes"]["staged"]["peak_gb"], 3)
    cycle["saving_over_trainer_weights"] = round(cycle["saving_gb"] / cycle["trainer_weights_gb"], 3)
    assert abs(cycle["saving_over_trainer_weights"] - 1) < 0.02, cycle["saving_over_trainer_weights"]

    runs = {"0.85": {"start": "ok", "staged": {"status": "ok"}, "all_at_once": {"status": "ok"}},
            "0.88": {"start": "ok", "staged": {"status": "ok"}, "all_at_once": {"status": "oom", "failed_cycle": 0}},
            "0.94": {"start": "failed", "staged": {"status": "failed_to_start"}, "all_at_once": {"status": "failed_to_start"}}}
    assert largest_ok(runs, "staged") == 0.88 and largest_ok(runs, "all_at_once") == 0.85
    report = {"meta": {"selftest": True}, "phases": {
        "cycle": cycle, "sweep": {"runs": runs, "largest_ok": {m: largest_ok(runs, m) for m in MODES}},
        "latency": {"http": {"per_tag": {"kv_cache": {"release_s_median": 0.2, "resume_s_median": 0.4, "bytes_gb": 105}}},
                    "raw_tms": {"kv_cache": {"pause_s_median": 0.1, "resume_s_median": 0.3}}},
        "throughput": {"before": {"tokens_per_s_median": 1000.0}, "after_10_staged_cycles": {"tokens_per_s_median": 990.0}}},
        "errors": []}
    write_json(out / "staged_vs_all.json", report)
    assert json.load(open(out / "staged_vs_all.json"))["phases"]["cycle"]["saving_gb"] == cycle["saving_gb"]
    plot_timeline(cycle, out / "memory_timeline.png")
    size = (out / "memory_timeline.png").stat().st_size
    assert size < 500_000, size
    for line in summary_lines(report):
        print(line)
    print(f"selftest ok: png {size // 1024} KB, saving {cycle['saving_gb']} GB", flush=True)


# ------------------------------------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--out", help="output directory (JSON, PNG, server logs)")
    ap.add_argument("--phases", default=",".join(ALL_PHASES), help="comma list of " + ",".join(ALL_PHASES))
    ap.add_argument("--fraction", type=float, default=0.85, help="mem_fraction_static of the main server")
    ap.add_argument("--fractions", nargs="+", default=["0.85", "0.88", "0.91", "0.94"],
                    help="sweep fractions (space or comma separated)")
    ap.add_argument("--sweep-cycles", type=int, default=10)
    ap.add_argument("--sweep-update", choices=("subset", "full"), default="subset",
                    help="weights sent per sweep cycle (the trainer always allocates all of them)")
    ap.add_argument("--sweep-hold", type=float, default=0.05, help="seconds held after each sweep step")
    ap.add_argument("--hold", type=float, default=0.3, help="seconds held after each step of the detailed cycle")
    ap.add_argument("--sample-ms", type=float, default=20)
    ap.add_argument("--chunk-layers", type=int, default=8, help="layers per update_weights_from_tensor request")
    ap.add_argument("--cycle-tokens", type=int, default=8, help="max_new_tokens of the generate closing each cycle")
    ap.add_argument("--latency-reps", type=int, default=3)
    ap.add_argument("--tms-mode", choices=("preload", "torch"), default="preload",
                    help="torch_memory_saver hook mode of the raw timing process (SGLang uses preload)")
    ap.add_argument("--tput-batch", type=int, default=16)
    ap.add_argument("--tput-tokens", type=int, default=256)
    ap.add_argument("--tput-reps", type=int, default=2)
    ap.add_argument("--tokenizer-vocab", type=int, default=1000)
    ap.add_argument("--http-timeout", type=float, default=120)
    ap.add_argument("--start-timeout", type=float, default=240)
    ap.add_argument("--budget-s", type=float, default=540,
                    help="wall-clock budget: sweep servers/cycles that would not fit are skipped and reported")
    ap.add_argument("--server-args", default="", help="extra flags for the server, one string")
    ap.add_argument("--selftest", action="store_true", help="CPU-only check of stats, JSON and plot into --out")
    ap.add_argument("--tms-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    bad = set(args.phases) - set(ALL_PHASES)
    if bad:
        ap.error(f"unknown phase(s) {sorted(bad)}; choose from {ALL_PHASES}")
    args.fractions = [float(x) for f in args.fractions for x in f.split(",") if x.strip()]
    if not args.tms_child and not args.out:
        ap.error("--out is required")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.tms_child:
        tms_child(json.loads(args.tms_child))
        return 0
    if args.selftest:
        selftest(Path(args.out))
        return 0
    log(f"staged_vs_all: phases {args.phases}, main fraction {args.fraction}, sweep {args.fractions}, "
        f"budget {args.budget_s:.0f}s")
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
