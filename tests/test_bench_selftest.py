"""The benchmarks' own ``--selftest`` runs, so CI notices when a bench script breaks.

The benchmarks themselves need a GPU; their self-tests check the parts that do not (statistics,
the JSON they write, the plot, WeightsBackup on the CPU) in a few seconds, with no SGLang server.
Each runs as its own process, the way a person runs it from the repo root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_selftest(script: str, out: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, os.path.join("bench", script), "--out", out, "--selftest"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"{script} --selftest exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_staged_vs_all_selftest_writes_json_and_plot(tmp_path):
    pytest.importorskip("matplotlib", reason="staged_vs_all.py's selftest draws memory_timeline.png")
    proc = run_selftest("staged_vs_all.py", str(tmp_path))
    assert "selftest ok" in proc.stdout

    with open(tmp_path / "staged_vs_all.json") as f:
        report = json.load(f)
    assert report["errors"] == []
    assert set(report["phases"]) == {"cycle", "latency", "throughput", "sweep"}
    cycle = report["phases"]["cycle"]
    assert set(cycle["modes"]) == {"staged", "all_at_once"}
    for mode in cycle["modes"].values():
        assert {"ok", "peak_gb", "stages", "timeline"} <= set(mode)
        assert {"t_s", "gb", "stage_starts"} <= set(mode["timeline"])
    # The synthetic cycle is built so that staged saves the trainer's weight bytes.
    assert cycle["saving_gb"] > 0 and abs(cycle["saving_over_trainer_weights"] - 1) < 0.02
    assert report["phases"]["sweep"]["largest_ok"] == {"staged": 0.88, "all_at_once": 0.85}

    png = (tmp_path / "memory_timeline.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000


def test_weights_backup_selftest_writes_json(tmp_path):
    out = tmp_path / "weights_backup.json"
    proc = run_selftest("weights_backup.py", str(out))
    assert "selftest ok" in proc.stdout

    res = json.loads(out.read_text())
    assert res["selftest"] is True and res["device"] == "cpu"
    assert set(res["A"]["median_s"]) == {"save", "restore"}
    assert res["A"]["host_bytes"] == res["bytes"] > 0
