"""ruff over the whole repository (its settings: pyproject.toml [tool.ruff]) and mypy over
sglang_patch/ (pyproject.toml [tool.mypy])."""

import os
import subprocess
import sys

from conftest import REPO


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", REPO], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_finds_nothing():
    # No cache: nothing written into the repository, and no stale result from another release's venv.
    config = os.path.join(REPO, "pyproject.toml")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", config, "--cache-dir", os.devnull],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
