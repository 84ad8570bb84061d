"""sglang_patch_dev.series on small synthetic series: real `patch`, real `git`, no network.

Each test builds its own world in a tmp dir: a fake pristine package tree (sglang/a.py, ...), shared
files, and a two-patch series whose diffs are made by git from real edits. Runtime patches are
stand-ins with ``name`` and ``has_source_patch``; one test checks the real installed sglang.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from sglang_patch_dev import series
from sglang_patch_dev.series import PatchFailed, PatchFile, SeriesError
from sglang_patch.versions import RELEASES

# The tool is the same for every release; its tests build worlds written for the primary one.
pytestmark = pytest.mark.skipif(series.SGLANG_VERSION != RELEASES[0].version,
                                reason="the series tool is tested in the primary release's venv")

REPO = Path(__file__).resolve().parents[1]

RUNTIME = [
    SimpleNamespace(name="alpha", has_source_patch=True),
    SimpleNamespace(name="beta", has_source_patch=True),
    SimpleNamespace(name="spawn", has_source_patch=False),
]

A_PY = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(12))
B_PY = "import os\n\n\nclass B:\n    def run(self):\n        return os.getpid()\n"
SHARED = {"__init__.py": "", "tags.py": "WEIGHTS = 'weights'\nKV_CACHE = 'kv_cache'\n", "sub/x.py": "VALUE = 1"}


def header(name: str, description: str = "Do the thing") -> str:
    return (
        f"Description: {description}\n"
        f" Longer explanation of {name}.\n"
        f"Runtime-Patch: {name}\n"
        "Applies-To: sglang==0.4.6.post5\n"
        f"Origin: sglang_patch, runtime patch sglang_patch/{name}.py\n"
        "Upstream: sgl-project/sglang#7099 did the same\n"
        "Forwarded: not-needed\n"
        "---\n"
    )


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_EDITOR="true",
               GIT_SEQUENCE_EDITOR="true")
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True).stdout.decode()


def write(root: Path, files: dict) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


class Scratch:
    """A git repository starting at the pristine tree; each step's edits become one real diff."""

    def __init__(self, root: Path, pristine: Path):
        shutil.copytree(pristine, root)
        self.root = root
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "pristine")

    def diff(self, edit) -> str:
        edit(self.root)
        git(self.root, "add", "-A")
        text = git(self.root, "diff", "--cached", "--full-index", "--no-renames")
        git(self.root, "commit", "-q", "-m", "step")
        return text


def shared_into(files: dict):
    def edit(root: Path) -> None:
        write(root / series.SHARED_TARGET, {rel: SHARED[rel] for rel in files})
    return edit


@pytest.fixture
def world(tmp_path: Path) -> SimpleNamespace:
    pristine = tmp_path / "pristine"
    write(pristine, {"sglang/__init__.py": "", "sglang/a.py": A_PY, "sglang/srt/b.py": B_PY})
    shared = tmp_path / "shared"
    write(shared, SHARED)

    scratch = Scratch(tmp_path / "scratch", pristine)

    def alpha(root: Path) -> None:
        replace_in(root / "sglang/a.py", "    return 2\n", "    return 2 * 100\n")
        shared_into(["__init__.py", "tags.py"])(root)

    def beta(root: Path) -> None:
        replace_in(root / "sglang/srt/b.py", "return os.getpid()", "return os.getppid()")
        replace_in(root / "sglang/a.py", "    return 10\n", "    return 10  # beta\n")
        shared_into(["sub/x.py"])(root)

    patches = tmp_path / "patches"
    patches.mkdir()
    (patches / "0001-alpha.patch").write_text(header("alpha") + scratch.diff(alpha))
    (patches / "0002-beta.patch").write_text(header("beta") + scratch.diff(beta))
    (patches / "series").write_text("# the order matters\n0001-alpha.patch\n\n0002-beta.patch  # last\n")
    return SimpleNamespace(root=tmp_path, pristine=pristine, shared=shared, patches=patches,
                           patched=scratch.root, source=series.directory_pristine(pristine))


def lint(w: SimpleNamespace, **kw) -> list:
    return series.lint(w.patches, RUNTIME, kw.get("shared_root", w.shared))


def fresh_tree(w: SimpleNamespace, name: str = "tree") -> Path:
    tree = w.root / name
    shutil.copytree(w.pristine, tree)
    return tree


def snapshot(patches: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(patches.iterdir())}


def same_package(tree: Path, expected: Path) -> None:
    files = {p.relative_to(tree).as_posix() for p in (tree / "sglang").rglob("*") if p.is_file()}
    want = {p.relative_to(expected).as_posix() for p in (expected / "sglang").rglob("*") if p.is_file()}
    assert files == want
    for rel in files:
        assert (tree / rel).read_bytes() == (expected / rel).read_bytes(), rel


# -- series file and apply -------------------------------------------------------------------

def test_series_file_allows_comments_and_blank_lines():
    text = "# header\n\n0001-a.patch\n  0002-b.patch   # why it is here\n#0003-c.patch\n"
    assert series.parse_series(text) == ["0001-a.patch", "0002-b.patch"]


def test_clean_series_lints_and_applies(world):
    assert lint(world) == []
    tree = fresh_tree(world)
    series.apply_series(tree, world.patches)
    same_package(tree, world.patched)
    assert (tree / "sglang/srt/memory_occupation/sub/x.py").read_bytes() == b"VALUE = 1"
    assert (tree / "sglang/srt/memory_occupation/__init__.py").read_bytes() == b""


def test_check_applies_the_series_to_a_pristine_tree(world):
    assert series.check(world.patches, RUNTIME, world.shared, world.source) == []
    (world.pristine / "sglang/srt/b.py").write_text(B_PY.replace("class B:", "class Renamed:"))
    problems = series.check(world.patches, RUNTIME, world.shared, world.source)
    assert len(problems) == 1 and problems[0].startswith("0002-beta.patch does not apply cleanly")
    assert series.check(world.patches, RUNTIME, world.shared, world.source, tree_only=True) == []


def test_offset_is_a_failure_naming_the_patch(world):
    tree = fresh_tree(world)
    a_py = tree / "sglang/a.py"
    a_py.write_text("# two new lines\n\n" + A_PY)
    with pytest.raises(PatchFailed) as failed:
        series.apply_series(tree, world.patches)
    assert failed.value.patch_name == "0001-alpha.patch"
    assert "offset 2 lines" in failed.value.output
    assert "0001-alpha.patch does not apply cleanly" in str(failed.value)
    assert a_py.read_text() == "# two new lines\n\n" + A_PY, "the dry run must keep the tree untouched"


def test_hunk_needing_fuzz_fails_and_earlier_patches_stay_applied(world):
    tree = fresh_tree(world)
    # A context line of beta's b.py hunk differs: it would apply with fuzz, which is not allowed.
    (tree / "sglang/srt/b.py").write_text(B_PY.replace("    def run(self):", "    def run(self):  # changed"))
    with pytest.raises(PatchFailed) as failed:
        series.apply_series(tree, world.patches)
    assert failed.value.patch_name == "0002-beta.patch"
    assert "FAILED" in failed.value.output
    assert "2 * 100" in (tree / "sglang/a.py").read_text()  # 0001 went in
    assert "# beta" not in (tree / "sglang/a.py").read_text()  # 0002 not even partly


def test_already_applied_is_a_failure(world):
    tree = fresh_tree(world)
    series.apply_series(tree, world.patches)
    with pytest.raises(PatchFailed) as failed:
        series.apply_series(tree, world.patches)
    assert failed.value.patch_name == "0001-alpha.patch"
    assert "Reversed" in failed.value.output


# -- lint ------------------------------------------------------------------------------------

def set_series(w: SimpleNamespace, *names: str) -> None:
    (w.patches / "series").write_text("".join(n + "\n" for n in names))


def test_orphan_patch_file(world):
    shutil.copy(world.patches / "0002-beta.patch", world.patches / "0003-beta.patch")
    assert lint(world) == ["0003-beta.patch is not listed in series (orphan): add it to series or delete it"]


def test_duplicate_and_missing_entries(world):
    set_series(world, "0001-alpha.patch", "0002-beta.patch", "0002-beta.patch", "0004-gamma.patch")
    problems = lint(world)
    assert "0002-beta.patch is listed more than once in series: keep one line" in problems
    assert any(p.startswith("0004-gamma.patch is listed in series but") for p in problems)
    assert any(p.startswith("0002-beta.patch is entry 3 of series: rename it to 0003-beta.patch") for p in problems)


def test_runtime_patch_without_patch_file(world):
    (world.patches / "0002-beta.patch").unlink()
    set_series(world, "0001-alpha.patch")
    problems = lint(world)
    assert any(p.startswith("runtime patch 'beta' has no patch file: add NNNN-beta.patch") for p in problems)
    # beta carried sub/x.py; now nothing does.
    assert any(p.startswith("shared file") and "sub/x.py is carried by no patch" in p for p in problems)
    assert not any("spawn" in p for p in problems)  # has_source_patch = False: no file wanted


def test_bad_numbering(world):
    (world.patches / "0002-beta.patch").rename(world.patches / "0003-beta.patch")
    set_series(world, "0001-alpha.patch", "0003-beta.patch")
    assert lint(world) == [
        "0003-beta.patch is entry 2 of series: rename it to 0002-beta.patch "
        "(files are numbered 0001, 0002, ... in series order)"
    ]


def test_file_names_must_name_source_runtime_patches(world):
    shutil.copy(world.patches / "0002-beta.patch", world.patches / "0003-gamma.patch")
    shutil.copy(world.patches / "0002-beta.patch", world.patches / "0004-spawn.patch")
    shutil.copy(world.patches / "0002-beta.patch", world.patches / "0005-beta.patch")
    set_series(world, "0001-alpha.patch", "0002-beta.patch", "0003-gamma.patch", "0004-spawn.patch",
               "0005-beta.patch", "notes.txt")
    (world.patches / "notes.txt").write_text("")
    problems = "\n".join(lint(world))
    assert "0003-gamma.patch: there is no runtime patch named 'gamma'" in problems
    assert "0004-spawn.patch: runtime patch 'spawn' says has_source_patch = False" in problems
    assert "runtime patch 'beta' has 2 patch files (0002-beta.patch, 0005-beta.patch): merge them" in problems
    assert "notes.txt: patch files are named NNNN-<runtime patch name>.patch" in problems
    assert "0003-gamma.patch: Runtime-Patch: beta does not match the file name (gamma)" in problems


def test_header_fields(world):
    path = world.patches / "0001-alpha.patch"
    replace_in(path, "Upstream: sgl-project/sglang#7099 did the same\n", "")
    replace_in(path, "Description: Do the thing\n", "Description:\n")
    replace_in(path, "Applies-To: sglang==0.4.6.post5", "Applies-To: sglang>=0.4.8")
    assert lint(world) == [
        "0001-alpha.patch: header field Description: is missing or its first line is empty "
        "(the header goes before the first diff --git)",
        "0001-alpha.patch: header field Upstream: is missing or its first line is empty "
        "(the header goes before the first diff --git)",
        "0001-alpha.patch: Applies-To: sglang>=0.4.8 does not cover sglang 0.4.6.post5 (write sglang==0.4.6.post5)",
    ]


def test_header_fields_parse_like_dep3(world):
    fields = PatchFile.read(world.patches / "0001-alpha.patch").fields()
    assert fields["description"] == "Do the thing\nLonger explanation of alpha."
    assert fields["runtime-patch"] == "alpha"
    assert "diff --git" not in PatchFile.read(world.patches / "0001-alpha.patch").header


def test_missing_series_file(world):
    (world.patches / "series").unlink()
    assert len(lint(world)) == 1 and "series is missing" in lint(world)[0]
    with pytest.raises(SeriesError, match="series does not exist"):
        series.apply_series(world.root, world.patches)


# -- shared files ----------------------------------------------------------------------------

def test_new_file_sections_are_what_git_writes(tmp_path):
    files = {"empty.py": "", "one.py": "x = 1\n", "nonl.py": "a\nb", "crlf.py": "a\r\nb\r\n", "ff.py": "a\x0cb\n"}
    (tmp_path / "start").mkdir()
    (tmp_path / "start" / "keep").write_text("")
    repo = Scratch(tmp_path / "repo", tmp_path / "start")
    text = repo.diff(lambda root: write(root / "d", files))
    expected = PatchFile.parse(text).sections
    assert [s.text for s in expected] == [series.new_file_section(s.path, files[s.path[2:]].encode()) for s in expected]
    assert [series.new_file_content(s) for s in expected] == [files[s.path[2:]].encode() for s in expected]


def test_sync_rewrites_a_stale_section(world):
    (world.shared / "tags.py").write_text("WEIGHTS = 'weights'\nKV_CACHE = 'kv_cache'\nCUDA_GRAPH = 'cuda_graph'\n")
    assert lint(world) == [
        "0001-alpha.patch: the section for sglang/srt/memory_occupation/tags.py differs from "
        f"{world.shared / 'tags.py'}: run `python -m sglang_patch_dev.series sync`"
    ]
    beta_before = (world.patches / "0002-beta.patch").read_bytes()
    assert series.sync(world.patches, world.shared) == ["0001-alpha.patch"]
    assert series.sync(world.patches, world.shared) == []
    assert lint(world) == []
    assert (world.patches / "0002-beta.patch").read_bytes() == beta_before
    assert PatchFile.read(world.patches / "0001-alpha.patch").header == header("alpha")
    tree = fresh_tree(world)
    series.apply_series(tree, world.patches)
    assert (tree / "sglang/srt/memory_occupation/tags.py").read_bytes() == (world.shared / "tags.py").read_bytes()


def test_sync_keeps_a_clean_series_byte_for_byte(world):
    before = snapshot(world.patches)
    assert series.sync(world.patches, world.shared) == []
    assert snapshot(world.patches) == before


def test_uncarried_shared_file_is_added_where_asked(world):
    write(world.shared, {"sub/new.py": "NEW = True\n"})
    problems = lint(world)
    assert len(problems) == 1 and "sub/new.py is carried by no patch" in problems[0]
    assert "sync --add" in problems[0]
    with pytest.raises(SeriesError) as error:
        series.sync(world.patches, world.shared)
    assert "sync --add" in str(error.value) and "--to NNNN-<concern>.patch" in str(error.value)
    assert series.sync(world.patches, world.shared, add=[str(world.shared / "sub/new.py")], to="0002-beta.patch") == [
        "0002-beta.patch"
    ]
    assert lint(world) == []
    paths = [s.path for s in PatchFile.read(world.patches / "0002-beta.patch").sections]
    assert paths == sorted(paths)  # where git diff would put it
    assert series.check(world.patches, RUNTIME, world.shared, world.source) == []


def test_section_without_a_package_file(world):
    (world.shared / "sub/x.py").unlink()
    assert lint(world) == [
        "0002-beta.patch carries sglang/srt/memory_occupation/sub/x.py but "
        f"{world.shared} has no such file: delete the section from 0002-beta.patch, or restore the file"
    ]
    missing_root = world.root / "no-such-dir"
    assert len(lint(world, shared_root=missing_root)) == 3  # __init__.py, tags.py, sub/x.py


def test_shared_file_carried_twice(world):
    path = world.patches / "0002-beta.patch"
    tags = PatchFile.read(world.patches / "0001-alpha.patch").section("sglang/srt/memory_occupation/tags.py")
    path.write_text(path.read_text() + tags.text)
    assert any("tags.py is carried by 2 patches (0001-alpha.patch, 0002-beta.patch)" in p for p in lint(world))
    with pytest.raises(SeriesError, match="more than one patch"):
        series.sync(world.patches, world.shared)


# -- unpack / pack ---------------------------------------------------------------------------

def unpack(w: SimpleNamespace) -> Path:
    tree = w.root / "work"
    series.unpack(tree, w.patches, w.source)
    return tree


def test_unpack_pack_round_trip_is_identical(world):
    before = snapshot(world.patches)
    tree = unpack(world)
    subjects = git(tree, "log", "--reverse", "--format=%s").split("\n")[:-1]
    assert subjects == ["pristine sglang 0.4.6.post5", "0001-alpha.patch", "0002-beta.patch"]
    same_package(tree, world.patched)
    assert series.pack(tree, world.patches, RUNTIME, world.shared) == []
    assert snapshot(world.patches) == before


def test_pack_takes_an_amend_and_a_fixup(world):
    tree = unpack(world)
    replace_in(tree / "sglang/srt/b.py", "class B:", "class B:  # amended")
    git(tree, "commit", "-q", "-a", "--amend", "--no-edit")
    replace_in(tree / "sglang/a.py", "    return 5\n", "    return 5 * 5\n")
    first = git(tree, "log", "--format=%H", "--grep=^0001-alpha.patch$").strip()
    git(tree, "commit", "-q", "-a", f"--fixup={first}")
    pristine_commit = git(tree, "rev-list", "--max-parents=0", "HEAD").strip()
    git(tree, "rebase", "-q", "-i", "--autosquash", pristine_commit)

    assert series.pack(tree, world.patches, RUNTIME, world.shared) == []
    alpha = PatchFile.read(world.patches / "0001-alpha.patch")
    beta = PatchFile.read(world.patches / "0002-beta.patch")
    assert alpha.header == header("alpha") and beta.header == header("beta")
    assert "+    return 5 * 5" in alpha.render() and "amended" not in alpha.render()
    assert "+class B:  # amended" in beta.render() and "5 * 5" not in beta.render()
    tree2 = fresh_tree(world, "again")
    series.apply_series(tree2, world.patches)
    same_package(tree2, tree)


def test_a_new_patch_starts_as_a_header_and_gets_its_diff_from_pack(world):
    runtime = RUNTIME + [SimpleNamespace(name="gamma", has_source_patch=True)]
    (world.patches / "0003-gamma.patch").write_text(header("gamma"))
    (world.patches / "series").write_text("0001-alpha.patch\n0002-beta.patch\n0003-gamma.patch\n")
    assert series.lint(world.patches, runtime, world.shared) == ["0003-gamma.patch: has no diff --git section"]
    tree = unpack(world)
    write(tree, {"sglang/srt/c.py": "C = 3\n"})
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "--amend", "--no-edit")
    assert series.pack(tree, world.patches, runtime, world.shared) == []
    gamma = PatchFile.read(world.patches / "0003-gamma.patch")
    assert gamma.header == header("gamma") and [s.path for s in gamma.sections] == ["sglang/srt/c.py"]


def test_pack_refuses_commits_that_do_not_match_the_series(world):
    tree = unpack(world)
    before = snapshot(world.patches)
    replace_in(tree / "sglang/a.py", "    return 7\n", "    return 77\n")
    git(tree, "commit", "-q", "-a", "-m", "wip")
    with pytest.raises(SeriesError) as error:
        series.pack(tree, world.patches, RUNTIME, world.shared)
    assert "'wip'" in str(error.value) and "rebase" in str(error.value)
    assert snapshot(world.patches) == before


def test_pack_refuses_uncommitted_changes(world):
    tree = unpack(world)
    replace_in(tree / "sglang/a.py", "    return 7\n", "    return 77\n")
    with pytest.raises(SeriesError, match="uncommitted changes"):
        series.pack(tree, world.patches, RUNTIME, world.shared)


def test_unpack_refuses_a_non_empty_dir(world):
    (world.root / "busy").mkdir()
    (world.root / "busy" / "mine.txt").write_text("keep me")
    with pytest.raises(SeriesError, match="not an empty directory"):
        series.unpack(world.root / "busy", world.patches, world.source)
    assert (world.root / "busy" / "mine.txt").read_text() == "keep me"


# -- build -----------------------------------------------------------------------------------

def test_build_marker_if_changed_and_wiping(world):
    dest = world.root / "build"
    assert series.build(dest, world.patches, world.shared, world.source) is True
    same_package(dest, world.patched)
    assert (dest / series.BUILD_MARKER).read_text().strip() == series.series_digest(world.patches, world.shared)
    assert series.build(dest, world.patches, world.shared, world.source, if_changed=True) is False

    (dest / "sglang/stray.py").write_text("")
    (world.shared / "tags.py").write_text("WEIGHTS = 'w'\n")
    series.sync(world.patches, world.shared)
    assert series.build(dest, world.patches, world.shared, world.source, if_changed=True) is True
    assert not (dest / "sglang/stray.py").exists()  # wiped: it had the marker
    assert (dest / "sglang/srt/memory_occupation/tags.py").read_text() == "WEIGHTS = 'w'\n"


def test_build_never_wipes_a_dir_it_did_not_make(world):
    dest = world.root / "precious"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(SeriesError, match="will not be wiped"):
        series.build(dest, world.patches, world.shared, world.source)
    assert (dest / "mine.txt").read_text() == "keep me"


def test_failed_build_can_be_rebuilt(world):
    dest = world.root / "build"
    good = (world.patches / "0002-beta.patch").read_text()
    (world.patches / "0002-beta.patch").write_text(good.replace(" class B:", " class Nope:"))
    with pytest.raises(PatchFailed, match="0002-beta.patch"):
        series.build(dest, world.patches, world.shared, world.source)
    assert (dest / series.BUILD_MARKER).read_text() == "incomplete\n"
    (world.patches / "0002-beta.patch").write_text(good)
    assert series.build(dest, world.patches, world.shared, world.source, if_changed=True) is True
    same_package(dest, world.patched)


# -- pristine sources ------------------------------------------------------------------------

def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def fake_wheel(path: Path, files: dict, record_override: dict = ()) -> Path:
    record = {name: record_hash(data) for name, data in files.items()}
    record.update(record_override)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("sglang-0.4.6.post5.dist-info/RECORD",
                    "".join(f"{name},{h},{len(files.get(name, b''))}\n" for name, h in record.items())
                    + "sglang-0.4.6.post5.dist-info/RECORD,,\n")
    return path


def test_wheel_is_checked_against_its_record(tmp_path):
    files = {"sglang/__init__.py": b"", "sglang/srt/x.py": b"X = 1\n", "sglang/__pycache__/x.pyc": b"\0"}
    good = fake_wheel(tmp_path / "good.whl", files)
    source = series.extract_wheel(good, tmp_path / "out")
    assert "RECORD hashes verified" in source
    assert (tmp_path / "out/sglang/srt/x.py").read_bytes() == b"X = 1\n"
    assert not (tmp_path / "out/sglang/__pycache__").exists()

    bad = fake_wheel(tmp_path / "bad.whl", files, {"sglang/srt/x.py": record_hash(b"X = 2\n")})
    with pytest.raises(SeriesError, match="does not match its own RECORD"):
        series.extract_wheel(bad, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()

    unlisted = fake_wheel(tmp_path / "unlisted.whl", files, {"sglang/gone.py": record_hash(b"")})
    with pytest.raises(SeriesError, match="sglang/gone.py"):
        series.extract_wheel(unlisted, tmp_path / "out3")

    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("sglang/__init__.py", "")
    with pytest.raises(SeriesError, match="is not a sglang 0.4.6.post5 wheel"):
        series.extract_wheel(other, tmp_path / "out4")


def _installed_sglang_ok() -> str:
    try:
        series.installed_package_files()
    except SeriesError as why:
        return str(why)
    return ""


@pytest.mark.skipif(bool(_installed_sglang_ok()), reason=f"no verifiable installed sglang: {_installed_sglang_ok()}")
def test_pristine_from_the_installed_distribution(tmp_path):
    dest = tmp_path / "pristine"
    assert series.make_pristine(dest).startswith("installed sglang 0.4.6.post5")
    record = {f.as_posix(): f for f in importlib.metadata.distribution("sglang").files
              if f.as_posix().startswith("sglang/") and "__pycache__" not in f.parts}
    copied = {p.relative_to(dest).as_posix() for p in (dest / "sglang").rglob("*") if p.is_file()}
    assert copied == set(record)
    for rel in ["sglang/__init__.py", "sglang/version.py", "sglang/srt/managers/scheduler.py",
                "sglang/srt/managers/io_struct.py", "sglang/srt/entrypoints/engine.py"]:
        assert series._record_hash((dest / rel).read_bytes()) == record[rel].hash.value, rel


# -- command line ----------------------------------------------------------------------------

def test_command_line_apply_and_exit_codes(world):
    tree = fresh_tree(world)
    command = [sys.executable, "-m", "sglang_patch_dev.series", "apply",
               "--tree", str(tree), "--patches", str(world.patches)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "applied 0001-alpha.patch\napplied 0002-beta.patch\n" in done.stdout
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 1
    assert "error: 0001-alpha.patch does not apply cleanly" in again.stderr and "Reversed" in again.stderr


def test_command_line_check_lists_every_problem(world, capsys):
    shutil.copy(world.patches / "0002-beta.patch", world.patches / "0003-beta.patch")
    assert series.main(["check", "--tree-only", "--patches", str(world.patches)]) == 1
    err = capsys.readouterr().err
    assert "0003-beta.patch is not listed in series (orphan)" in err
    assert "there is no runtime patch named 'alpha'" in err  # the real runtime patches are the default
