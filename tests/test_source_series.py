"""patches/: the series is well formed, applies to pristine SGLang 0.4.6.post5 with no fuzz, and
both forms add the same fields. The end-to-end modules run against the source form as CI's second
step (scripts/test-source-form.sh), not nested in this suite."""

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

# Where the source-patched SGLang is built; scripts/test-source-form.sh uses the same tree.
SOURCE_TREE = f"build/sglang-source-patched/{series.SGLANG_VERSION}"

pytestmark = pytest.mark.skipif(not series.DEFAULT_PATCHES_DIR.is_dir(),
                                reason=f"no source series for sglang {series.SGLANG_VERSION} yet (patches/{series.SGLANG_VERSION}/)")


@pytest.fixture(scope="module")
def source_tree() -> Path:
    """Pristine SGLang + patches/<version>/series, rebuilt only when the series changed."""
    tree = Path(REPO) / SOURCE_TREE
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
    assert (tmp_path / "sglang" / "srt" / "memory_occupation" / "scheduler_side.py").is_file()


def _start_fields_probe(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.join(REPO, "tests", "fields_probe.py")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _fields(probe: subprocess.Popen) -> dict:
    stdout, stderr = probe.communicate(timeout=300)
    assert probe.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def test_both_forms_define_the_same_fields(source_tree):
    """The runtime patches widen the dataclasses; the series writes the fields by hand: they must agree."""
    runtime_env = prepend_pythonpath(dict(os.environ), REPO)
    runtime_env.pop("SGLANG_PATCH_RUNTIME", None)
    probes = _start_fields_probe(runtime_env), _start_fields_probe(source_env(source_tree))  # side by side
    runtime, source = (_fields(p) for p in probes)
    assert not runtime["source_patched"] and source["source_patched"]
    assert source["classes"] == runtime["classes"]


def test_launch_refuses_runtime_off_without_a_source_patched_sglang():
    env = prepend_pythonpath(dict(os.environ, SGLANG_PATCH_RUNTIME="off"), REPO)
    proc = subprocess.run([sys.executable, "-m", "server_ext.launch", "--model-path", "unused", "--device", "cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "was not patched with patches/<version>/series" in proc.stderr
