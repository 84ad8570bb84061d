"""patches/: the series is well formed, applies to pristine SGLang 0.4.6.post5 with no fuzz, and a
SGLang patched from source passes the same end-to-end tests with runtime patching switched off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from server_ext.envs import prepend_pythonpath
from sglang_patch_dev import series

# The end-to-end modules the source form must pass, exactly as the runtime form does.
E2E_MODULES = ["test_e2e_http.py", "test_staged_update.py", "test_engine.py", "test_server_options.py",
               "test_scheduler_edges.py"]


@pytest.fixture(scope="module")
def source_tree() -> Path:
    """Pristine SGLang + patches/series, rebuilt only when the series changed."""
    tree = Path(REPO) / "build" / "sglang-source-patched"
    series.build(tree, if_changed=True)
    return tree


def source_env(tree: Path) -> dict:
    env = dict(os.environ)
    env["SGLANG_PATCH_RUNTIME"] = "off"
    prepend_pythonpath(env, str(tree))
    prepend_pythonpath(env, REPO)
    return env


def test_series_is_well_formed():
    """Every runtime patch has its file, every file is in the series once, headers and shared copies agree."""
    assert series.lint(series.DEFAULT_PATCHES_DIR) == []


def test_series_applies_to_pristine_sglang_without_fuzz(tmp_path):
    series.make_pristine(tmp_path)
    series.apply_series(tmp_path)  # raises PatchFailed naming the first patch that does not apply exactly
    assert (tmp_path / "sglang" / "srt" / "memory_occupation" / "scheduler.py").is_file()


def _fields(env) -> dict:
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tests", "fields_probe.py")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_both_forms_define_the_same_fields(source_tree):
    """The runtime patches widen the dataclasses; the series writes the fields by hand: they must agree."""
    runtime_env = prepend_pythonpath(dict(os.environ), REPO)
    runtime_env.pop("SGLANG_PATCH_RUNTIME", None)
    runtime, source = _fields(runtime_env), _fields(source_env(source_tree))
    assert not runtime["source_patched"] and source["source_patched"]
    assert source["classes"] == runtime["classes"]


def test_launch_refuses_runtime_off_without_a_source_patched_sglang():
    env = prepend_pythonpath(dict(os.environ, SGLANG_PATCH_RUNTIME="off"), REPO)
    proc = subprocess.run([sys.executable, "-m", "server_ext.launch", "--model-path", "unused", "--device", "cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "was not patched with patches/series" in proc.stderr


def test_source_patched_sglang_passes_the_end_to_end_tests(source_tree):
    """The e2e modules again, in a child pytest, against the source-patched tree, runtime patching off."""
    tests = [os.path.join(REPO, "tests", m) for m in E2E_MODULES]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=REPO, env=source_env(source_tree), capture_output=True, text=True, timeout=3600,
    )
    tail = proc.stdout[-6000:]
    assert proc.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail, tail
