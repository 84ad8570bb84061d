"""Every SGLang release in the supported ranges, checked in seconds without a server::

    python -m sglang_patch_dev.range_check                                  # every release in the ranges
    python -m sglang_patch_dev.range_check --releases pinned                # the version table's (CI)
    python -m sglang_patch_dev.range_check --releases 0.5.7,0.5.8 --out docs/range-check.md

A release inside a range that nobody ran gets the set of the release that serves it
(``sglang_patch.versions``). This says, for each release PyPI has in the ranges, whether that set's
wiring still finds what it expects there. The release's pristine wheel (``pip download --no-deps``,
cached in build/cache, checked against its RECORD) is read, never imported (SGLang needs torch and
CUDA), and every name the set relies on is looked up in its source with ``ast``:

- each patch's ``targets``: the module, then the class, function, method or module-level name;
  a method a class inherits from a base class in SGLang counts (0.4.10's Scheduler mixins), a
  module-level name bound by an import counts, an attribute of a runtime object (``app.router``)
  is not followed. A target the patch ``adds`` needs only its owner. A class whose dataclass
  attributes (``_core.DATACLASS_ATTRS``) are targets is widened in place: it must be a dataclass.
- each patch's ``shapes`` (``sglang_patch._core.Shape``): the parameters, fields and routes the
  wiring relies on beyond existence, declared next to the patch.

A new patch's targets are checked with no line here. Then the source series
(``sglang_patch_dev.series``): a release's own ``patches/<version>/`` must apply to the pristine
tree with no offset and no fuzz; a release without one is tried, for information, with the series
of the release that serves it, else the nearest one (clean, fuzz: applies only with offset or fuzz,
fails: does not apply). Exit status 1 when a target is missing or an own series does not apply
cleanly.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from packaging.version import Version

from sglang_patch._core import DATACLASS_ATTRS, Shape
from sglang_patch.versions import RELEASES, Release, serving_release
from sglang_patch_dev import series

REPO_ROOT = Path(__file__).resolve().parents[1]
PATCHES_ROOT = REPO_ROOT / "patches"
DEFAULT_OUT = Path("docs") / "range-check.md"
PYPI_JSON = "https://pypi.org/pypi/sglang/json"
MODULE_CMD = "python -m sglang_patch_dev.range_check"
# Calls that register an HTTP route with its path as the first argument (FastAPI's app and routers).
ROUTE_CALLS = {"api_route", "add_api_route", "route", "get", "post", "put", "delete", "patch"}


# -- the releases ----------------------------------------------------------------------------

def pinned_releases() -> List[str]:
    """The version table's releases: each runs in CI (.ci/run refuses a table it does not cover)."""
    return [r.version for r in RELEASES]


def pypi_releases() -> List[str]:
    """Every sglang release on PyPI with a wheel not yanked (one request to PyPI's JSON API)."""
    with urllib.request.urlopen(PYPI_JSON, timeout=60) as reply:
        releases = json.load(reply)["releases"]
    return [v for v, files in releases.items()
            if any(f["packagetype"] == "bdist_wheel" and not f.get("yanked") for f in files)]


def in_ranges(versions: Iterable[str]) -> List[str]:
    """The releases some patch set serves, and every tested one, oldest first."""
    chosen = {v for v in versions if serving_release(v) is not None} | set(pinned_releases())
    return sorted(chosen, key=Version)


def chosen_releases(spec: str) -> List[str]:
    """``all`` (PyPI's releases in the ranges), ``pinned`` (the table's) or ``V,V,...``."""
    if spec == "all":
        try:
            return in_ranges(pypi_releases())
        except (OSError, ValueError, KeyError) as e:
            raise SystemExit(f"{MODULE_CMD}: could not list sglang's releases on PyPI ({PYPI_JSON}: {e}); "
                             f"name them instead (--releases pinned, or --releases V,V,...)") from None
    if spec == "pinned":
        return pinned_releases()
    versions = [v.strip() for v in spec.split(",") if v.strip()]
    outside = [v for v in versions if serving_release(v) is None]
    if outside:
        ranges = "; ".join(r.spec for r in RELEASES)
        raise SystemExit(f"{MODULE_CMD}: {', '.join(outside)} is in no supported range ({ranges})")
    return versions


# -- the source of one release, read as text -------------------------------------------------

class Source:
    """The sglang package of one release, never imported: a wheel, or a directory holding sglang/."""

    def __init__(self, where: str, wheel: Optional[Path] = None, root: Optional[Path] = None):
        self.where = where
        self._root = root
        self._zip = zipfile.ZipFile(wheel) if wheel else None
        self._names = set(self._zip.namelist()) if self._zip else set()
        self._dirs = {n[: i + 1] for n in self._names for i, c in enumerate(n) if c == "/"}

    @classmethod
    def wheel(cls, path: Path) -> "Source":
        return cls(f"wheel {path.name}", wheel=path)

    @classmethod
    def directory(cls, root: Path) -> "Source":
        """A tree holding ``sglang/`` (site-packages, or a test's own)."""
        return cls(f"tree {root}", root=Path(root))

    @classmethod
    def installed(cls) -> "Source":
        """The installed sglang's site directory, found from its metadata (nothing is imported)."""
        return cls.directory(Path(importlib.metadata.distribution("sglang").locate_file("")))

    @property
    def root(self) -> Path:
        """The directory holding ``sglang/`` (a tree's; a wheel has none)."""
        if self._root is None:
            raise ValueError(f"{self.where} is not a directory")
        return self._root

    def read(self, rel: str) -> Optional[str]:
        if self._zip is not None:
            return self._zip.read(rel).decode("utf-8") if rel in self._names else None
        path = self._root / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def is_dir(self, rel: str) -> bool:
        return rel + "/" in self._dirs if self._zip is not None else (self._root / rel).is_dir()


# -- static lookup ---------------------------------------------------------------------------

@dataclass
class Module:
    name: str
    is_package: bool
    tree: ast.Module
    # Every module-level statement that binds a name, in source order (inside if/try/with too).
    bindings: Dict[str, List[Tuple[ast.AST, Optional[ast.alias]]]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """Its file, relative to the directory holding ``sglang/``."""
        return self.name.replace(".", "/") + ("/__init__.py" if self.is_package else ".py")


@dataclass
class Found:
    """What a dotted name is in the source: ``module``, ``class``, ``function``, ``value`` (an
    assignment, whose attributes are not followed) or ``external`` (imported from outside sglang)."""

    kind: str
    node: Optional[ast.AST]
    module: Optional[Module]  # where it is defined (the module itself for a module)
    name: str


def _assigned_names(target: ast.AST) -> List[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _assigned_names(elt)]
    return []


def _collect(body: Sequence[ast.stmt], out: Dict[str, list]) -> None:
    """Module-level bindings of ``body`` into ``out``, descending into if/try/with blocks."""
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.setdefault(stmt.name, []).append((stmt, None))
        elif isinstance(stmt, ast.Assign):
            for name in (n for t in stmt.targets for n in _assigned_names(t)):
                out.setdefault(name, []).append((stmt, None))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            out.setdefault(stmt.target.id, []).append((stmt, None))
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                out.setdefault(alias.asname or alias.name.split(".")[0], []).append((stmt, alias))
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                out.setdefault(alias.asname or alias.name, []).append((stmt, alias))
        elif isinstance(stmt, ast.If):
            _collect(stmt.body, out)
            _collect(stmt.orelse, out)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            for block in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody):
                _collect(block, out)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            _collect(stmt.body, out)


def _class_members(node: ast.ClassDef) -> Dict[str, ast.AST]:
    """What a class body defines itself, by name."""
    out: Dict[str, ast.AST] = {}

    def walk(body):
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out[stmt.name] = stmt
            elif isinstance(stmt, ast.Assign):
                out.update({n: stmt for t in stmt.targets for n in _assigned_names(t)})
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                out[stmt.target.id] = stmt
            elif isinstance(stmt, ast.If):
                walk(stmt.body)
                walk(stmt.orelse)

    walk(node.body)
    return out


def _decorator_names(node: ast.AST) -> List[str]:
    """``@dataclass``, ``@dataclasses.dataclass(...)``, ``@staticmethod`` -> their last names."""
    names = []
    for deco in getattr(node, "decorator_list", []):
        deco = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(deco, ast.Attribute):
            names.append(deco.attr)
        elif isinstance(deco, ast.Name):
            names.append(deco.id)
    return names


class Reader:
    """Looks dotted names up in a Source as ``sglang_patch._core.resolve`` finds them at runtime."""

    def __init__(self, source: Source):
        self.source = source
        self._modules: Dict[str, Optional[Module]] = {}

    def module(self, dotted: str) -> Optional[Module]:
        if dotted not in self._modules:
            rel = dotted.replace(".", "/")
            text, is_package = self.source.read(rel + ".py"), False
            if text is None:
                text, is_package = self.source.read(rel + "/__init__.py"), True
            if text is None and self.source.is_dir(rel) and dotted.startswith("sglang"):
                text = ""  # a namespace package
            module = None
            if text is not None:
                module = Module(dotted, is_package, ast.parse(text))
                _collect(module.tree.body, module.bindings)
            self._modules[dotted] = module
        return self._modules[dotted]

    def resolve(self, dotted: str) -> Tuple[Optional[Found], str]:
        """(what ``dotted`` is, "") or (None, why it is not there)."""
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            module = self.module(".".join(parts[:cut]))
            if module is not None:
                break
        else:
            return None, f"no module {parts[0]}"
        found = Found("module", module, module, module.name)
        for name in parts[cut:]:
            if found.kind in ("value", "external"):
                return found, ""  # an attribute of a runtime object: not followed
            member = self.member(found, name)
            if member is None:
                return None, self._absent(found, name)
            found = member
        return found, ""

    def _absent(self, owner: Found, name: str) -> str:
        if owner.kind == "class":
            bases = [b.name for b in self.bases(owner)]
            where = f"class {owner.name}" + (f" (or its bases {', '.join(bases)})" if bases else "")
            return f"{where} has no {name}"
        return f"{owner.kind} {owner.name} has no {name}"

    def member(self, owner: Found, name: str, depth: int = 0) -> Optional[Found]:
        if depth > 12:
            return None
        if owner.kind == "module":
            return self._module_member(owner.module, name, depth)
        if owner.kind == "class":
            node = _class_members(owner.node).get(name)
            if node is not None:
                return self._found(node, owner.module, f"{owner.name}.{name}")
            for base in self.bases(owner):
                found = self.member(base, name, depth + 1)
                if found is not None:
                    return found
        return None

    def bases(self, cls: Found) -> List[Found]:
        """The base classes of ``cls`` that are classes in sglang's source."""
        out = []
        for expr in cls.node.bases:
            found = self.expression(cls.module, expr)
            if found is not None and found.kind == "class":
                out.append(found)
        return out

    def expression(self, module: Module, expr: ast.AST) -> Optional[Found]:
        """A base-class expression (``Name``, ``pkg.Name``, ``Name[T]``) in ``module``."""
        if isinstance(expr, ast.Subscript):
            return self.expression(module, expr.value)
        if isinstance(expr, ast.Name):
            return self._module_member(module, expr.id, 1)
        if isinstance(expr, ast.Attribute):
            owner = self.expression(module, expr.value)
            return self.member(owner, expr.attr, 1) if owner is not None else None
        return None

    def _found(self, node: ast.AST, module: Module, name: str) -> Found:
        if isinstance(node, ast.ClassDef):
            return Found("class", node, module, name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return Found("function", node, module, name)
        return Found("value", node, module, name)

    def _module_member(self, module: Module, name: str, depth: int) -> Optional[Found]:
        bindings = module.bindings.get(name, [])
        # A def, a class or an import wins over a plain assignment (``except ImportError: X = None``).
        ranked = [b for b in bindings if not isinstance(b[0], (ast.Assign, ast.AnnAssign))] or bindings
        if ranked:
            node, alias = ranked[-1]
            if alias is None:
                return self._found(node, module, f"{module.name}.{name}")
            return self._imported(module, node, alias, depth)
        if module.is_package:  # a submodule is an attribute of its package once imported
            sub = self.module(f"{module.name}.{name}")
            if sub is not None:
                return Found("module", sub, sub, sub.name)
        return None

    def _imported(self, module: Module, node: ast.AST, alias: ast.alias, depth: int) -> Optional[Found]:
        if isinstance(node, ast.Import):
            target = alias.name if alias.asname else alias.name.split(".")[0]
            found = self.module(target)
            return Found("module", found, found, target) if found else Found("external", None, None, target)
        base = node.module or ""
        if node.level:  # relative: from the module's package, level - 1 packages up
            package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([node.module] if node.module else []))
        source = self.module(base)
        if source is None:
            return Found("external", None, None, f"{base}.{alias.name}")
        found = self.member(Found("module", source, source, base), alias.name, depth + 1)
        if found is None:
            sub = self.module(f"{base}.{alias.name}")
            found = Found("module", sub, sub, sub.name) if sub else None
        return found

    def is_dataclass(self, cls: Found) -> bool:
        return "dataclass" in _decorator_names(cls.node) or any(self.is_dataclass(b) for b in self.bases(cls))

    def fields(self, cls: Found) -> List[str]:
        """Annotated names of the class body and its bases (dataclass and msgspec fields)."""
        own = [s.target.id for s in cls.node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        return own + [f for b in self.bases(cls) for f in self.fields(b)]


# -- what a patch set expects ----------------------------------------------------------------

@dataclass
class Expectation:
    patch: str
    name: str  # dotted
    adds: bool = False
    dataclass: bool = False  # the patch widens it: its dataclass attributes are targets
    shape: Optional[Shape] = None


def expectations(patches) -> List[Expectation]:
    """What a patch set relies on, from its patches' declarations: targets, adds and shapes."""
    out: Dict[Tuple[str, str], Expectation] = {}
    for patch in patches:
        shapes = patch.shapes
        for target in patch.targets:
            owner, _, attr = target.rpartition(".")
            if attr in DATACLASS_ATTRS and owner + ".__dataclass_fields__" in patch.targets:
                out.setdefault((patch.name, owner), Expectation(patch.name, owner, dataclass=True))
            else:
                out[(patch.name, target)] = Expectation(patch.name, target, adds=target in patch.adds,
                                                        shape=shapes.get(target))
        for name, shape in shapes.items():  # a target's shape, or a name the wiring reads
            out.setdefault((patch.name, name), Expectation(patch.name, name)).shape = shape
    return list(out.values())


def check_expectation(reader: Reader, exp: Expectation) -> Optional[str]:
    """None when the source has what ``exp`` expects, else why not."""
    if exp.adds:
        owner, _, _ = exp.name.rpartition(".")
        found, why = reader.resolve(owner)
        return None if found is not None else f"the owner of the name it adds is missing: {why}"
    found, why = reader.resolve(exp.name)
    if found is None:
        return why
    if exp.dataclass:
        if found.kind != "class":
            return f"{found.name} is a {found.kind}, not a class"
        if not reader.is_dataclass(found):
            return f"{found.name} is not a dataclass (the patch widens a dataclass in place)"
    shape = exp.shape
    if shape is None:
        return None
    problems = []
    if shape.params or shape.static:
        if found.kind != "function":
            return f"{found.name} is a {found.kind}, not a def: its parameters cannot be read"
        args = found.node.args
        names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
        lacking = [p for p in shape.params if p not in names]
        if lacking:
            problems.append(f"{found.name}({', '.join(names)}) takes no {', '.join(lacking)}")
        if shape.static and "staticmethod" not in _decorator_names(found.node):
            problems.append(f"{found.name} is not a staticmethod")
    if shape.fields:
        if found.kind != "class":
            return f"{found.name} is a {found.kind}, not a class: its fields cannot be read"
        have = reader.fields(found)
        lacking = [f for f in shape.fields if f not in have]
        if lacking:
            problems.append(f"{found.name} has no field {', '.join(lacking)}")
    if shape.routes:
        registered = _routes(found.module.tree) if found.module else set()
        lacking = [r for r in shape.routes if r not in registered]
        if lacking:
            problems.append(f"{found.module.name if found.module else exp.name} registers no route {', '.join(lacking)}")
    return "; ".join(problems) or None


def _routes(tree: ast.Module) -> set:
    """The paths a module registers: ``@app.api_route("/path", ...)``, ``app.add_api_route("/path", ...)``."""
    return {
        node.args[0].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ROUTE_CALLS
        and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
    }


@dataclass
class Missing:
    patch: str
    name: str
    why: str


def check_targets(source: Source, patches) -> Tuple[int, List[Missing]]:
    """(how many names were checked, the ones missing or of another shape)."""
    reader = Reader(source)
    checks = expectations(patches)
    missing = []
    for exp in checks:
        why = check_expectation(reader, exp)
        if why is not None:
            missing.append(Missing(exp.patch, exp.name, why))
    return len(checks), missing


# -- the source series -----------------------------------------------------------------------

def series_versions() -> List[str]:
    return sorted((d.name for d in PATCHES_ROOT.iterdir() if (d / "series").is_file()), key=Version)


def series_for(version: str) -> Tuple[Optional[str], bool]:
    """(the release whose series to apply, whether it is the release's own): its own, else that of
    the release serving it, else the nearest (same major.minor first, then micro, then post)."""
    available = series_versions()
    if version in available:
        return version, True
    serving = serving_release(version)
    if serving is not None and serving.version in available:
        return serving.version, False
    if not available:
        return None, False

    def distance(other: str):
        a, b = Version(version), Version(other)
        ra, rb = (a.release + (0, 0, 0))[:3], (b.release + (0, 0, 0))[:3]
        return (tuple(abs(x - y) for x, y in zip(ra, rb)), abs((a.post or 0) - (b.post or 0)), b > a)

    return min(available, key=distance), False


_INEXACT = re.compile(r"offset -?\d+ lines?|fuzz \d+")


def _lenient(tree: Path, patch_file: Path) -> Optional[str]:
    """Apply ``patch_file`` allowing offsets and fuzz; what it took ("offset", "fuzz 2"), None if it fails."""
    command = [series._patch_binary(), "-p1", "--forward", "--batch", "--no-backup-if-mismatch",
               "-d", str(tree), "-i", str(patch_file)]
    for dry_run in (True, False):
        proc = subprocess.run(command + (["--dry-run"] if dry_run else []), capture_output=True, text=True)
        if proc.returncode != 0:
            return None
    took = sorted({m.split(" ")[0] if m.startswith("offset") else m for m in _INEXACT.findall(proc.stdout)})
    return ", ".join(took) or "not exact"


@dataclass
class SeriesOutcome:
    of: Optional[str]  # the release whose series was applied (None: no series at all)
    own: bool
    inexact: List[str] = field(default_factory=list)  # "NNNN-name (offset)"
    failed: List[str] = field(default_factory=list)
    error: str = ""

    @property
    def status(self) -> str:
        if self.of is None:
            return "none"
        if self.failed or self.error:
            return "fails"
        return "fuzz" if self.inexact else "clean"

    def render(self) -> str:
        if self.of is None:
            return "none"
        what = self.status
        if self.failed:
            what += ": " + ", ".join(self.failed)
        elif self.inexact:
            what += ": " + ", ".join(self.inexact)
        if self.error:
            what += f" ({self.error})"
        return what if self.own else f"none; {self.of}'s {what}"


def apply_leniently_where_needed(tree: Path, patches_dir: Path, outcome: SeriesOutcome) -> None:
    """Each patch of the series, strictly (``series.apply_patch``); one that does not apply exactly is
    tried with offsets and fuzz and, when it does not apply at all, left out and the rest tried."""
    for name in series.read_series(patches_dir):
        try:
            series.apply_patch(tree, patches_dir / name)
        except series.PatchFailed:
            took = _lenient(tree, patches_dir / name)
            stem = name[:-len(".patch")] if name.endswith(".patch") else name
            if took is None:
                outcome.failed.append(stem)
            else:
                outcome.inexact.append(f"{stem} ({took})")


def check_series(version: str, wheel: Path) -> SeriesOutcome:
    of, own = series_for(version)
    outcome = SeriesOutcome(of, own)
    if of is None:
        return outcome
    with tempfile.TemporaryDirectory(prefix="sglang-range-check-") as tmp:
        try:
            series.extract_wheel(wheel, Path(tmp), version=version)
            apply_leniently_where_needed(Path(tmp), PATCHES_ROOT / of, outcome)
        except series.SeriesError as e:
            outcome.error = str(e).splitlines()[0]
    return outcome


# -- one release, the table ------------------------------------------------------------------

@dataclass
class Result:
    version: str
    release: Release  # the tested release whose set serves it
    checked: int
    missing: List[Missing]
    series: SeriesOutcome

    @property
    def in_ci(self) -> bool:
        return self.version in pinned_releases()

    @property
    def failed(self) -> bool:
        """A missing target, or the release's own series not applying exactly."""
        return bool(self.missing) or (self.series.own and self.series.status != "clean")

    def targets_cell(self) -> str:
        if not self.missing:
            return f"ok ({self.checked})"
        names = sorted({m.name.removeprefix("sglang.srt.") for m in self.missing})
        return f"{len(self.missing)} of {self.checked} missing: " + ", ".join(f"`{n}`" for n in names)


def check_release(version: str, source: Source, wheel: Optional[Path] = None) -> Result:
    release = serving_release(version)
    patches = importlib.import_module(release.patch_set).PATCHES
    checked, missing = check_targets(source, patches)
    outcome = check_series(version, wheel) if wheel is not None else SeriesOutcome(None, False)
    return Result(version, release, checked, missing, outcome)


HEADER = ("release", "range", "set", "CI", "targets", "series")


def rows(results: Sequence[Result]) -> List[Tuple[str, ...]]:
    return [(r.version, r.release.spec, r.release.version, "yes" if r.in_ci else "no", r.targets_cell(),
             r.series.render()) for r in results]


def markdown(results: Sequence[Result], command: str, date: str) -> str:
    lines = [
        "# The supported range, checked statically",
        "",
        f"{date}: `{command}` ({len(results)} releases, each read from its pristine wheel without importing",
        "it; sglang_patch_dev/range_check.py says how). *set*: the tested release whose patch set serves",
        "the release. *CI*: the release runs in CI (.ci/run). *targets*: how many names the set relies",
        "on (its patches' targets and shapes) were found with the shape its wiring expects, or which are",
        "missing. *series*: the release's own source series applies *clean* (no offset, no fuzz), with",
        "*fuzz* (offsets or fuzz), or *fails* (the patches that do not apply); *none; V's ...*: the",
        "release has none, and that is how the series of V (the release serving it, else the nearest)",
        "applies to it, for information.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    lines += ["", "## What is missing, and why", ""]
    details = [f"- {r.version}, `{m.patch}`: `{m.name}`: {m.why}" for r in results for m in r.missing]
    details += [f"- {r.version}: its own series {r.series.render()}" for r in results
                if r.series.own and r.series.status != "clean"]
    lines += details or ["Nothing: every name each set relies on is in every release it serves, with the expected shape."]
    return "\n".join(lines) + "\n"


def plain(results: Sequence[Result]) -> str:
    table = [HEADER, *rows(results)]
    widths = [min(max(len(row[i]) for row in table), 60) for i in range(len(HEADER))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
    for r in results:
        out += [f"  {r.version} {m.patch}: {m.name}: {m.why}" for m in r.missing]
    return "\n".join(out)


def _command(args: argparse.Namespace) -> str:
    """The command line as the docs show it (no path of this machine)."""
    command = f"{MODULE_CMD} --releases {args.releases}"
    if args.out is not None:
        out = Path(args.out).resolve()
        if REPO_ROOT in out.parents:
            command += f" --out {out.relative_to(REPO_ROOT).as_posix()}"
    return command


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=MODULE_CMD, description=__doc__.split("\n\n")[0].rstrip(":"))
    parser.add_argument("--releases", default="all", metavar="all|pinned|V,V,...",
                        help="every PyPI release in the ranges (default), the version table's, or these")
    parser.add_argument("--out", type=Path, metavar="FILE", help=f"also write the table as markdown (e.g. {DEFAULT_OUT})")
    parser.add_argument("--cache", type=Path, default=series.DEFAULT_CACHE_DIR, metavar="DIR",
                        help="where the wheels are kept (default: build/cache)")
    args = parser.parse_args(argv)
    results = []
    for version in chosen_releases(args.releases):
        try:
            wheel = series.download_wheel(args.cache, version=version)
        except series.SeriesError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        result = check_release(version, Source.wheel(wheel), wheel)
        print(f"{version}: targets {result.targets_cell()}; series {result.series.render()}", file=sys.stderr)
        results.append(result)
    print(plain(results))
    if args.out is not None:
        date = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(results, _command(args), date))
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
