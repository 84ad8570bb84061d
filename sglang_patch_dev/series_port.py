"""Port one release's source series onto another release: the mechanical part of a new series.

    python -m sglang_patch_dev.series port --from 0.5.17 --to 0.5.23
    python -m sglang_patch_dev.series port --from 0.5.6 --to 0.5.12.post1 --take tokenizer_manager=0.5.17

The target's runtime set (``sglang_patch.versions``) says which patches its series has; each comes
from the base's series (``--from``), or from another release's (``--take NAME=RELEASE``, where the
target's set takes that patch class from a release other than its base's). In a git tree of the
target's pristine wheel (``--tree``, default build/port/<to>; one commit per patch, as ``unpack``
makes), each patch is ported file by file:

1. its hand-written sections are applied with GNU patch, offsets and fuzz allowed (``--fuzz``);
2. a file with a failed hunk is merged instead, three-way (``git merge-file``: the target's file,
   the source release's file before the patch and after it), when that merge is clean;
3. else, on a re-run, each hunk still failing is taken from the previous ``patches/<to>/``: the
   hunk of that file there whose changed lines are most like it, if it applies exactly (what was
   ported by hand before);
4. else the hunks that did not apply are left: the tree keeps what applied, the rejects go to
   ``<tree>/.port/rejects/``, the merge with conflict markers to ``<tree>/.port/merge/``, and the
   patch's header gets a ``Port-Left:`` line naming them, which ``series check`` refuses.

A patch whose source hunks are unchanged since the last port (the digest in its ``Ported-From``
line) and that has no ``Port-Left`` is kept as it is on a re-run: hand-ported hunks, hunks removed
on purpose and an edited description survive. The copies of ``sglang_patch/memory_occupation/``
are never ported: they are written afresh from the package into the patch that carries them in the
source (a new file goes with its nearest carried neighbour; ``--place FILE=NAME`` where its carrier
is dropped), so a port is never stale. Then every commit's diff is written into ``patches/<to>/``
(numbered in order, headers from the source with ``Applies-To: sglang==<to>`` and ``Ported-From``),
so each patch applies with no offset and no fuzz; the report names each patch and hunk that was not
ported exactly, and ``series check`` runs for the target, in a subprocess. Left hunks are ported by
hand in the tree (``git commit --fixup``, ``rebase --autosquash``), then
``SGLANG_SERIES_VERSION=<to> python -m sglang_patch_dev.series pack --tree <tree> --patches
patches/<to>``, and the ``Port-Left`` line is deleted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from sglang_patch_dev import series as S

PORT_MARKER = ".port/marker"
_HUNK_RESULT = re.compile(r"^Hunk #(?P<n>\d+) (?P<what>succeeded at \d+(?P<rest>.*)|FAILED at \d+)")
_HUNK_HEADER = re.compile(r"^@@ [^@]+ @@.*$", re.M)


@dataclass
class HunkNote:
    """One hunk of a source patch that did not go in exactly as written."""

    patch: str  # the target's patch file name
    path: str
    number: int  # the hunk's number within its file's section (as patch counts)
    header: str  # its @@ line
    how: str  # "offset N", "fuzz N", "merged 3-way", "kept from previous", "FAILED"


@dataclass
class PatchReport:
    name: str  # NNNN-<runtime name>.patch in the target's series
    source: str  # "patches/<release>/NNNN-name.patch" or "(none)"
    hunks: int = 0  # hand-written hunks in the source
    exact: int = 0
    notes: List[HunkNote] = field(default_factory=list)
    shared_written: List[str] = field(default_factory=list)
    shared_dropped: List[str] = field(default_factory=list)
    kept: bool = False  # the source's hunks had not changed since the last port: the previous patch was kept

    @property
    def failed(self) -> List[HunkNote]:
        return [n for n in self.notes if n.how == "FAILED"]


@dataclass
class PortReport:
    base: str
    target: str
    tree: Path
    patches: List[PatchReport] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)  # base patches the target's set has no source form for
    check_output: str = ""
    check_ok: Optional[bool] = None

    @property
    def failed(self) -> List[HunkNote]:
        return [n for p in self.patches for n in p.failed]

    def render(self) -> str:
        lines = [f"port {self.base} -> {self.target} (tree {self.tree})"]
        total = sum(p.hunks for p in self.patches)
        by_how: Dict[str, int] = {}
        for p in self.patches:
            for n in p.notes:
                key = n.how.split(" ")[0]
                by_how[key] = by_how.get(key, 0) + 1
        for p in self.patches:
            status = "ok" if not p.failed else f"{len(p.failed)} hunk(s) left"
            if p.kept:
                status += ", kept as ported before (its source's hunks are unchanged)"
            lines.append(f"  {p.name} <- {p.source}: {p.hunks} hunk(s), {p.exact} exact; {status}")
            for n in p.notes:
                lines.append(f"      {n.path} hunk #{n.number} {n.header[:90]}: {n.how}")
            for rel in p.shared_dropped:
                lines.append(f"      dropped shared copy {rel} (no such file in sglang_patch/memory_occupation)")
        for name in self.dropped:
            lines.append(f"  dropped {name}: the target's set has no source form of it")
        lines.append(
            f"  hunks: {total} in all; exact {sum(p.exact for p in self.patches)}, offset {by_how.get('offset', 0)}, "
            f"fuzz {by_how.get('fuzz', 0)}, merged 3-way {by_how.get('merged', 0)}, kept from the previous "
            f"series {by_how.get('kept', 0)}, left {len(self.failed)}")
        if self.failed:
            lines.append(
                f"  left for hand-porting: rejects in {self.tree}/.port/rejects/, 3-way conflicts in "
                f"{self.tree}/.port/merge/. Port them in {self.tree} (git commit --fixup=<patch's commit>, "
                f"git rebase -i --autosquash <pristine commit>), then: SGLANG_SERIES_VERSION={self.target} "
                f"{S.MODULE_CMD} pack --tree {self.tree} --patches patches/{self.target}")
        if self.check_ok is not None:
            lines.append(f"  series check: {'ok' if self.check_ok else 'FAILED'}")
            if not self.check_ok:
                lines.append("    " + self.check_output.strip().replace("\n", "\n    ")[-3000:])
        return "\n".join(lines)


# -- inputs ----------------------------------------------------------------------------------

def runtime_source_names(version: str) -> List[str]:
    """The runtime patches of ``version``'s set that have a source form, in the set's order."""
    from sglang_patch.versions import patch_set

    return [p.name for p in patch_set(version).PATCHES if p.has_source_patch]


def _name_of(file_name: str) -> Optional[str]:
    match = S._PATCH_FILE_NAME.match(file_name)
    return match.group("name") if match else None


def series_by_name(patches_dir: Path) -> Dict[str, str]:
    """Runtime patch name -> patch file name, for a series directory."""
    return {_name_of(n): n for n in S.read_series(patches_dir) if _name_of(n)}


def plan(base_names: Sequence[str], target_names: Sequence[str]) -> Tuple[List[str], List[str]]:
    """The target's patch names in series order (the base's order, then the rest in the set's order)
    and the base's names the target drops."""
    ordered = [n for n in base_names if n in target_names]
    ordered += [n for n in target_names if n not in ordered]
    return ordered, [n for n in base_names if n not in target_names]


def _pristine(version: str, dest: Path, cache_dir: Path, wheel: Optional[Path] = None) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    source = S.extract_wheel(wheel or S.download_wheel(cache_dir, version), dest, version)
    S.logger.info("pristine sglang %s from %s", version, source)


def _hand_sections(patch: S.PatchFile) -> List[S.Section]:
    return [s for s in patch.sections if not s.path.startswith(S.SHARED_TARGET + "/")]


def _shared_sections(patch: S.PatchFile) -> List[str]:
    return [s.path[len(S.SHARED_TARGET) + 1:] for s in patch.sections if s.path.startswith(S.SHARED_TARGET + "/")]


# -- applying one file's section -------------------------------------------------------------

def _run_patch(cwd: Path, text: str, fuzz: int, reject: Optional[Path], dry_run: bool = False) -> Tuple[int, str]:
    reject_args = ["--reject-file", str(reject)] if reject else ["--reject-file", os.devnull]
    command = [S._patch_binary(), "-p1", "--forward", "--batch", f"--fuzz={fuzz}", "--no-backup-if-mismatch",
               *reject_args, "-d", str(cwd)] + (["--dry-run"] if dry_run else [])
    proc = subprocess.run(command, input=text, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def _split_hunks(section_text: str) -> Tuple[str, List[str]]:
    """A file's section -> (its header lines, each hunk's text)."""
    lines = S._split_lines(section_text)
    starts = [i for i, line in enumerate(lines) if line.startswith("@@ ")]
    if not starts:
        return section_text, []
    bounds = starts + [len(lines)]
    return "".join(lines[:starts[0]]), ["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:])]


def _changed(hunk: str) -> List[str]:
    """A hunk's removed and added lines (its context left out)."""
    return [line for line in S._split_lines(hunk)[1:] if line.startswith(("+", "-"))]


def _most_like(hunk: str, candidates: List[str], at_least: float = 0.6) -> Optional[int]:
    """The candidate hunk whose changed lines are most like ``hunk``'s, if alike enough."""
    import difflib

    wanted = "".join(_changed(hunk))
    scores = [difflib.SequenceMatcher(None, wanted, "".join(_changed(c)), autojunk=False).ratio()
              for c in candidates]
    best = max(range(len(scores)), key=scores.__getitem__, default=None)
    return best if best is not None and scores[best] >= at_least else None


def _hunk_headers(section_text: str) -> List[str]:
    return _HUNK_HEADER.findall(section_text)


class _SourceStates:
    """A source release's file before and after one of its patches, for the 3-way merge."""

    def __init__(self, version: str, patches_dir: Path, cache_dir: Path, work: Path):
        self.version, self.patches_dir, self.cache_dir, self.work = version, patches_dir, cache_dir, work
        self._pristine: Optional[Path] = None

    def pristine(self) -> Path:
        if self._pristine is None:
            self._pristine = self.work / f"pristine-{self.version}"
            _pristine(self.version, self._pristine, self.cache_dir)
        return self._pristine

    def states(self, patch_file: str, path: str) -> Optional[Tuple[bytes, bytes]]:
        """``path`` with the source series' sections before ``patch_file`` applied, and after it."""
        original = self.pristine() / path
        if not original.is_file():
            return None
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            target = Path(tmp) / path
            target.parent.mkdir(parents=True)
            shutil.copyfile(original, target)
            before = None
            for name in S.read_series(self.patches_dir):
                section = S.PatchFile.read(self.patches_dir / name).section(path)
                if name == patch_file:
                    before = target.read_bytes()
                if section is not None:
                    code, _ = _run_patch(Path(tmp), section.text, 0, None)
                    if code != 0:
                        return None
                if name == patch_file:
                    return before, target.read_bytes()
        return None


def _merge3(current: bytes, base: bytes, other: bytes, work: Path) -> Tuple[bool, bytes]:
    """git merge-file: (clean?, result with conflict markers where not clean)."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        files = []
        for label, data in (("current", current), ("base", base), ("other", other)):
            path = Path(tmp) / label
            path.write_bytes(data)
            files.append(str(path))
        proc = subprocess.run(["git", "merge-file", "-p", "-L", "target", "-L", "source-before", "-L",
                               "source-after", *files], capture_output=True)
        return proc.returncode == 0, proc.stdout


def _port_section(tree: Path, report: PatchReport, section: S.Section, fuzz: int, source: Optional[_SourceStates],
                  source_patch: str, previous: Optional[S.Section], work: Path) -> None:
    headers = _hunk_headers(section.text)
    report.hunks += len(headers)
    path = section.path
    target = tree / path
    before = target.read_bytes() if target.is_file() else None
    reject = tree / ".port" / "rejects" / report.name / (path + ".rej")
    reject.parent.mkdir(parents=True, exist_ok=True)
    code, output = _run_patch(tree, section.text, fuzz, reject)
    results: Dict[int, str] = {}
    for line in output.splitlines():
        match = _HUNK_RESULT.match(line.strip())
        if not match:
            continue
        number = int(match.group("n"))
        if match.group("what").startswith("FAILED"):
            results[number] = "FAILED"
        else:
            rest = match.group("rest")
            fuzz_m, offset_m = re.search(r"fuzz (\d+)", rest), re.search(r"offset (-?\d+)", rest)
            results[number] = (f"fuzz {fuzz_m.group(1)}" if fuzz_m else "") or (
                f"offset {offset_m.group(1)}" if offset_m else "")
    if "Reversed (or previously applied)" in output or (code != 0 and not results):
        results = {i: "FAILED" for i in range(1, len(headers) + 1)}
        if before is not None:
            target.write_bytes(before)
    failed = sorted(n for n, how in results.items() if how == "FAILED")
    if not failed and reject.exists():
        reject.unlink()

    if failed and source is not None and before is not None:
        states = source.states(source_patch, path)
        if states is not None:
            clean, merged = _merge3(before, states[0], states[1], work)
            if clean:
                target.write_bytes(merged)
                results = {i: "merged 3-way" for i in range(1, len(headers) + 1)}
                failed = []
                reject.unlink(missing_ok=True)
            else:
                conflict = tree / ".port" / "merge" / report.name / path
                conflict.parent.mkdir(parents=True, exist_ok=True)
                conflict.write_bytes(merged)
    if failed and previous is not None:
        # A re-run: each hunk left is taken from the previous patches/<to>/ section of this file
        # (what was ported by hand): the hunk there whose changed lines are most like its own
        # (at least 60 % alike), if it applies exactly.
        source_hunks = _split_hunks(section.text)[1]
        previous_head, previous_hunks = _split_hunks(previous.text)
        used = set()
        for number in list(failed):
            match = _most_like(source_hunks[number - 1], previous_hunks)
            if match is None:
                continue
            if match not in used:
                code, output = _run_patch(tree, previous_head + previous_hunks[match], 0, None, dry_run=True)
                if code != 0 or S._NOT_EXACT.search(output):
                    continue
                _run_patch(tree, previous_head + previous_hunks[match], 0, None)
                used.add(match)
            results[number] = "kept from previous"
            failed.remove(number)
        if not failed:
            reject.unlink(missing_ok=True)
    for number, header in enumerate(headers, start=1):
        how = results.get(number, "")
        if how:
            report.notes.append(HunkNote(report.name, path, number, header, how))
        else:
            report.exact += 1


# -- shared files ----------------------------------------------------------------------------

def _place_new_shared(rel: str, carriers: Dict[str, str]) -> Optional[str]:
    """The patch to carry a shared file no source patch carries: that of its nearest carried
    neighbour (a module split into a package goes with the module: scheduler_side/x.py with
    scheduler_side.py), else None."""
    parts = rel.split("/")
    for depth in range(len(parts) - 1, 0, -1):
        prefix = "/".join(parts[:depth])
        for candidate in (prefix + ".py", prefix + "/__init__.py"):
            if candidate in carriers:
                return carriers[candidate]
        same_dir = sorted(c for c in carriers if c.startswith(prefix + "/"))
        if same_dir:
            return carriers[same_dir[0]]
    return None


# -- the port --------------------------------------------------------------------------------

def hand_digest(patch: S.PatchFile) -> str:
    """What identifies a source patch's hand-written hunks (its shared copies are written afresh anyway)."""
    import hashlib

    return hashlib.sha256("".join(s.text for s in _hand_sections(patch)).encode()).hexdigest()[:12]


_PORTED_FROM = re.compile(r"^Ported-From: sglang==(?P<release>\S+) \(patches/\S+/(?P<file>\S+?), hunks (?P<digest>[0-9a-f]+)")


def ported_from(patch: S.PatchFile) -> Optional[Tuple[str, str, str]]:
    """(release, patch file, digest of its hunks) a ported patch was made from, if it says."""
    for line in patch.header.split("\n"):
        match = _PORTED_FROM.match(line)
        if match:
            return match.group("release"), match.group("file"), match.group("digest")
    return None


def _keep_previous(tree: Path, old: S.PatchFile) -> bool:
    """Apply a previous port's hand-written sections exactly; undo and say False when one does not apply."""
    for section in _hand_sections(old):
        code, output = _run_patch(tree, section.text, 0, None)
        if code != 0 or S._NOT_EXACT.search(output):
            S._git(tree, "reset", "--quiet", "--hard", "HEAD")
            S._git(tree, "clean", "-fdq", "--", "sglang")
            return False
    return True


def _rewrite_header(header: str, source_version: str, target: str, source_file: str, digest: str = "") -> str:
    lines = S._split_lines(header)
    out = []
    word = re.compile(r"(?<![\w.])" + re.escape(source_version) + r"(?![\w]|\.\d)")
    for line in lines:
        if line.startswith("Applies-To:"):
            line = f"Applies-To: sglang=={target}\n"
        elif line.startswith(("Ported-From:", "Port-Left:")):
            continue
        elif line.strip() == "---":
            out.append(f"Ported-From: sglang=={source_version} (patches/{source_version}/{source_file}, hunks "
                       f"{digest}; {S.MODULE_CMD} port)\n")
        elif not line.startswith(("Origin:", "Upstream:")):
            line = word.sub(target, line)
        out.append(line)
    return "".join(out)


def _commit_package(tree: Path, subject: str) -> None:
    """Commit the package only: the port's rejects and merges under .port/ stay out of every patch."""
    S._git(tree, "add", "--all", "--force", "--", "sglang")
    S._git(tree, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", subject)


def _prepare_tree(tree: Path) -> None:
    if tree.exists() and any(tree.iterdir()):
        if not (tree / PORT_MARKER).is_file():
            raise S.SeriesError(f"{tree} exists and was not made by `port` (no {PORT_MARKER}); pick another --tree "
                                f"or remove it yourself")
        shutil.rmtree(tree)
    tree.mkdir(parents=True, exist_ok=True)


def port(
    base: str,
    target: str,
    takes: Optional[Dict[str, str]] = None,
    tree: Optional[Path] = None,
    patches_root: Path = S.REPO_ROOT / "patches",
    shared_root: Path = S.DEFAULT_SHARED_ROOT,
    cache_dir: Path = S.DEFAULT_CACHE_DIR,
    fuzz: int = 2,
    target_names: Optional[Sequence[str]] = None,
    target_wheel: Optional[Path] = None,
    run_check: bool = True,
    places: Optional[Dict[str, str]] = None,
) -> PortReport:
    """Port ``patches/<base>/`` (and ``takes``: runtime name -> release) to ``patches/<target>/``.

    ``places``: shared file (relative to the shared root) -> runtime patch name that is to carry it,
    for a file whose carrier the target drops and that has no carried neighbour."""
    takes = dict(takes or {})
    patches_root = Path(patches_root)
    tree = Path(tree or S.REPO_ROOT / "build" / "port" / target).resolve()
    out_dir = patches_root / target
    sources = {r: patches_root / r for r in {base, *takes.values()}}
    for release, directory in sources.items():
        if not (directory / "series").is_file():
            raise S.SeriesError(f"patches/{release}/series does not exist: port from a release that has a series")
    names = list(target_names) if target_names is not None else runtime_source_names(target)
    base_files = series_by_name(sources[base])
    ordered, dropped = plan(list(base_files), names)
    previous = {}
    if (out_dir / "series").is_file():  # a re-run: keep what was ported by hand where the source still fails
        previous = {n: S.PatchFile.read(out_dir / f) for n, f in series_by_name(out_dir).items()
                    if (out_dir / f).is_file()}
    report = PortReport(base, target, tree, dropped=[base_files[n] for n in dropped])

    _prepare_tree(tree)
    _pristine(target, tree, cache_dir, target_wheel)
    S._git(tree, "init", "--quiet", "--initial-branch=series")
    (tree / ".port").mkdir()
    (tree / PORT_MARKER).write_text(f"port {base} -> {target}\n")
    (tree / ".git" / "info").mkdir(parents=True, exist_ok=True)
    with open(tree / ".git" / "info" / "exclude", "a") as exclude:
        exclude.write("/.port/\n")
    _commit_package(tree, f"pristine sglang {target}")

    files = S.shared_files(shared_root)
    work = Path(tempfile.mkdtemp(prefix="sglang-series-port-"))
    try:
        states = {r: _SourceStates(r, d, cache_dir, work) for r, d in sources.items()}
        # Which patch carries each shared file: as in the source, new files by their neighbours.
        chosen: List[Tuple[str, str, Optional[S.PatchFile], str]] = []  # (name, file name, source patch, release)
        carriers: Dict[str, str] = {}
        for position, name in enumerate(ordered, start=1):
            release = takes.get(name, base)
            source_name = series_by_name(sources[release]).get(name)
            source_patch = S.PatchFile.read(sources[release] / source_name) if source_name else None
            file_name = f"{position:04d}-{name}.patch"
            chosen.append((name, file_name, source_patch, release))
            for rel in _shared_sections(source_patch) if source_patch else ():
                carriers.setdefault(rel, file_name)
        by_runtime_name = {name: file_name for name, file_name, _, _ in chosen}
        carried_by_dropped = {}  # shared file -> the base's patch that carried it, which the target drops
        for name in dropped:
            for rel in _shared_sections(S.PatchFile.read(sources[base] / base_files[name])):
                carried_by_dropped.setdefault(rel, f"{base_files[name]} of patches/{base}/ (not in this series)")
        placed = dict(carriers)
        for rel, name in (places or {}).items():
            if rel not in files or name not in by_runtime_name:
                raise S.SeriesError(f"--place {rel}={name}: {rel} is no file of {S._show(shared_root)}"
                                    if rel not in files else
                                    f"--place {rel}={name}: the target's series has no patch {name} "
                                    f"(it has: {', '.join(by_runtime_name)})")
            placed[rel] = by_runtime_name[name]
        unplaced = []
        for rel in files:
            if rel not in placed:
                home = _place_new_shared(rel, carriers)
                if home:
                    placed[rel] = home
                else:
                    unplaced.append(rel)
        if unplaced:
            raise S.SeriesError(
                f"shared file(s) {', '.join(unplaced)} are carried by no patch the target keeps and have no "
                f"carried neighbour to go with: name the patch for each with --place FILE=<runtime patch name> "
                f"(e.g. --place {unplaced[0]}=engine)")

        headers: Dict[str, str] = {}
        for name, file_name, source_patch, release in chosen:
            source_name = series_by_name(sources[release]).get(name)
            patch_report = PatchReport(file_name, f"patches/{release}/{source_name}" if source_name else "(none)")
            report.patches.append(patch_report)
            if source_patch is None:
                headers[file_name] = (
                    f"Description: TODO: the source form of runtime patch {name}\nRuntime-Patch: {name}\n"
                    f"Applies-To: sglang=={target}\nUpstream: TODO\n---\n")
            else:
                digest = hand_digest(source_patch)
                headers[file_name] = _rewrite_header(source_patch.header, release, target, source_name, digest)
                old = previous.get(name)
                if (old is not None and ported_from(old) == (release, source_name, digest)
                        and "port-left" not in old.fields() and _keep_previous(tree, old)):
                    # Nothing to port: the hand-ported hunks, any dropped on purpose, and the header
                    # (hand-edited descriptions included) stay as they were.
                    headers[file_name] = old.header
                    patch_report.kept = True
                    patch_report.hunks = patch_report.exact = sum(len(_hunk_headers(s.text))
                                                                  for s in _hand_sections(source_patch))
                for section in _hand_sections(source_patch) if not patch_report.kept else ():
                    _port_section(tree, patch_report, section, fuzz, states[release], source_name,
                                  old.section(section.path) if old else None, work)
                patch_report.shared_dropped = [rel for rel in _shared_sections(source_patch) if rel not in files]
            moved = [rel for rel, home in placed.items() if home == file_name and carriers.get(rel) != file_name
                     and f" Also adds {S.shared_target(rel)}," not in headers[file_name]]  # a kept header has it
            if moved:  # its carrier in the source is not in this series: say so in the description
                note = "".join(f" Also adds {S.shared_target(rel)}, which "
                               f"{carried_by_dropped.get(rel, 'no patch of the source')} carried.\n" for rel in moved)
                at = headers[file_name].find("\nRuntime-Patch:")
                headers[file_name] = headers[file_name][:at + 1] + note + headers[file_name][at + 1:]
            for rel, home in placed.items():
                if home == file_name:
                    destination = tree / S.shared_target(rel)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(files[rel], destination)
                    patch_report.shared_written.append(rel)
            _commit_package(tree, file_name)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for patch_report in report.patches:  # what is left is named in the header until it is ported
        if patch_report.failed:
            left = "; ".join(f"{n.path} hunk #{n.number}" for n in patch_report.failed)
            header = headers[patch_report.name]
            at = header.rfind("---\n")
            headers[patch_report.name] = header[:at] + f"Port-Left: {left}\n" + header[at:]
    _write_series(tree, out_dir, ordered, headers, base, target, takes, report)
    if run_check:
        report.check_ok, report.check_output = check_in_subprocess(target, out_dir, target_wheel or S.download_wheel(
            cache_dir, target))
    return report


def _write_series(tree: Path, out_dir: Path, ordered: List[str], headers: Dict[str, str], base: str, target: str,
                  takes: Dict[str, str], report: PortReport) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = set(headers)
    for stale in out_dir.glob("*.patch"):
        if stale.name not in keep:
            stale.unlink()
    base_series = S._read_text(out_dir.parent / base / "series")
    comments = [line for line in base_series.split("\n") if line.startswith("#") and not line.startswith(
        ("# Ported from", "# hunks that did not port", "# Not here from"))]
    word = re.compile(r"(?<![\w.])" + re.escape(base) + r"(?![\w]|\.\d)")
    taken = "".join(f", {name} from patches/{release}/" for name, release in sorted(takes.items()))
    text = "\n".join(word.sub(target, line) for line in comments)
    if report.dropped:
        text += (f"\n# Not here from patches/{base}/: {', '.join(report.dropped)} (the release's set has no "
                 f"source form of it).")
    text += (f"\n# Ported from patches/{base}/{taken} with `{S.MODULE_CMD} port --from {base} --to {target}"
             + "".join(f" --take {n}={r}" for n, r in sorted(takes.items())) + "`;\n"
             "# hunks that did not port are ported by hand (docs/source-patches.md).\n\n")
    text += "".join(f"{name}\n" for name in headers)
    S._write_text(out_dir / "series", text)
    commits = S._git(tree, "log", "--reverse", "--format=%H %P", "HEAD").split("\n")
    for line, file_name in zip([c for c in commits if c][1:], headers):
        sha, parent = line.split()[:2]
        diff = S._git(tree, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--full-index",
                      "--src-prefix=a/", "--dst-prefix=b/", "--unified=3", "--diff-algorithm=myers", parent, sha)
        S._write_text(out_dir / file_name, headers[file_name] + diff)


def check_in_subprocess(target: str, patches_dir: Path, wheel: Path) -> Tuple[bool, str]:
    """``series check`` for the target release, as a user runs it (the module reads its release once)."""
    env = dict(os.environ, SGLANG_SERIES_VERSION=target)
    proc = subprocess.run([sys.executable, "-m", "sglang_patch_dev.series", "check", "--patches", str(patches_dir),
                           "--wheel", str(wheel)], cwd=S.REPO_ROOT, env=env, capture_output=True, text=True)
    return proc.returncode == 0, proc.stdout + proc.stderr


def parse_pairs(values: Sequence[str], option: str, example: str) -> Dict[str, str]:
    """``KEY=VALUE`` arguments of a repeatable option, as a dict."""
    pairs = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key or not item:
            raise S.SeriesError(f"{option} {value}: write it as {example}")
        pairs[key] = item
    return pairs
