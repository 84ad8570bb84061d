"""Every patch against the real installed SGLang: applies, re-applies as a no-op, reverts exactly.

Each check runs in a fresh interpreter (as ddtrace does), so no test sees another's patches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import sglang_patch
from server_ext.envs import prepend_pythonpath

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = [p.name for p in sglang_patch.patches()]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=with_repo_on_path(), capture_output=True, text=True, timeout=300)


def with_repo_on_path() -> dict:
    return prepend_pythonpath(dict(os.environ), REPO)


@pytest.fixture(scope="module")
def report():
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "patch_check.py")],
        cwd=REPO, env=with_repo_on_path(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", NAMES)
def test_patch_applies_reapplies_and_reverts_exactly(report, name):
    r = report[name]
    assert r["targets"] > 0
    assert r["missing_before"] == []
    assert r["all_replaced"], "a target was left as it was"
    assert r["replacements_marked"], "a replacement does not carry the patch's name"
    assert r["second_apply_noop"], "applying twice changed (double wrapped) a target"
    assert r["reverted_exactly"], "revert did not restore the exact original objects"


def test_all_patches_apply_in_order_and_revert(report):
    assert report["_all_applied"] == NAMES
    assert report["_after_revert"] == []


def test_every_patch_declares_name_targets_spec_and_process():
    for p in sglang_patch.patches():
        assert p.name and p.targets and p.summary
        assert p.sglang_spec == "==0.4.6.post5"
        assert p.process in {"scheduler", "server", "launcher", "all"}


def test_unsupported_version_fails_naming_patch_spec_version_and_remedy():
    proc = run_python(textwrap.dedent("""
        import sglang_patch, sglang_patch._core as core
        core.installed_sglang_version = lambda: "0.4.9"
        try:
            sglang_patch.apply()
        except core.UnsupportedSGLangVersion as e:
            print("ERR", e)
            print("APPLIED", sglang_patch.applied_names())
    """))
    out = proc.stdout
    assert "ERR sglang_patch: patch 'memory_saver' supports sglang==0.4.6.post5, but found sglang 0.4.9" in out
    assert "pip install 'sglang==0.4.6.post5'" in out and "sglang>=0.4.8" in out
    assert "APPLIED []" in out


def test_tags_field_seen_by_modules_that_imported_the_class_before_patching():
    """http_server and engine did `from io_struct import ...` at import: one class object for all."""
    proc = run_python(textwrap.dedent("""
        from server_ext import cpu_compat; cpu_compat.enable_without_gpu()
        from sglang.srt.entrypoints import engine, http_server
        from sglang.srt.managers import io_struct
        import sglang_patch
        sglang_patch.apply()
        assert http_server.ReleaseMemoryOccupationReqInput is io_struct.ReleaseMemoryOccupationReqInput
        req = engine.ReleaseMemoryOccupationReqInput(tags=["kv_cache"], mode="abort")
        assert (req.tags, req.mode, req.timeout) == (["kv_cache"], "abort", None)
        sglang_patch.revert()
        try:
            io_struct.ReleaseMemoryOccupationReqInput(tags=["kv_cache"])
        except TypeError:
            print("OK")
    """))
    assert proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]


def test_child_entry_pickles_the_parents_patches():
    """The spawn seam: what the parent has applied is what the child will apply."""
    proc = run_python(textwrap.dedent("""
        import pickle
        from server_ext import cpu_compat; cpu_compat.enable_without_gpu()
        import sglang_patch
        sglang_patch.apply(["io_structs", "scheduler", "subprocess_entry"])
        from sglang.srt.entrypoints import engine
        child = pickle.loads(pickle.dumps(engine.run_scheduler_process))
        print(sorted(child.patch_names), child.scopes, child.target)
    """))
    assert proc.stdout.strip().splitlines()[-1] == (
        "['io_structs', 'scheduler', 'subprocess_entry'] ('scheduler', 'all') "
        "sglang.srt.managers.scheduler.run_scheduler_process"
    ), proc.stderr[-3000:]
