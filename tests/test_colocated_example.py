"""examples/colocated_rl.py end to end: 3 RL steps of the staged cycle, then the fresh-server check.

Runs the example as a subprocess on this test run's device (the CPU here, with the
torch_memory_saver stand-in; the real one on a GPU) and reads its JSON report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import DEVICE, REPO

pytestmark = pytest.mark.example  # CI's examples step (scripts/test-examples.sh), not scripts/test.sh

STEPS = 3


def test_colocated_rl_example(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(REPO, "examples", "colocated_rl.py"),
           "--steps", str(STEPS), "--device", DEVICE, "--out", str(out)]
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    logs = "".join(f"\n--- {p.name} ---\n" + p.read_text(errors="replace")[-3000:] for p in sorted((out / "logs").glob("*.log")))
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}{logs}"

    report = json.loads((out / "colocated_rl.json").read_text())
    assert [s["step"] for s in report["steps"]] == list(range(1, STEPS + 1))
    for s in report["steps"]:
        assert s["requests"]["sent"] > 0 and s["requests"]["answered"] == s["requests"]["sent"], s["requests"]
        assert s["requests"]["refused"] == 0 and s["requests"]["lost"] == 0, s["requests"]
        states = s["states"]
        # release all -> resume weights (the rest stays released) -> push -> resume the rest
        assert {"weights", "kv_cache"} <= set(states["after_release"]), states
        assert "weights" not in states["after_resume_weights"] and "kv_cache" in states["after_resume_weights"], states
        assert states["weights_current_after_push"] is True, states
        assert set(states["resumed_last"]) == set(states["after_resume_weights"]), states
        assert states["after_resume_all"] == [] and s["server_status"]["released_tags"] == [], s
        assert s["server_status"]["weights_current"] is True
        assert set(s["memory_gib"]) == {"after_release", "after_resume_weights", "peak", "after_resume_all"}
        assert 0.0 <= s["reward"] <= 1.0
    assert report["totals"]["lost"] == 0 and report["totals"]["refused"] == 0, report["totals"]
    check = report["final_check"]
    assert check["identical"] is True and check["trained"] == check["fresh"], check
    assert report["ok"] is True
