"""What one test server start costs on the CPU: wall seconds until it serves, and the CPU seconds
each of its processes spent until then (issue 19: CI's time is mostly server starts).

    python bench/server_start_cost.py [--runs 2] [extra launch_server flags]

Starts ``server_ext.launch`` as the end-to-end tests do on a machine without a GPU (the tiny
offline model, ``--device cpu`` flags, ``--enable-memory-saver`` with the torch_memory_saver
stand-in of tests/support), waits until it is ready (``ServerProcess``: a generate answered and
SGLang's warm-up done), reads the CPU time of the launcher and of every process under it, stops
it. Run it on an otherwise idle machine, against the SGLang of the venv it runs in; the first run
after an install also compiles SGLang's bytecode, so the last run is the one to quote. The server
writes its bytecode cache as the tests' servers do (PYTHONDONTWRITEBYTECODE, set in some images,
is dropped: with it every start compiles torch and SGLang again); ``--no-bytecode-cache`` keeps it
set to measure that. Prints one line per run and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib import metadata

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from server_ext.envs import prepend_pythonpath  # noqa: E402
from sglang_patch_dev.device_flags import server_flags  # noqa: E402
from sglang_patch_dev.offline_models import build  # noqa: E402
from sglang_patch_dev.server_process import ServerProcess  # noqa: E402


def one_start(model: str, work: str, extra, bytecode_cache: bool) -> dict:
    env = dict(os.environ, TMPDIR=work, TORCHDYNAMO_DISABLE="1", TMS_STANDIN_LOG=os.path.join(work, "tms.jsonl"))
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    prepend_pythonpath(env, os.path.join(REPO, "tests", "support"))  # the memory saver's CPU stand-in
    server = ServerProcess(["--model-path", model, "--enable-memory-saver", *server_flags("cpu"), *extra],
                           log_path=os.path.join(work, "server.log"), env=env, stop_grace_s=2.0)
    started = time.monotonic()
    server.start(timeout=900)
    wall = time.monotonic() - started
    root = psutil.Process(server.proc.pid)
    cpu = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            name = "launcher" if proc.pid == root.pid else proc.name()
            cpu[name] = round(cpu.get(name, 0.0) + times.user + times.system, 1)
        except psutil.Error:
            pass
    server.stop()
    return {"wall_s": round(wall, 1), "cpu_s": round(sum(cpu.values()), 1), "cpu_s_by_process": cpu}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="start the servers with PYTHONDONTWRITEBYTECODE=1 (they compile every import)")
    args, extra = ap.parse_known_args(argv)
    work = tempfile.mkdtemp(prefix="start-cost-")
    model = build(os.path.join(work, "model"))
    runs = []
    for i in range(args.runs):
        run = one_start(model, tempfile.mkdtemp(dir=work), extra, not args.no_bytecode_cache)
        runs.append(run)
        print(f"run {i + 1}: ready after {run['wall_s']} s, {run['cpu_s']} CPU-s {run['cpu_s_by_process']}", flush=True)
    print(json.dumps({"sglang": metadata.version("sglang"), "cores": os.cpu_count(),
                      "bytecode_cache": not args.no_bytecode_cache, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
