"""sglang_patch_dev.range_check, without network: the installed SGLang has every name its patch set
relies on, and a missing target, a moved method, a changed signature, a class that is no longer a
dataclass and a series that needs fuzz or does not apply are each reported."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import textwrap
from pathlib import Path

import pytest

from sglang_patch._core import DATACLASS_ATTRS, Patch, Shape
from sglang_patch.versions import RELEASES, serving_release
from sglang_patch_dev import range_check
from sglang_patch_dev.range_check import Result, SeriesOutcome, Source


def _installed() -> str:
    try:
        return importlib.metadata.version("sglang")
    except importlib.metadata.PackageNotFoundError:
        return ""


INSTALLED = _installed()
needs_sglang = pytest.mark.skipif(serving_release(INSTALLED or "0") is None,
                                  reason=f"no installed sglang in a supported range ({INSTALLED or 'none'})")


@needs_sglang
def test_the_installed_release_has_every_name_its_set_relies_on():
    result = range_check.check_release(INSTALLED, Source.installed())
    assert result.missing == []
    patches = importlib.import_module(result.release.patch_set).PATCHES
    assert result.checked >= len(patches) * 2  # every patch has targets: not a vacuous pass


@needs_sglang
def test_every_declared_target_and_shape_is_checked():
    """The checks come from the patches' own declarations, so a new patch's targets are checked."""
    patches = importlib.import_module(serving_release(INSTALLED).patch_set).PATCHES
    names = {e.name for e in range_check.expectations(patches)}
    for patch in patches:
        for target in patch.targets:
            owner, _, attr = target.rpartition(".")
            widened = attr in DATACLASS_ATTRS and owner + ".__dataclass_fields__" in patch.targets
            assert (owner if widened else target) in names
        assert set(patch.shapes) <= names


class _Broken(Patch):
    name = "broken"
    targets = ("sglang.srt.managers.scheduler.Scheduler.no_such_handler",
               "sglang.srt.managers.scheduler.Scheduler.process_input_requests",
               "sglang.srt.no_such_module.Thing.method",
               "sglang.srt.managers.io_struct.NotThereYet")
    adds = ("sglang.srt.managers.io_struct.NotThereYet",)
    shapes = {"sglang.srt.managers.scheduler.Scheduler.process_input_requests": Shape(params=("no_such_param",))}


@needs_sglang
def test_a_missing_target_is_reported_by_name():
    checked, missing = range_check.check_targets(Source.installed(), [_Broken()])
    assert checked == 4
    why = {m.name.rpartition(".")[2]: m.why for m in missing}
    assert set(why) == {"no_such_handler", "process_input_requests", "method"}  # an added name needs only its owner
    assert "has no no_such_handler" in why["no_such_handler"]
    assert "takes no no_such_param" in why["process_input_requests"]
    assert "no_such_module" in why["method"]
    result = Result("0.4.6.post5", RELEASES[0], checked, missing, SeriesOutcome(None, False))
    table = range_check.markdown([result], "cmd", "2026-12-02")
    assert "3 of 4 missing" in table and "`managers.scheduler.Scheduler.no_such_handler`" in table
    assert result.failed


def _write(root: Path, files: dict) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


TREE = {
    "sglang/__init__.py": "",
    "sglang/srt/__init__.py": "",
    "sglang/srt/managers/__init__.py": "",
    "sglang/srt/managers/mixin.py": """
        class UpdateMixin:
            def release_memory_occupation(self, recv_req):
                pass

            def resume_memory_occupation(self, req):
                pass
    """,
    "sglang/srt/managers/scheduler.py": """
        from .mixin import UpdateMixin as Mixin

        class Scheduler(Mixin):
            pass
    """,
    "sglang/srt/managers/io_struct.py": """
        import dataclasses

        @dataclasses.dataclass
        class ReleaseReq:
            tags: list = None

        class PlainReq:
            tags: list = None
    """,
}


_S = "sglang.srt.managers.scheduler.Scheduler."
_IO = "sglang.srt.managers.io_struct."


class _Wired(Patch):
    name = "wired"
    targets = (_S + "release_memory_occupation", _S + "resume_memory_occupation", _S + "update_weights_from_disk",
               *(_IO + cls + "." + attr for cls in ("ReleaseReq", "PlainReq") for attr in DATACLASS_ATTRS))
    shapes = {_S + "release_memory_occupation": Shape(params=("recv_req",)),
              _S + "resume_memory_occupation": Shape(params=("recv_req",)),
              _IO + "ReleaseReq": Shape(fields=("tags", "mode"))}


def test_inherited_moved_reshaped_and_not_a_dataclass(tmp_path):
    _write(tmp_path, TREE)
    checked, missing = range_check.check_targets(Source.directory(tmp_path), [_Wired()])
    assert checked == 5  # three methods, two widened classes
    why = {m.name.rpartition(".")[2]: m.why for m in missing}
    assert set(why) == {"resume_memory_occupation", "update_weights_from_disk", "PlainReq", "ReleaseReq"}
    assert "resume_memory_occupation(self, req) takes no recv_req" in why["resume_memory_occupation"]
    assert "or its bases sglang.srt.managers.mixin.UpdateMixin" in why["update_weights_from_disk"]
    assert "not a dataclass" in why["PlainReq"]
    assert "has no field mode" in why["ReleaseReq"]


def _diff(path: str, before: str, removed: str, added: str, after: str, start: int) -> str:
    """A patch file replacing the line ``removed`` (between ``before`` and ``after``) said to be at ``start``."""
    return (f"Description: test\nRuntime-Patch: x\nApplies-To: sglang\nUpstream: none\n---\n"
            f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -{start},3 +{start},3 @@\n {before}\n-{removed}\n+{added}\n {after}\n")


def test_series_outcome_clean_offset_and_failing(tmp_path):
    tree, patches = tmp_path / "tree", tmp_path / "patches"
    lines = [f"line {i}" for i in range(1, 31)]
    _write(tree, {"sglang/a.py": "\n".join(lines) + "\n"})
    _write(patches, {
        "series": "0001-exact.patch\n0002-moved.patch\n0003-gone.patch\n",
        "0001-exact.patch": _diff("sglang/a.py", "line 2", "line 3", "line three", "line 4", 2),
        "0002-moved.patch": _diff("sglang/a.py", "line 20", "line 21", "twenty-one", "line 22", 15),  # 5 lines off
        "0003-gone.patch": _diff("sglang/a.py", "line 9", "no such line", "x", "line 10", 9),
    })
    outcome = SeriesOutcome("0.0.1", own=True)
    range_check.apply_leniently_where_needed(tree, patches, outcome)
    assert outcome.inexact == ["0002-moved (offset)"]
    assert outcome.failed == ["0003-gone"]
    assert outcome.status == "fails" and outcome.render() == "fails: 0003-gone"
    text = (tree / "sglang/a.py").read_text()
    assert "line three" in text and "twenty-one" in text  # the inexact one is applied, the next ones tried
    assert SeriesOutcome("0.0.1", own=False, inexact=["0002-moved (offset)"]).render() == (
        "none; 0.0.1's fuzz: 0002-moved (offset)")


def test_series_for_own_serving_then_nearest(monkeypatch):
    monkeypatch.setattr(range_check, "series_versions", lambda: ["0.4.6.post5", "0.4.8", "0.5.6", "0.5.17"])
    assert range_check.series_for("0.4.8") == ("0.4.8", True)
    assert range_check.series_for("0.4.6.post2") == ("0.4.6.post5", False)  # its serving release's
    assert range_check.series_for("0.5.8") == ("0.5.6", False)  # nearest by release number
    assert range_check.series_for("0.5.16") == ("0.5.17", False)
    assert range_check.series_for("0.4.7") == ("0.4.8", False)  # one micro apart each: then by post-release
    monkeypatch.setattr(range_check, "series_versions", lambda: ["0.5.6", "0.5.10"])
    assert range_check.series_for("0.5.8") == ("0.5.6", False)  # a tie: the earlier


def test_the_releases_in_the_ranges():
    chosen = range_check.in_ranges(["0.4.5", "0.4.6.post1", "0.5.0rc0", "0.5.13", "0.5.16"])
    assert "0.4.6.post1" in chosen and "0.5.16" in chosen
    assert not {"0.4.5", "0.5.0rc0", "0.5.13"} & set(chosen)
    assert set(range_check.pinned_releases()) <= set(chosen)
    assert range_check.chosen_releases("pinned") == [r.version for r in RELEASES]
    with pytest.raises(SystemExit, match="0.5.13 is in no supported range"):
        range_check.chosen_releases("0.5.13")


def test_patch_is_gnu_patch():
    """The series outcome depends on GNU patch's wording for offsets and fuzz."""
    assert "GNU patch" in subprocess.run(["patch", "--version"], capture_output=True, text=True).stdout
