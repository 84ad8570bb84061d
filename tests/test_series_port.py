"""sglang_patch_dev.series port on small synthetic releases: real `patch`, real `git`, no network.

Two made-up releases, 1.0 (the base, with a two-patch series) and 1.1 (the target), are fake wheels
in a cache directory, where the port finds them as it finds real ones; runtime patches are named
directly (``target_names``). Each test ports 1.0's series onto 1.1 and looks at the report, the
patches written and the work tree.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from sglang_patch.versions import RELEASES
from sglang_patch_dev import series, series_port

pytestmark = pytest.mark.skipif(series.SGLANG_VERSION != RELEASES[0].version,
                                reason="the series tool is tested in the primary release's venv")

BASE, TARGET = "1.0", "1.1"
A_PY = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(12))
B_PY = "import os\n\n\nclass B:\n    def run(self):\n        return os.getpid()\n"
SHARED = {"__init__.py": "", "tags.py": "WEIGHTS = 'weights'\n", "sub/x.py": "VALUE = 1\n"}


def header(name: str, version: str = BASE) -> str:
    return (f"Description: {name} for SGLang {version}\n In {version} it lives in sglang/a.py.\n"
            f"Runtime-Patch: {name}\nApplies-To: sglang=={version}\nOrigin: sglang_patch\n"
            f"Upstream: none\n---\n")


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel(cache: Path, version: str, files: dict) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    data = {name: text.encode() for name, text in files.items()}
    path = cache / f"sglang-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in data.items():
            zf.writestr(name, content)
        zf.writestr(f"sglang-{version}.dist-info/RECORD",
                    "".join(f"{n},{record_hash(c)},{len(c)}\n" for n, c in data.items())
                    + f"sglang-{version}.dist-info/RECORD,,\n")
    return path


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_EDITOR="true",
               GIT_SEQUENCE_EDITOR="true")
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True).stdout.decode()


def diff_of(root: Path, before: dict, after: dict) -> str:
    """The git diff turning files ``before`` into ``after`` (paths relative to the package tree)."""
    work = root / "scratch"
    for rel, text in before.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "before")
    for rel, text in after.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(work, "add", "-A")
    out = git(work, "diff", "--cached", "--full-index", "--no-renames")
    git(work, "commit", "-q", "-m", "after")
    return out


class World:
    """patches/1.0/ (alpha: sglang/a.py + two shared files; beta: sglang/srt/b.py + sub/x.py), the
    shared root, and the two releases' wheels; ``target`` is 1.1's sglang/ (a.py shifted down)."""

    def __init__(self, root: Path, target_a: str = "# 1.1 adds a header line\n\n" + A_PY,
                 target_b: str = B_PY):
        self.root, self.cache, self.shared = root, root / "cache", root / "shared"
        self.patches = root / "patches"
        for rel, text in SHARED.items():
            (self.shared / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.shared / rel).write_text(text)
        pristine = {"sglang/__init__.py": "", "sglang/a.py": A_PY, "sglang/srt/b.py": B_PY}
        wheel(self.cache, BASE, pristine)
        wheel(self.cache, TARGET, {"sglang/__init__.py": "", "sglang/a.py": target_a, "sglang/srt/b.py": target_b})
        shared_at = {f"{series.SHARED_TARGET}/{rel}": text for rel, text in SHARED.items()}
        self.pristine, self.shared_at = pristine, shared_at
        alpha = self.alpha_diff("d1", A_PY.replace("    return 5\n", "    return 5 * 100\n"))
        beta = diff_of(root / "d2", pristine, {
            "sglang/srt/b.py": B_PY.replace("os.getpid()", "os.getppid()"),
            **{k: v for k, v in shared_at.items() if k.endswith("sub/x.py")}})
        base = self.patches / BASE
        base.mkdir(parents=True)
        (base / "0001-alpha.patch").write_text(header("alpha") + alpha)
        (base / "0002-beta.patch").write_text(header("beta") + beta)
        (base / "series").write_text(f"# SGLang {BASE}'s series\n\n0001-alpha.patch\n0002-beta.patch\n")
        self.out = self.patches / TARGET

    def alpha_diff(self, where: str, a_py: str) -> str:
        return diff_of(self.root / where, self.pristine, {
            "sglang/a.py": a_py, **{k: v for k, v in self.shared_at.items() if not k.endswith("sub/x.py")}})

    def port(self, names=("alpha", "beta"), tree: str = "tree", **kw) -> series_port.PortReport:
        return series_port.port(BASE, TARGET, tree=self.root / tree, patches_root=self.patches,
                                shared_root=self.shared, cache_dir=self.cache, target_names=list(names),
                                run_check=False, **kw)

    def target_tree(self, name: str = "check") -> Path:
        tree = self.root / name
        series.extract_wheel(self.cache / f"sglang-{TARGET}-py3-none-any.whl", tree, TARGET)
        return tree


def test_a_shifted_release_is_ported_and_applies_exactly(tmp_path):
    w = World(tmp_path)
    (w.shared / "tags.py").write_text("WEIGHTS = 'weights'\nKV_CACHE = 'kv_cache'\n")  # changed since
    report = w.port()
    assert not report.failed
    alpha = next(p for p in report.patches if p.name == "0001-alpha.patch")
    assert alpha.hunks == 1 and [n.how for n in alpha.notes] == ["offset 2"]
    assert series.read_series(w.out) == ["0001-alpha.patch", "0002-beta.patch"]
    tree = w.target_tree()
    series.apply_series(tree, w.out)  # exactly: no offset, no fuzz
    assert "return 5 * 100" in (tree / "sglang/a.py").read_text()
    assert (tree / series.SHARED_TARGET / "tags.py").read_text().endswith("KV_CACHE = 'kv_cache'\n")
    patch = series.PatchFile.read(w.out / "0001-alpha.patch")
    fields = patch.fields()
    assert fields["applies-to"] == f"sglang=={TARGET}"
    assert fields["ported-from"].startswith(f"sglang=={BASE} (patches/{BASE}/0001-alpha.patch, hunks ")
    assert fields["description"].split("\n")[0] == f"alpha for SGLang {TARGET}"
    assert "In 1.1 it lives" in patch.header  # the base's version is the target's in the text
    assert not any(s.path.startswith(".port") for s in patch.sections)  # rejects never end in a patch
    assert f"--from {BASE} --to {TARGET}" in (w.out / "series").read_text()


def test_a_hunk_that_does_not_port_is_named_and_left_in_the_tree(tmp_path):
    w = World(tmp_path, target_a=A_PY.replace("def f5():\n    return 5\n", "def f5():\n    return 5.0\n"))
    report = w.port()
    [left] = report.failed
    assert (left.patch, left.path, left.number, left.how) == ("0001-alpha.patch", "sglang/a.py", 1, "FAILED")
    assert "hunk #1" in report.render() and "left 1" in report.render()
    assert (report.tree / ".port/rejects/0001-alpha.patch/sglang/a.py.rej").is_file()
    assert (report.tree / ".port/merge/0001-alpha.patch/sglang/a.py").read_text().count("<<<<<<<") == 1
    patch = series.PatchFile.read(w.out / "0001-alpha.patch")
    assert patch.fields()["port-left"] == "sglang/a.py hunk #1"
    assert any("Port-Left" in p for p in series._lint_header("0001-alpha.patch", patch))
    # What did port is in the tree's commits, one per patch; beta ported whole.
    assert git(report.tree, "log", "--format=%s").splitlines() == [
        "0002-beta.patch", "0001-alpha.patch", f"pristine sglang {TARGET}"]
    assert git(report.tree, "status", "--porcelain") == ""  # .port/ is excluded, so pack accepts the tree


def test_a_clean_three_way_merge_ports_what_patch_cannot(tmp_path):
    # 1.1 changed lines two above and two below the hunk: no fuzz is allowed, the merge does it.
    shifted = A_PY.replace("def f4():", "def f4_renamed():").replace("def f6():", "def f6_renamed():")
    w = World(tmp_path, target_a=shifted)
    report = w.port(fuzz=0)
    assert not report.failed
    assert [n.how for n in report.patches[0].notes] == ["merged 3-way"]
    tree = w.target_tree()
    series.apply_series(tree, w.out)
    text = (tree / "sglang/a.py").read_text()
    assert "return 5 * 100" in text and "def f4_renamed():" in text


def hand_port(w: World, report: series_port.PortReport, monkeypatch) -> None:
    """What an engineer does with a left hunk: fix it in the tree, fold it into its commit, pack."""
    tree = report.tree
    path = tree / "sglang/a.py"
    path.write_text(path.read_text().replace("    return 5.0\n", "    return 5.0 * 100\n"))
    alpha = git(tree, "log", "--format=%H", "--grep=^0001-alpha.patch$").strip()
    root = git(tree, "rev-list", "--max-parents=0", "HEAD").strip()
    git(tree, "commit", "-qa", f"--fixup={alpha}")
    git(tree, "rebase", "-q", "-i", "--autosquash", root)
    monkeypatch.setattr(series, "PRISTINE_SUBJECT", f"pristine sglang {TARGET}")
    series.pack(tree, w.out, runtime_patches=[], shared_root=w.shared)
    patch_file = w.out / "0001-alpha.patch"
    patch_file.write_text("".join(line for line in series._split_lines(patch_file.read_text())
                                  if not line.startswith("Port-Left:")))


def test_a_rerun_keeps_what_was_ported_by_hand(tmp_path, monkeypatch):
    w = World(tmp_path, target_a=A_PY.replace("def f5():\n    return 5\n", "def f5():\n    return 5.0\n"))
    hand_port(w, w.port(), monkeypatch)
    done = {p.name: p.read_bytes() for p in w.out.iterdir()}

    # The shared files changed (the refactoring of memory_occupation), the base's hunks did not:
    # every patch is kept as it was, the shared copy is new.
    (w.shared / "sub/x.py").write_text("VALUE = 2\n")
    report = w.port(tree="tree2")
    assert not report.failed and all(p.kept for p in report.patches)
    assert (w.out / "0001-alpha.patch").read_bytes() == done["0001-alpha.patch"]
    assert b"+VALUE = 2" in (w.out / "0002-beta.patch").read_bytes()

    # The base's alpha gained a hunk: alpha is ported again; the hunk that failed before comes from
    # the previous series (its hunk adding the same lines applies exactly), the new one from the base.
    changed = A_PY.replace("    return 5\n", "    return 5 * 100\n").replace("    return 9\n", "    return 9 * 100\n")
    (w.patches / BASE / "0001-alpha.patch").write_text(header("alpha") + w.alpha_diff("d3", changed))
    report = w.port(tree="tree3")
    assert not report.failed and not report.patches[0].kept
    assert [n.how for n in report.patches[0].notes] == ["kept from previous"]
    assert report.patches[0].exact == 1
    tree = w.target_tree()
    series.apply_series(tree, w.out)
    text = (tree / "sglang/a.py").read_text()
    assert "return 5.0 * 100" in text and "return 9 * 100" in text


def test_a_dropped_patch_and_its_shared_file(tmp_path):
    w = World(tmp_path)
    with pytest.raises(series.SeriesError, match=r"sub/x\.py .*--place sub/x\.py=engine"):
        w.port(names=("alpha",))
    report = w.port(names=("alpha",), places={"sub/x.py": "alpha"})
    assert report.dropped == ["0002-beta.patch"]
    assert series.read_series(w.out) == ["0001-alpha.patch"]
    patch = series.PatchFile.read(w.out / "0001-alpha.patch")
    assert patch.section(f"{series.SHARED_TARGET}/sub/x.py") is not None
    assert "Also adds sglang/srt/memory_occupation/sub/x.py, which 0002-beta.patch" in patch.header
    assert "# Not here from patches/1.0/: 0002-beta.patch" in (w.out / "series").read_text()
    before = (w.out / "0001-alpha.patch").read_bytes()
    w.port(names=("alpha",), places={"sub/x.py": "alpha"}, tree="tree2")  # a re-run keeps it as it was
    assert (w.out / "0001-alpha.patch").read_bytes() == before


def test_a_shared_module_split_into_a_package_goes_with_the_module(tmp_path):
    w = World(tmp_path)
    (w.shared / "tags").mkdir()
    (w.shared / "tags" / "extra.py").write_text("EXTRA = 1\n")  # tags.py's neighbour: alpha carries it
    report = w.port()
    assert "tags/extra.py" in report.patches[0].shared_written


def test_take_a_patch_from_another_release(tmp_path):
    w = World(tmp_path)
    other = w.patches / "0.9"
    other.mkdir()
    beta = (w.patches / BASE / "0002-beta.patch").read_text().replace(f"sglang=={BASE}", "sglang==0.9")
    (other / "0001-beta.patch").write_text(beta)
    (other / "series").write_text("0001-beta.patch\n")
    wheel(w.cache, "0.9", {"sglang/__init__.py": "", "sglang/a.py": A_PY, "sglang/srt/b.py": B_PY})
    report = w.port(takes={"beta": "0.9"})
    assert [p.source for p in report.patches] == [f"patches/{BASE}/0001-alpha.patch", "patches/0.9/0001-beta.patch"]
    assert series.PatchFile.read(w.out / "0002-beta.patch").fields()["ported-from"].startswith("sglang==0.9 ")
    assert "beta from patches/0.9/" in (w.out / "series").read_text()
