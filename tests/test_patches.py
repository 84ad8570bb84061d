"""Every patch against the real installed SGLang: applies, re-applies as a no-op, reverts exactly.

Each check runs in a fresh interpreter (as ddtrace does), so no test sees another's patches.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

import sglang_patch
from server_ext.envs import prepend_pythonpath
from sglang_patch import versions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = [p.name for p in sglang_patch.patches()]


def start_python(*args: str) -> subprocess.Popen:
    """A fresh interpreter with the repo on its path (each one takes ~10 s to import SGLang, so
    the module's scripts start side by side)."""
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=with_repo_on_path(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def run_python(code: str) -> subprocess.CompletedProcess:
    return finish(start_python("-c", code))


def with_repo_on_path() -> dict:
    return prepend_pythonpath(dict(os.environ), REPO)


IMPORTED_CLASSES_AND_CHILD_ENTRY = textwrap.dedent("""
    import dataclasses, pickle
    from server_ext import cpu_compat; cpu_compat.enable_without_gpu()
    from sglang.srt.entrypoints import engine, http_server
    from sglang.srt.managers import io_struct
    import sglang_patch
    from sglang_patch._core import resolve
    in_place = dataclasses.is_dataclass(io_struct.ReleaseMemoryOccupationReqInput)
    sglang_patch.apply()
    cls = io_struct.ReleaseMemoryOccupationReqInput
    if in_place:  # up to 0.5.6: the dataclass gains the fields, one class object in every module
        assert http_server.ReleaseMemoryOccupationReqInput is cls and engine.ReleaseMemoryOccupationReqInput is cls
    else:  # 0.5.17's msgspec structs: a subclass under the name, routed by its base (the stock class)
        assert issubclass(cls, http_server.ReleaseMemoryOccupationReqInput)
        assert pickle.loads(pickle.dumps(cls(mode="abort"))).mode == "abort"
        assert io_struct.msgpack_decode(io_struct.msgpack_encode(cls(mode="abort"))).mode == "abort"
    req = cls(tags=["kv_cache"], mode="abort")
    assert (req.tags, req.mode, req.timeout) == (["kv_cache"], "abort", None)
    sglang_patch.revert()
    try:
        io_struct.ReleaseMemoryOccupationReqInput(mode="abort")  # this package's field (tags are native from 0.4.8)
    except TypeError:
        print("FIELDS OK")
    # Trainer code written for upstream (verl, slime, ROLL) names the tags through this module.
    sglang_patch.apply()
    from sglang.srt.constants import GPU_MEMORY_TYPE_CUDA_GRAPH, GPU_MEMORY_TYPE_KV_CACHE, GPU_MEMORY_TYPE_WEIGHTS
    assert (GPU_MEMORY_TYPE_KV_CACHE, GPU_MEMORY_TYPE_WEIGHTS, GPU_MEMORY_TYPE_CUDA_GRAPH) == ("kv_cache", "weights", "cuda_graph")
    from sglang_patch._core import installed_sglang_version
    from sglang_patch.versions import release_for
    native = release_for(installed_sglang_version()).native_tags
    sglang_patch.revert()
    import importlib
    try:
        importlib.import_module("sglang.srt.constants")
        print("CONSTANTS", "native" if native else "LEFT AFTER REVERT")
    except ModuleNotFoundError:
        print("CONSTANTS", "added and taken back")
    sglang_patch.apply(["scheduler", "subprocess_entry"])
    child = pickle.loads(pickle.dumps(getattr(*resolve(sglang_patch.get("subprocess_entry").targets[0]))))
    print(sorted(child.patch_names), child.scopes, child.target)
""")


@pytest.fixture(scope="module")
def scripts():
    """The two slow scripts of this module, started together."""
    return {
        "patch_check": start_python(os.path.join(REPO, "tests", "patch_check.py")),
        "imported_classes": start_python("-c", IMPORTED_CLASSES_AND_CHILD_ENTRY),
    }


@pytest.fixture(scope="module")
def report(scripts):
    proc = finish(scripts["patch_check"])
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


def test_second_callers_never_wrap_twice_and_revert_exactly(report):
    """A fresh patch object, the module function twice, apply after revert: one wrapper, exact originals."""
    r = report["_second_callers"]
    assert r["fresh_objects_and_module_twice_noop"]
    assert r["wrapper_wraps_the_original"] and r["reapply_after_revert_wraps_once"]
    assert r["fresh_object_reverts"] and r["revert_exact"]


def closure(name):
    """The patch and everything it requires, directly or not."""
    patch = sglang_patch.get(name)
    return {name}.union(*(closure(r) for r in patch.requires))


def test_requirements_are_pulled_in_refused_without_and_reverted_with(report):
    r = report["_second_callers"]
    probe = r["probe"]
    assert sorted(r["requirements_pulled_in"]) == sorted(closure(probe["name"]))
    # reverting the requirement took every patch that needs it along; the rest stays applied
    assert sorted(r["dependents_reverted"]) == sorted(p for p in closure(probe["name"]) if probe["requirement"] not in closure(p))
    missing = [name for name in sglang_patch.get("scheduler").requires if name not in r["dependents_reverted"]]
    assert r["direct_apply_without_requirements"].startswith(f"patch 'scheduler' requires {missing}")
    assert r["after_refusal"] == r["dependents_reverted"]  # the refused patch changed nothing


def test_replacements_must_cover_exactly_the_targets(report):
    target, check = report["_second_callers"]["probe"]["target"], report["_second_callers"]["coverage_check"]
    assert "must cover exactly its targets; missing [" in check and repr(target) in check, check


def test_every_patch_declares_name_targets_spec_process_and_known_requirements():
    release = versions.release_for(sglang_patch._core.installed_sglang_version())
    names = [p.name for p in sglang_patch.patches()]
    for i, p in enumerate(sglang_patch.patches()):
        assert p.name and p.targets and p.summary
        assert p.sglang_spec == release.spec
        assert p.process in {"scheduler", "server", "launcher", "all"}
        assert all(r in names[:i] for r in p.requires), f"{p.name} requires a patch applied after it"


def test_release_sets_only_set_hooks_on_wiring_classes():
    """Every set's patch is a class of sglang_patch.wiring, or a set's own subclass of one that only
    sets hooks (class attributes, no code): never a subclass of another set's class."""
    for release in versions.RELEASES:
        for patch in importlib.import_module(release.patch_set).PATCHES:
            cls = type(patch)
            if cls.__module__.startswith("sglang_patch.wiring."):
                continue
            where = f"{release.version}: {cls.__module__}.{cls.__qualname__}"
            assert cls.__module__ == release.patch_set or cls.__module__ in {r.patch_set for r in versions.RELEASES}, where
            assert all(base.__module__.startswith("sglang_patch.wiring.") for base in cls.__bases__), where
            code = [name for name, value in vars(cls).items()
                    if callable(value) or isinstance(value, (staticmethod, classmethod, property))]
            assert not code, f"{where} defines code, not hooks: {code}"


def test_unsupported_version_fails_naming_the_supported_ranges_and_remedy():
    proc = run_python(textwrap.dedent("""
        import sglang_patch, sglang_patch._core as core
        core.installed_sglang_version = lambda: "0.3.0"
        try:
            sglang_patch.apply()
        except core.UnsupportedSGLangVersion as e:
            print("ERR", e)
        print("APPLIED", len(core._SAVED))
    """))
    out = proc.stdout
    assert "ERR sglang_patch: no patch set for this release, but found sglang 0.3.0. Supported ranges: " in out, out
    for release in versions.RELEASES:
        assert f"{release.spec} (tested: {release.version})" in out
    assert "pip install 'sglang==0.4.6.post5'" in out
    assert "APPLIED 0" in out, proc.stderr[-3000:]  # nothing was patched


def test_a_release_inside_a_range_gets_its_set_with_a_warning():
    """A release nobody ran, inside the range of a tested one: that set, and one log line saying so."""
    found = sglang_patch._core.installed_sglang_version()
    release = versions.release_for(found)
    assert release.covers(found) and not release.covers("0.3.0")
    untested = next((v for v in ("0.4.6.post4", "0.4.7", "0.4.8.post1", "0.4.9.post1", "0.4.10", "0.5.3", "0.5.4.post2",
                                      "0.5.5.post3", "0.5.6.post2", "0.5.8", "0.5.10", "0.5.12", "0.5.16", "0.5.17.post1")
                     if release.covers(v) and v != found), None)
    if untested is None:
        pytest.skip(f"no untested release named here inside {release.spec}")
    proc = run_python(textwrap.dedent(f"""
        import logging
        logging.basicConfig(level=logging.WARNING)
        from sglang_patch import versions
        print("SET", versions.patch_set({untested!r}).__name__)
        versions.patch_set({untested!r})
    """))
    assert f"SET {release.patch_set}" in proc.stdout, proc.stderr[-3000:]
    warning = f"sglang {untested} is inside the range {release.spec} but untested"
    assert proc.stderr.count(warning) == 1, proc.stderr[-3000:]


def test_imported_classes_gain_the_fields_and_the_child_entry_carries_the_patches(scripts):
    """http_server and engine did `from io_struct import ...` at import: one class object for all.
    The spawn seam: what the parent has applied (with requirements) is what the child will apply."""
    proc = finish(scripts["imported_classes"])
    lines = proc.stdout.strip().splitlines()
    assert "FIELDS OK" in lines, proc.stderr[-3000:]
    assert "CONSTANTS added and taken back" in lines or "CONSTANTS native" in lines, lines
    child = sorted(closure("scheduler") | closure("subprocess_entry"))
    assert lines[-1] == f"{child} ('scheduler', 'all') sglang.srt.managers.scheduler.run_scheduler_process", proc.stderr[-3000:]
