"""The source-patch series in patches/: build it, check it like code, edit it.

sglang_patch changes SGLang at runtime (the patch set of each release, e.g. sglang_patch.v0_4_6_post5).
patches/<version>/ carries the same changes as a quilt-style series of source patches against
that pristine SGLang release, so they can be read as diffs, sent upstream, or built into a
patched tree. This module is the series' tooling. It works on one release: $SGLANG_SERIES_VERSION,
else the installed SGLang if the version table has it, else the primary release::

    python -m sglang_patch_dev.series check                  # lint; if clean, apply to a pristine tree
    python -m sglang_patch_dev.series check --tree-only      # lint only, no pristine tree needed
    python -m sglang_patch_dev.series pristine --dest DIR    # pristine sglang <version> at DIR/sglang
    python -m sglang_patch_dev.series apply --tree DIR       # apply the series to a tree, strictly
    python -m sglang_patch_dev.series build --dest DIR [--if-changed]   # pristine + apply, with a marker
    python -m sglang_patch_dev.series sync                   # shared files -> their sections in patches/
    python -m sglang_patch_dev.series unpack --tree DIR      # one git commit per patch, to edit
    python -m sglang_patch_dev.series pack --tree DIR        # those commits back into patches/
    python -m sglang_patch_dev.series port --from 0.5.17 --to 0.5.23   # a new release's series (series_port)

Every subcommand takes ``--patches DIR`` (default: the repository's patches/<version>/).

Layout
    ``patches/<version>/series`` lists the patch files in application order, one per line; blank lines and
    ``#`` comments are allowed. ``NNNN-<name>.patch`` (NNNN = 0001, 0002, ... in series order)
    carries the source form of the runtime patch ``<name>`` (the release's ``PATCHES``); every
    runtime patch with ``has_source_patch = True`` has exactly one. Diff paths are ``-p1`` with
    ``a/``/``b/`` prefixes, relative to the package tree (the directory that holds ``sglang/``).
    Before the first ``diff --git`` line each file has a DEP-3 style header::

        Description: Scheduler releases and resumes GPU memory by tag
         Longer explanation lines start with one space.
        Runtime-Patch: scheduler
        Applies-To: sglang==0.4.6.post5
        Upstream: sgl-project/sglang#7099 (SGLang 0.4.8) did the same
        ---

    Description, Runtime-Patch (= ``<name>``), Applies-To and Upstream are required.

Strict application
    Each patch is applied with ``patch -p1 --forward --fuzz=0`` after a dry run; an offset, fuzz or
    reversed hunk counts as a failure, and the first failing patch is named with patch's output.

Shared files
    Files under ``sglang_patch/memory_occupation/`` are used by the runtime patches and shipped
    verbatim by the series as the new files ``sglang/srt/memory_occupation/<same path>``, each in
    the patch of the concern that uses it. Edit the package file, then run ``sync``; ``check``
    fails while a section differs from its file. A new shared file is placed once with
    ``sync --add sglang_patch/memory_occupation/F --to NNNN-<concern>.patch``.

Editing hand-written hunks
    ``unpack --tree DIR`` makes DIR a git repository: one commit with pristine SGLang, then one
    commit per patch whose subject is the patch file name. Edit, then ``git commit --amend`` (top
    patch) or ``git commit --fixup=<commit>`` and ``git rebase -i --autosquash <pristine commit>``,
    so that there is still one commit per patch, in order, with the same subjects. ``pack --tree
    DIR`` writes each commit's diff back into its patch file (the header is kept), runs ``sync``
    and the lint.

Pristine source
    The installed sglang distribution when it is the release worked on and every file under ``sglang/``
    matches its RECORD hash (no network); otherwise a wheel (``--wheel PATH``, else ``pip download``
    into build/cache), checked against the wheel's own RECORD. ``build`` writes the marker
    ``.sglang-series-build`` holding a digest of the series, patches and shared files;
    ``--if-changed`` skips a build whose marker matches, and only a directory with the marker is
    ever wiped.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import importlib.metadata
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from sglang_patch.versions import RELEASES, patch_set

logger = logging.getLogger("sglang_patch_dev.series")



def _series_version() -> str:
    """The release whose series this process works on: $SGLANG_SERIES_VERSION, else the installed
    SGLang when the version table has it (each test venv holds one release), else the primary one."""
    chosen = os.environ.get("SGLANG_SERIES_VERSION")
    if chosen:
        return chosen
    try:
        installed = importlib.metadata.version("sglang")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    return installed if installed in {r.version for r in RELEASES} else RELEASES[0].version


SGLANG_VERSION = _series_version()
REPO_ROOT = Path(__file__).resolve().parents[1]
# One series per release: patches/<version>/series and its NNNN-<name>.patch files.
DEFAULT_PATCHES_DIR = REPO_ROOT / "patches" / SGLANG_VERSION
DEFAULT_SHARED_ROOT = REPO_ROOT / "sglang_patch" / "memory_occupation"
DEFAULT_CACHE_DIR = REPO_ROOT / "build" / "cache"
# Where the series puts the shared files inside the sglang package tree.
SHARED_TARGET = "sglang/srt/memory_occupation"
BUILD_MARKER = ".sglang-series-build"
PRISTINE_SUBJECT = f"pristine sglang {SGLANG_VERSION}"
REQUIRED_FIELDS = ("Description", "Runtime-Patch", "Applies-To", "Upstream")
MODULE_CMD = "python -m sglang_patch_dev.series"

_PATCH_FILE_NAME = re.compile(r"^(?P<number>\d{4})-(?P<name>.+)\.patch$")
_DIFF_GIT = re.compile(r"^diff --git a/(?P<a>\S+) b/(?P<b>\S+)$")
_HEADER_FIELD = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9-]*):(?P<value>.*)$")
_NEW_FILE_HUNK = re.compile(r"^@@ -0,0 \+1(?:,(?P<count>\d+))? @@")
# What GNU patch prints for a hunk that did not apply exactly where the diff says.
_NOT_EXACT = re.compile(r"\boffset -?\d+ lines?\b|\bfuzz \d+|\bReversed\b")
_EMPTY_BLOB = "0" * 40

# Fills an existing directory with a pristine package tree (DIR/sglang/...); returns where it came from.
PristineSource = Callable[[Path], str]


class SeriesError(Exception):
    """A problem with the series or its inputs; the message says what is wrong and how to fix it."""


class PatchFailed(SeriesError):
    """A patch of the series does not apply exactly; names the patch file and keeps patch's output."""

    def __init__(self, patch_name: str, output: str, tree: Path, dry_run: bool):
        self.patch_name = patch_name
        self.output = output
        when = "" if dry_run else " (the dry run passed; the tree is now partly patched)"
        super().__init__(
            f"{patch_name} does not apply cleanly to {tree}{when}. Every patch must apply to pristine "
            f"sglang {SGLANG_VERSION} with no offset, no fuzz and not reversed. Fix the hunks: "
            f"`{MODULE_CMD} unpack --tree DIR`, edit and rebase there, then `{MODULE_CMD} pack --tree DIR` "
            f"(or edit the patch file by hand). patch said:\n{output.rstrip()}"
        )


# -- small helpers ---------------------------------------------------------------------------

def _show(path: Path) -> str:
    """A path as the user should read it: relative to the repository when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _split_lines(text: str) -> List[str]:
    """Lines with their "\\n" (only "\\n" ends a line, unlike str.splitlines)."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # no newline translation: byte-exact round trips


def _write_text(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


def _record_hash(data: bytes) -> str:
    """The hash as RECORD writes it: urlsafe base64 of the sha256 digest, without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _require_empty(dest: Path, what: str) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise SeriesError(
            f"{dest} already exists and is not an empty directory, so it cannot receive {what}. "
            f"Pick a new --dest/--tree, or remove it first (rm -rf {dest}) if nothing in it is needed."
        )
    dest.mkdir(parents=True, exist_ok=True)


def default_runtime_patches() -> list:
    """The runtime patches of that release (objects with ``name`` and ``has_source_patch``)."""
    return list(patch_set(SGLANG_VERSION).PATCHES)


# -- the series file and patch files ---------------------------------------------------------

def parse_series(text: str) -> List[str]:
    """Patch file names from the text of a series file (comments and blank lines dropped)."""
    names = []
    for line in text.split("\n"):
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def read_series(patches_dir: Path) -> List[str]:
    path = Path(patches_dir) / "series"
    if not path.is_file():
        raise SeriesError(
            f"{_show(path)} does not exist. Create it listing the patch files in application order, "
            f"one per line (or pass --patches DIR for a series elsewhere)."
        )
    return parse_series(_read_text(path))


@dataclass
class Section:
    """One file's diff inside a patch file: from its ``diff --git`` line up to the next one."""

    path: str  # the b/ path without the prefix ("" when the line cannot be read)
    text: str


@dataclass
class PatchFile:
    header: str  # everything before the first ``diff --git`` line, kept verbatim
    sections: List[Section] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "PatchFile":
        lines = _split_lines(text)
        starts = [i for i, line in enumerate(lines) if line.startswith("diff --git ")]
        if not starts:
            return cls(header=text)
        sections = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(lines)
            match = _DIFF_GIT.match(lines[start].rstrip("\n"))
            sections.append(Section(match.group("b") if match else "", "".join(lines[start:end])))
        return cls("".join(lines[: starts[0]]), sections)

    @classmethod
    def read(cls, path: Path) -> "PatchFile":
        return cls.parse(_read_text(path))

    def render(self) -> str:
        return self.header + "".join(s.text for s in self.sections)

    def fields(self) -> Dict[str, str]:
        """The header's ``Key: value`` fields (keys lower-cased; continuation lines joined by "\\n")."""
        fields: Dict[str, str] = {}
        key = None
        for line in self.header.split("\n"):
            if line.strip() == "---":
                break
            if key and line[:1] in (" ", "\t"):
                fields[key] += "\n" + line.strip()
                continue
            match = _HEADER_FIELD.match(line)
            key = match.group("key").lower() if match else None
            if key:
                fields[key] = match.group("value").strip()
        return fields

    def section(self, path: str) -> Optional[Section]:
        return next((s for s in self.sections if s.path == path), None)


def load_patches(patches_dir: Path, names: Iterable[str]) -> Dict[str, PatchFile]:
    """The listed patch files that exist, parsed, by file name (in series order)."""
    patches = {}
    for name in names:
        path = Path(patches_dir) / name
        if name not in patches and path.is_file():
            patches[name] = PatchFile.read(path)
    return patches


# -- shared files as new-file sections ---------------------------------------------------------

def shared_files(shared_root: Path = DEFAULT_SHARED_ROOT) -> Dict[str, Path]:
    """Every shared file by its path relative to ``shared_root`` (none when the root is absent)."""
    root = Path(shared_root)
    if not root.is_dir():
        return {}
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and "__pycache__" not in rel.parts and path.suffix not in (".pyc", ".pyo"):
            files[rel.as_posix()] = path
    return files


def shared_target(rel: str) -> str:
    """Where the series puts the shared file ``rel``: sglang/srt/memory_occupation/<rel>."""
    return f"{SHARED_TARGET}/{rel}"


def new_file_section(path: str, content: bytes) -> str:
    """The section creating ``path`` with ``content``, exactly as ``git diff --full-index`` writes it."""
    head = (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n"
        f"index {_EMPTY_BLOB}..{_git_blob_id(content)}\n"
    )
    if not content:
        return head
    lines = content.decode("utf-8").split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    count = "" if len(lines) == 1 else f",{len(lines)}"
    body = "".join(f"+{line}\n" for line in lines)
    if not ends_with_newline:
        body += "\\ No newline at end of file\n"
    return head + f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1{count} @@\n" + body


def new_file_content(section: Section) -> Optional[bytes]:
    """The file a new-file section creates, or None when the section is not a plain new file."""
    lines = [line.rstrip("\n") for line in _split_lines(section.text)]
    if len(lines) < 2 or not lines[1].startswith("new file mode "):
        return None
    hunk = next((i for i, line in enumerate(lines) if line.startswith("@@")), None)
    if hunk is None:
        return b"" if not any(line.startswith("+++ ") for line in lines) else None
    match = _NEW_FILE_HUNK.match(lines[hunk])
    if not match:
        return None
    content: List[str] = []
    for line in lines[hunk + 1:]:
        if line.startswith("+"):
            content.append(line[1:] + "\n")
        elif line.startswith("\\") and content:
            content[-1] = content[-1][:-1]  # "\ No newline at end of file"
        else:
            return None
    if len(content) != int(match.group("count") or 1):
        return None
    return "".join(content).encode("utf-8")


def shared_carriers(patches: Dict[str, PatchFile]) -> Dict[str, List[Tuple[str, Section]]]:
    """Every ``sglang/srt/memory_occupation/`` path the patches carry -> [(patch file, section)]."""
    carried: Dict[str, List[Tuple[str, Section]]] = {}
    for name, patch in patches.items():
        for section in patch.sections:
            if section.path.startswith(SHARED_TARGET + "/"):
                carried.setdefault(section.path, []).append((name, section))
    return carried


def _add_command(shared_file: Path) -> str:
    return f"{MODULE_CMD} sync --add {_show(shared_file)} --to NNNN-<concern>.patch"


# -- lint ------------------------------------------------------------------------------------

def lint(
    patches_dir: Path = DEFAULT_PATCHES_DIR,
    runtime_patches: Optional[Sequence] = None,
    shared_root: Path = DEFAULT_SHARED_ROOT,
) -> List[str]:
    """Every problem with the series, as one message each (empty when the series is sound).

    ``runtime_patches``: objects with ``name`` and ``has_source_patch`` (default: this package's).
    """
    patches_dir = Path(patches_dir)
    if not (patches_dir / "series").is_file():
        return [f"{_show(patches_dir / 'series')} is missing: create it listing the patch files in order"]
    runtime = list(default_runtime_patches() if runtime_patches is None else runtime_patches)
    names = read_series(patches_dir)
    patches = load_patches(patches_dir, names)
    return (
        _lint_listing(patches_dir, names)
        + _lint_numbering(names)
        + _lint_runtime_names(names, runtime)
        + [p for name, patch in patches.items() for p in _lint_header(name, patch)]
        + _lint_shared(patches, Path(shared_root))
    )


def _lint_listing(patches_dir: Path, names: List[str]) -> List[str]:
    """Listed files exist, none is listed twice, every *.patch file is listed."""
    problems = []
    seen = set()
    for name in names:
        if name in seen:
            problems.append(f"{name} is listed more than once in series: keep one line")
        elif not (patches_dir / name).is_file():
            problems.append(f"{name} is listed in series but {_show(patches_dir / name)} does not exist")
        seen.add(name)
    for path in sorted(patches_dir.glob("*.patch")):
        if path.name not in seen:
            problems.append(f"{path.name} is not listed in series (orphan): add it to series or delete it")
    return problems


def _lint_numbering(names: List[str]) -> List[str]:
    problems = []
    for position, name in enumerate(names, start=1):
        match = _PATCH_FILE_NAME.match(name)
        if not match:
            problems.append(f"{name}: patch files are named NNNN-<runtime patch name>.patch")
        elif int(match.group("number")) != position:
            problems.append(
                f"{name} is entry {position} of series: rename it to "
                f"{position:04d}-{match.group('name')}.patch (files are numbered 0001, 0002, ... in series order)"
            )
    return problems


def _lint_runtime_names(names: List[str], runtime: Sequence) -> List[str]:
    """File names name runtime patches with a source form; each of those has exactly one file."""
    problems = []
    by_name = {p.name: p for p in runtime}
    files_of: Dict[str, List[str]] = {}
    for name in dict.fromkeys(names):
        match = _PATCH_FILE_NAME.match(name)
        if not match:
            continue
        runtime_name = match.group("name")
        files_of.setdefault(runtime_name, []).append(name)
        if runtime_name not in by_name:
            problems.append(
                f"{name}: there is no runtime patch named {runtime_name!r} (known: {', '.join(by_name)}); "
                f"name the file after the runtime patch whose change it carries"
            )
        elif not by_name[runtime_name].has_source_patch:
            problems.append(
                f"{name}: runtime patch {runtime_name!r} says has_source_patch = False; drop the file "
                f"from the series, or set has_source_patch = True on its Patch class"
            )
    for patch in runtime:
        if not patch.has_source_patch:
            continue
        files = files_of.get(patch.name, [])
        if not files:
            problems.append(
                f"runtime patch {patch.name!r} has no patch file: add NNNN-{patch.name}.patch to patches/ "
                f"and to series (or set has_source_patch = False if it needs no source change)"
            )
        elif len(files) > 1:
            problems.append(
                f"runtime patch {patch.name!r} has {len(files)} patch files ({', '.join(files)}): merge them"
            )
    return problems


def _lint_header(name: str, patch: PatchFile) -> List[str]:
    problems = []
    fields = patch.fields()
    for key in REQUIRED_FIELDS:
        if not fields.get(key.lower(), "").split("\n")[0]:
            problems.append(f"{name}: header field {key}: is missing or its first line is empty "
                            f"(the header goes before the first diff --git)")
    match = _PATCH_FILE_NAME.match(name)
    runtime_name = fields.get("runtime-patch")
    if match and runtime_name and runtime_name != match.group("name"):
        problems.append(f"{name}: Runtime-Patch: {runtime_name} does not match the file name ({match.group('name')})")
    applies_to = fields.get("applies-to")
    if applies_to and not _applies_to_sglang(applies_to):
        problems.append(
            f"{name}: Applies-To: {applies_to} does not cover sglang {SGLANG_VERSION} "
            f"(write sglang=={SGLANG_VERSION})"
        )
    if fields.get("port-left"):
        problems.append(
            f"{name}: Port-Left: {fields['port-left']}: `{MODULE_CMD} port` could not port these hunks; port "
            f"them by hand (docs/source-patches.md), then delete the Port-Left line")
    if not patch.sections:
        problems.append(f"{name}: has no diff --git section")
    for section in patch.sections:
        if not section.path.startswith("sglang/"):
            problems.append(f"{name}: changes {section.path or 'an unreadable path'}, outside the package "
                            f"sglang/: drop that section (paths are relative to the directory holding sglang/)")
    return problems


def _applies_to_sglang(value: str) -> bool:
    try:
        requirement = Requirement(value)
    except InvalidRequirement:
        return False
    return canonicalize_name(requirement.name) == "sglang" and requirement.specifier.contains(
        Version(SGLANG_VERSION), prereleases=True
    )


def _lint_shared(patches: Dict[str, PatchFile], shared_root: Path) -> List[str]:
    """Each shared file is carried by exactly one patch, byte for byte; nothing else is carried."""
    problems = []
    files = shared_files(shared_root)
    carried = shared_carriers(patches)
    for rel, path in files.items():
        carriers = carried.get(shared_target(rel), [])
        if not carriers:
            problems.append(
                f"shared file {_show(path)} is carried by no patch: add it to the patch of the concern that "
                f"uses it with `{_add_command(path)}`"
            )
        elif len(carriers) > 1:
            problems.append(
                f"shared file {_show(path)} is carried by {len(carriers)} patches "
                f"({', '.join(name for name, _ in carriers)}): delete its section from all but one"
            )
        else:
            name, section = carriers[0]
            content = new_file_content(section)
            if content is None:
                problems.append(f"{name}: the section for {section.path} is not a new-file section: "
                                f"run `{MODULE_CMD} sync`")
            elif content != path.read_bytes():
                problems.append(f"{name}: the section for {section.path} differs from {_show(path)}: "
                                f"run `{MODULE_CMD} sync`")
    expected = {shared_target(rel) for rel in files}
    for target, carriers in sorted(carried.items()):
        if target not in expected:
            for name, _ in carriers:
                problems.append(
                    f"{name} carries {target} but {_show(shared_root)} has no such file: delete the "
                    f"section from {name}, or restore the file"
                )
    return problems


# -- applying --------------------------------------------------------------------------------

def _patch_binary() -> str:
    found = shutil.which("patch")
    if not found:
        raise SeriesError("GNU patch is not installed; it applies the series. Install it (apt-get install patch).")
    return found


def apply_patch(tree: Path, patch_file: Path) -> str:
    """Apply one patch file exactly (dry run first); return patch's output, raise PatchFailed.

    A patch file with a header and no diff yet (a new patch, before its first ``pack``) changes nothing.
    """
    tree, patch_file = Path(tree).resolve(), Path(patch_file).resolve()
    if not PatchFile.read(patch_file).sections:
        logger.info("%s has no diff yet", patch_file.name)
        return ""
    command = [_patch_binary(), "-p1", "--forward", "--batch", "--fuzz=0", "--no-backup-if-mismatch",
               "-d", str(tree), "-i", str(patch_file)]
    output = ""
    for dry_run in (True, False):
        proc = subprocess.run(command + (["--dry-run"] if dry_run else []), capture_output=True, text=True)
        output = proc.stdout + proc.stderr
        if proc.returncode != 0 or _NOT_EXACT.search(output):
            raise PatchFailed(patch_file.name, output, tree, dry_run)
    return output


def apply_series(tree: Path, patches_dir: Path = DEFAULT_PATCHES_DIR) -> None:
    """Apply every patch in series order to ``tree``; stop at the first that fails (PatchFailed)."""
    patches_dir = Path(patches_dir)
    for name in read_series(patches_dir):
        path = patches_dir / name
        if not path.is_file():
            raise SeriesError(
                f"{name} is listed in series but {_show(path)} does not exist: add the file or drop the line"
            )
        apply_patch(tree, path)
        logger.info("applied %s", name)


# -- pristine sources ------------------------------------------------------------------------

def _in_package(relpath: str) -> bool:
    """Whether a RECORD or wheel path is a file of the sglang package (not bytecode)."""
    parts = relpath.split("/")
    return (
        len(parts) > 1 and parts[0] == "sglang" and parts[-1] != ""
        and "__pycache__" not in parts and ".." not in parts and not relpath.endswith((".pyc", ".pyo"))
    )


def installed_package_files() -> Dict[str, Path]:
    """The installed sglang's package files (relpath -> file), after checking each RECORD hash.

    Raises SeriesError when sglang is not installed, is another version, or differs from its RECORD.
    """
    try:
        dist = importlib.metadata.distribution("sglang")
    except importlib.metadata.PackageNotFoundError:
        raise SeriesError("sglang is not installed in this environment") from None
    if Version(dist.version) != Version(SGLANG_VERSION):
        raise SeriesError(f"the installed sglang is {dist.version}, not {SGLANG_VERSION}")
    files: Dict[str, Path] = {}
    differing = []
    for entry in dist.files or []:
        rel = entry.as_posix()
        if not _in_package(rel):
            continue
        path = Path(entry.locate())
        if entry.hash is None or entry.hash.mode != "sha256":
            differing.append(f"{rel} (no sha256 in RECORD)")
        elif not path.is_file() or _record_hash(path.read_bytes()) != entry.hash.value:
            differing.append(rel)
        files[rel] = path
    if not files:
        raise SeriesError(f"the installed sglang {SGLANG_VERSION} has no RECORD listing its files")
    if differing:
        raise SeriesError(
            f"the installed sglang {SGLANG_VERSION} differs from its RECORD in {len(differing)} file(s), "
            f"e.g. {', '.join(differing[:3])}"
        )
    return files


def copy_installed(dest: Path) -> str:
    """Copy the verified installed sglang package into ``dest`` (which exists)."""
    files = installed_package_files()
    for rel, path in files.items():
        target = Path(dest) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    site = importlib.metadata.distribution("sglang").locate_file("")
    return f"installed sglang {SGLANG_VERSION} in {site} ({len(files)} files, RECORD hashes verified)"


def extract_wheel(wheel: Path, dest: Path, version: Optional[str] = None) -> str:
    """Unpack the sglang package of ``wheel`` (sglang ``version``, default the one worked on) into
    ``dest`` after checking every file's RECORD hash."""
    wheel, version = Path(wheel), version or SGLANG_VERSION
    record_name = f"sglang-{version}.dist-info/RECORD"
    if not wheel.is_file():
        raise SeriesError(f"wheel {wheel} does not exist: pass --wheel PATH to a sglang {version} wheel")
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = {i.filename: i for i in zf.infolist() if _in_package(i.filename)}
            if record_name not in zf.namelist():
                raise SeriesError(f"{wheel} is not a sglang {version} wheel: it has no {record_name}")
            with zf.open(record_name) as raw:
                rows = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8")))
            expected = {row[0]: row[1] for row in rows if row and _in_package(row[0])}
            contents = {name: zf.read(name) for name in sorted(members)}
    except zipfile.BadZipFile as e:
        raise SeriesError(f"{wheel} is not a valid wheel ({e}): download it again or pass another --wheel") from None
    bad = sorted(set(expected) ^ set(contents))
    bad += [n for n, data in contents.items() if n in expected and expected[n] != f"sha256={_record_hash(data)}"]
    if bad or not contents:
        raise SeriesError(
            f"{wheel} does not match its own RECORD ({len(bad)} file(s) missing, unlisted or with a wrong "
            f"hash, e.g. {', '.join(bad[:3]) or 'no sglang/ files at all'}): it is damaged; delete it and "
            f"download sglang=={version} again"
        )
    for name, data in contents.items():
        target = Path(dest) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        mode = (members[name].external_attr >> 16) & 0o777
        if mode:
            target.chmod(mode)
    return f"wheel {wheel} ({len(contents)} files, RECORD hashes verified)"


def _pip() -> List[str]:
    """pip as a command: this interpreter's, else the one on PATH (a uv-made venv has none of its own)."""
    import importlib.util

    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    if not found:
        raise SeriesError("pip is needed to download an sglang wheel and none was found: install pip, "
                          "or pass --wheel PATH to a local copy of the wheel")
    return [found]


def download_wheel(cache_dir: Path = DEFAULT_CACHE_DIR, version: Optional[str] = None) -> Path:
    """The sglang ``version`` wheel (default the one worked on) in ``cache_dir``, downloaded with pip
    when it is not there yet. From 0.5.11 sglang has a wheel per platform: pip takes its own
    interpreter's, whose sglang/ sources are the same."""
    cache_dir, version = Path(cache_dir), version or SGLANG_VERSION
    cached = sorted(cache_dir.glob(f"sglang-{version}-*.whl"))
    if cached:
        return cached[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("downloading sglang==%s into %s", version, _show(cache_dir))
    command = [*_pip(), "download", f"sglang=={version}", "--no-deps", "--only-binary=:all:", "-d", str(cache_dir)]
    proc = subprocess.run(command, capture_output=True, text=True)
    cached = sorted(cache_dir.glob(f"sglang-{version}-*.whl"))
    if proc.returncode != 0 or not cached:
        raise SeriesError(
            f"could not download the sglang {version} wheel with pip (exit {proc.returncode}). Without "
            f"network, pass --wheel PATH to a local copy of the wheel, or install sglang=={version} "
            f"unmodified in this environment. pip said:\n{(proc.stdout + proc.stderr).strip()[-2000:]}"
        )
    return cached[0]


def sglang_pristine(wheel: Optional[Path] = None, cache_dir: Path = DEFAULT_CACHE_DIR) -> PristineSource:
    """The real pristine source: the installed distribution if verified, else the (given or downloaded) wheel."""

    def fill(dest: Path) -> str:
        if wheel is None:
            try:
                return copy_installed(dest)
            except SeriesError as why:
                logger.info("not using the installed sglang: %s; using the wheel", why)
        return extract_wheel(Path(wheel) if wheel else download_wheel(cache_dir), dest)

    return fill


def directory_pristine(source: Path) -> PristineSource:
    """A pristine source that copies an existing package tree (``source/sglang/...``), e.g. for tests."""

    def fill(dest: Path) -> str:
        shutil.copytree(Path(source) / "sglang", Path(dest) / "sglang",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return f"package tree {source}"

    return fill


def make_pristine(dest: Path, pristine: Optional[PristineSource] = None) -> str:
    """Fill the new or empty directory ``dest`` with pristine sglang; return where it came from."""
    dest = Path(dest)
    _require_empty(dest, "a pristine tree")
    source = (pristine or sglang_pristine())(dest)
    logger.info("pristine sglang %s from %s", SGLANG_VERSION, source)
    return source


# -- build -----------------------------------------------------------------------------------

def series_digest(patches_dir: Path = DEFAULT_PATCHES_DIR, shared_root: Path = DEFAULT_SHARED_ROOT) -> str:
    """sha256 over the series file, every listed patch file and every shared file."""
    patches_dir = Path(patches_dir)
    digest = hashlib.sha256(f"sglang {SGLANG_VERSION}\0".encode())

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode() + data)

    add("series", (patches_dir / "series").read_bytes())
    for name in read_series(patches_dir):
        path = patches_dir / name
        add(f"patch {name}", path.read_bytes() if path.is_file() else b"<missing>")
    for rel, path in shared_files(shared_root).items():
        add(f"shared {rel}", path.read_bytes())
    return digest.hexdigest()


def _prepare_build_dir(dest: Path) -> None:
    """Empty ``dest`` for a build: wipe it only when an earlier build marked it as ours."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        if not (dest / BUILD_MARKER).is_file():
            raise SeriesError(
                f"{dest} exists and has no {BUILD_MARKER} marker, so it was not made by `build` and will not "
                f"be wiped. Pick another --dest, or remove it yourself (rm -rf {dest}) if nothing in it is needed."
            )
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / BUILD_MARKER).write_text("incomplete\n")  # ours from now on, even if this build fails


def build(
    dest: Path,
    patches_dir: Path = DEFAULT_PATCHES_DIR,
    shared_root: Path = DEFAULT_SHARED_ROOT,
    pristine: Optional[PristineSource] = None,
    if_changed: bool = False,
) -> bool:
    """Pristine sglang plus the series at ``dest``; False when ``if_changed`` found it up to date."""
    dest = Path(dest)
    digest = series_digest(patches_dir, shared_root)
    marker = dest / BUILD_MARKER
    if if_changed and marker.is_file() and marker.read_text().strip() == digest:
        logger.info("%s is up to date (series %s)", dest, digest[:12])
        return False
    _prepare_build_dir(dest)
    logger.info("pristine sglang %s from %s", SGLANG_VERSION, (pristine or sglang_pristine())(dest))
    apply_series(dest, patches_dir)
    marker.write_text(digest + "\n")
    logger.info("built %s (series %s)", dest, digest[:12])
    return True


def check(
    patches_dir: Path = DEFAULT_PATCHES_DIR,
    runtime_patches: Optional[Sequence] = None,
    shared_root: Path = DEFAULT_SHARED_ROOT,
    pristine: Optional[PristineSource] = None,
    tree_only: bool = False,
) -> List[str]:
    """The lint's problems; when there are none and not ``tree_only``, the series applied to a fresh
    pristine tree (in a temporary directory), reporting the first patch that does not apply."""
    problems = lint(patches_dir, runtime_patches, shared_root)
    if problems or tree_only:
        return problems
    with tempfile.TemporaryDirectory(prefix="sglang-series-check-") as tmp:
        make_pristine(Path(tmp), pristine)
        try:
            apply_series(Path(tmp), patches_dir)
        except SeriesError as e:
            return [str(e)]
    return []


# -- sync ------------------------------------------------------------------------------------

def _resolve_shared(arg: str, shared_root: Path) -> str:
    """A --add argument (a path to the file, or one relative to the shared root) -> its relative path."""
    root = Path(shared_root).resolve()
    for candidate in (Path(arg), REPO_ROOT / arg, root / arg):
        candidate = candidate.resolve()
        if candidate.is_file() and root in candidate.parents:
            return candidate.relative_to(root).as_posix()
    raise SeriesError(f"--add {arg}: no such file under {_show(root)}; give the path of a shared file")


def _insert_sorted(patch: PatchFile, section: Section) -> None:
    """Insert where git diff would list it (by path)."""
    index = next((i for i, s in enumerate(patch.sections) if s.path > section.path), len(patch.sections))
    patch.sections.insert(index, section)


def sync(
    patches_dir: Path = DEFAULT_PATCHES_DIR,
    shared_root: Path = DEFAULT_SHARED_ROOT,
    add: Sequence[str] = (),
    to: Optional[str] = None,
) -> List[str]:
    """Rewrite each shared file's new-file section from the file; return the patch files changed.

    ``add``/``to`` place shared files no patch carries yet into the patch file ``to``.
    """
    patches_dir = Path(patches_dir)
    names = read_series(patches_dir)
    patches = load_patches(patches_dir, names)
    files = shared_files(shared_root)
    carried = shared_carriers(patches)
    additions = [_resolve_shared(arg, shared_root) for arg in add]
    if additions and to not in patches:
        raise SeriesError(f"--to {to}: not a patch file of the series; give one of: {', '.join(patches)}")
    for rel in additions:
        if shared_target(rel) in carried:
            carrier = carried[shared_target(rel)][0][0]
            raise SeriesError(f"{_show(files[rel])} is already carried by {carrier}; run sync without --add")
    missing = [rel for rel in files if shared_target(rel) not in carried and rel not in additions]
    if missing:
        steps = "\n".join(f"    {_add_command(files[rel])}" for rel in missing)
        raise SeriesError(
            f"{len(missing)} shared file(s) are carried by no patch. Each one goes, as a new file under "
            f"{SHARED_TARGET}/, into the patch of the concern that uses it (the runtime patch whose module "
            f"imports it). Run, with that patch's file name:\n{steps}"
        )
    several = {t: c for t, c in carried.items() if len(c) > 1}
    if several:
        raise SeriesError("shared files carried by more than one patch; delete all sections but one: " + "; ".join(
            f"{t} in {', '.join(n for n, _ in c)}" for t, c in sorted(several.items())))

    before = {name: patch.render() for name, patch in patches.items()}
    for rel in additions:
        _insert_sorted(patches[to], Section(shared_target(rel), ""))
    for name, patch in patches.items():
        for section in patch.sections:
            rel = section.path[len(SHARED_TARGET) + 1:]
            if section.path.startswith(SHARED_TARGET + "/") and rel in files:
                section.text = new_file_section(section.path, files[rel].read_bytes())
            elif section.path.startswith(SHARED_TARGET + "/"):
                logger.warning("%s carries %s, which %s does not have (left as is)",
                               name, section.path, _show(shared_root))
    changed = [name for name, patch in patches.items() if patch.render() != before[name]]
    for name in changed:
        _write_text(patches_dir / name, patches[name].render())
        logger.info("updated %s", name)
    if not changed:
        logger.info("shared files in sync")
    return changed


# -- unpack / pack ---------------------------------------------------------------------------

def _git(tree: Path, *args: str) -> str:
    """Run git in ``tree`` with no user or system configuration (and a fixed identity)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    command = ["git", "-C", str(tree), "-c", "user.name=series", "-c", "user.email=series@localhost",
               "-c", "commit.gpgsign=false", *args]
    proc = subprocess.run(command, capture_output=True, env=env)
    if proc.returncode != 0:
        raise SeriesError(f"`git {' '.join(args)}` failed in {tree}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode("utf-8")


def _commit_all(tree: Path, subject: str) -> None:
    _git(tree, "add", "--all", "--force", ".")
    _git(tree, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", subject)


def unpack(tree: Path, patches_dir: Path = DEFAULT_PATCHES_DIR, pristine: Optional[PristineSource] = None) -> None:
    """Make ``tree`` a git repository: pristine sglang, then one commit per patch (subject = file name)."""
    tree, patches_dir = Path(tree).resolve(), Path(patches_dir)
    names = read_series(patches_dir)
    make_pristine(tree, pristine)
    _git(tree, "init", "--quiet", "--initial-branch=series")
    _commit_all(tree, PRISTINE_SUBJECT)
    for name in names:
        apply_patch(tree, patches_dir / name)
        _commit_all(tree, name)
        logger.info("committed %s", name)
    logger.info(
        "unpacked %d patches into %s. Edit there, then `git commit --amend` (top patch) or "
        "`git commit --fixup=<commit>` + `git rebase -i --autosquash <pristine commit>`, keeping one commit "
        "per patch with its subject; then `%s pack --tree %s`.", len(names), tree, MODULE_CMD, tree,
    )


@dataclass
class _Commit:
    sha: str
    parents: List[str]
    subject: str


def _series_commits(tree: Path, names: List[str]) -> List[_Commit]:
    """The commits after the pristine one, checked against the series (one per patch, in order)."""
    if not (tree / ".git").exists() or Path(_git(tree, "rev-parse", "--show-toplevel").strip()).resolve() != tree:
        raise SeriesError(
            f"{tree} is not a tree made by `unpack` (no git repository at its top): "
            f"run `{MODULE_CMD} unpack --tree DIR` first"
        )
    log = _git(tree, "log", "--reverse", "--format=%H%x1f%P%x1f%s", "HEAD")
    commits = [_Commit(sha, parents.split(), subject) for sha, parents, subject in
               (line.split("\x1f") for line in log.splitlines())]
    if not commits or commits[0].subject != PRISTINE_SUBJECT or commits[0].parents:
        raise SeriesError(
            f"the first commit of {tree} must be the root commit {PRISTINE_SUBJECT!r} made by unpack; unpack again"
        )
    if any(len(c.parents) != 1 for c in commits[1:]):
        raise SeriesError(
            f"the history of {tree} has merges: rebase it into one commit per patch on top of the pristine commit"
        )
    subjects = [c.subject for c in commits[1:]]
    if subjects != names:
        raise SeriesError(
            f"the commits after the pristine one in {tree} must be one per patch, in series order, with the "
            f"patch file name as subject. Expected: {names}; found: {subjects}. Fold extra commits into their "
            f"patch's commit (fixup/squash in `git rebase -i --autosquash {commits[0].sha[:12]}`), reword subjects "
            f"to match, and give a patch with no commit one (`git commit --allow-empty -m NNNN-name.patch`, "
            f"moved into place by the rebase)."
        )
    return commits[1:]


def pack(
    tree: Path,
    patches_dir: Path = DEFAULT_PATCHES_DIR,
    runtime_patches: Optional[Sequence] = None,
    shared_root: Path = DEFAULT_SHARED_ROOT,
) -> List[str]:
    """Write each commit of an unpacked tree into its patch file (header kept); sync; return lint problems."""
    tree, patches_dir = Path(tree).resolve(), Path(patches_dir)
    names = read_series(patches_dir)
    commits = _series_commits(tree, names)
    if _git(tree, "status", "--porcelain", "--untracked-files=all").strip():
        raise SeriesError(
            f"{tree} has uncommitted changes, which pack would lose: commit them into their patch's commit "
            f"(`git commit --amend`, or `git commit --fixup=<commit>` + `git rebase -i --autosquash`), or discard them"
        )
    missing = [name for name in names if not (patches_dir / name).is_file()]
    if missing:
        raise SeriesError(
            f"patch files listed in series do not exist: {', '.join(missing)}; "
            f"add them (header first) or drop them from series"
        )
    new_texts = {}
    for commit in commits:
        diff = _git(tree, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--full-index",
                    "--src-prefix=a/", "--dst-prefix=b/", "--unified=3", "--diff-algorithm=myers",
                    commit.parents[0], commit.sha)
        path = patches_dir / commit.subject
        new_texts[commit.subject] = PatchFile.read(path).header + diff
    for name, text in new_texts.items():
        if _read_text(patches_dir / name) != text:
            _write_text(patches_dir / name, text)
            logger.info("packed %s", name)
    sync(patches_dir, shared_root)
    return lint(patches_dir, runtime_patches, shared_root)


# -- command line ----------------------------------------------------------------------------

def _report(problems: List[str], what: str) -> int:
    if not problems:
        logger.info("%s: ok", what)
        return 0
    print(f"{what}: {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print("  - " + problem.replace("\n", "\n    "), file=sys.stderr)
    return 1


def _cmd_pristine(args: argparse.Namespace) -> int:
    make_pristine(args.dest, sglang_pristine(args.wheel))
    return 0


def _cmd_apply(args: argparse.Namespace) -> int:
    apply_series(args.tree, args.patches)
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    build(args.dest, args.patches, pristine=sglang_pristine(args.wheel), if_changed=args.if_changed)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    problems = check(args.patches, pristine=sglang_pristine(args.wheel), tree_only=args.tree_only)
    return _report(problems, f"series {_show(args.patches)}")


def _cmd_sync(args: argparse.Namespace) -> int:
    if args.add and not args.to:
        raise SeriesError("--add needs --to NNNN-<concern>.patch, the patch file that is to carry the file")
    sync(args.patches, add=args.add or (), to=args.to)
    return 0


def _cmd_unpack(args: argparse.Namespace) -> int:
    unpack(args.tree, args.patches, sglang_pristine(args.wheel))
    return 0


def _cmd_pack(args: argparse.Namespace) -> int:
    return _report(pack(args.tree, args.patches), f"series {_show(args.patches)}")


def _cmd_port(args: argparse.Namespace) -> int:
    from sglang_patch_dev import series_port

    try:  # run as __main__, this module's SeriesError is not the one series_port raises
        takes = series_port.parse_pairs(args.take or (), "--take", "NAME=RELEASE (tokenizer_manager=0.5.17)")
        places = series_port.parse_pairs(args.place or (), "--place", "FILE=NAME (startup.py=engine)")
        report = series_port.port(args.base, args.target, takes, args.tree, fuzz=args.fuzz,
                                  target_wheel=args.wheel, run_check=not args.no_check, places=places)
    except series_port.S.SeriesError as e:
        raise SeriesError(str(e)) from None
    print(report.render())
    return 0 if not report.failed and report.check_ok is not False else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=MODULE_CMD, description=__doc__.split("\n\n")[0],
        epilog="The module docstring (pydoc sglang_patch_dev.series) explains the workflow.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable, help: str, wheel: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--patches", type=Path, default=DEFAULT_PATCHES_DIR, metavar="DIR",
                         help=f"the series directory (default: {_show(DEFAULT_PATCHES_DIR)})")
        if wheel:
            sub.add_argument("--wheel", type=Path, metavar="PATH",
                             help="take pristine sglang from this wheel (default: the installed sglang if it "
                             "matches its RECORD, else pip download)")
        sub.set_defaults(func=handler)
        return sub

    command("pristine", _cmd_pristine, "write pristine sglang at DIR/sglang", wheel=True).add_argument(
        "--dest", type=Path, required=True, metavar="DIR")
    command("apply", _cmd_apply, "apply the series to a package tree, strictly").add_argument(
        "--tree", type=Path, required=True, metavar="DIR")
    sub = command("build", _cmd_build, "pristine sglang plus the series at DIR", wheel=True)
    sub.add_argument("--dest", type=Path, required=True, metavar="DIR")
    sub.add_argument("--if-changed", action="store_true", help="do nothing when DIR was built from this very series")
    command("check", _cmd_check, "lint the series, then apply it to a pristine tree", wheel=True).add_argument(
        "--tree-only", action="store_true", help="only lint the files; do not build and apply")
    sub = command("sync", _cmd_sync, "rewrite the shared files' sections from sglang_patch/memory_occupation")
    sub.add_argument("--add", action="append", metavar="FILE", help="a shared file no patch carries yet (repeatable)")
    sub.add_argument("--to", metavar="PATCH", help="the patch file (NNNN-name.patch) that is to carry the --add files")
    command("unpack", _cmd_unpack, "git repository at DIR with one commit per patch", wheel=True).add_argument(
        "--tree", type=Path, required=True, metavar="DIR")
    command("pack", _cmd_pack, "write the commits of an unpacked tree back into the patch files").add_argument(
        "--tree", type=Path, required=True, metavar="DIR")
    sub = commands.add_parser(
        "port", help="port a release's series onto another release (sglang_patch_dev/series_port.py)",
        description="Port patches/<from>/ onto pristine sglang <to> into patches/<to>/; report every hunk that "
        "did not port exactly. pydoc sglang_patch_dev.series_port explains the steps.")
    sub.add_argument("--from", dest="base", required=True, metavar="RELEASE", help="the release whose series is ported")
    sub.add_argument("--to", dest="target", required=True, metavar="RELEASE", help="the release to port it to")
    sub.add_argument("--take", action="append", metavar="NAME=RELEASE",
                     help="take runtime patch NAME's source patch from another release's series (repeatable)")
    sub.add_argument("--place", action="append", metavar="FILE=NAME",
                     help="carry shared FILE (relative to sglang_patch/memory_occupation) in runtime patch NAME's "
                     "patch, where its carrier in the base is dropped (repeatable)")
    sub.add_argument("--tree", type=Path, metavar="DIR", help="the work tree (default: build/port/<to>)")
    sub.add_argument("--fuzz", type=int, default=2, help="the fuzz GNU patch may use while porting (default 2)")
    sub.add_argument("--wheel", type=Path, metavar="PATH", help="the target's wheel (default: pip download)")
    sub.add_argument("--no-check", action="store_true", help="do not run `series check` on the result")
    sub.set_defaults(func=_cmd_port)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        return args.func(args)
    except SeriesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


if __name__ == "__main__":
    sys.exit(main())
