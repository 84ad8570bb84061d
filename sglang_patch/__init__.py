"""Tagged GPU-memory release and resume for SGLang, as runtime patches.

    import sglang_patch
    sglang_patch.apply()          # every patch, in this process and the ones SGLang spawns
    sglang_patch.revert()         # the exact originals back

The patch set is chosen by the installed SGLang release (``sglang_patch.versions``; one
subpackage per release, e.g. ``sglang_patch.v0_4_6_post5``), a thin configuration of the
release-neutral ``sglang_patch.wiring``, where each concern is one module with one base
``Patch`` (name, dotted targets, process, requires; the set adds the SGLang spec):

    memory_saver       adapter drives the torch_memory_saver singleton with tags   (all)
    server_args        --weights-cpu-backup, --allow-stale-weights, --resume-headroom-gb (all)
    weights_region     weights allocated under tag "weights"                       (scheduler)
    kv_cache_region    KV pools allocated under tag "kv_cache"                     (scheduler)
    io_structs         tags on the requests, outcome on the replies                (all)
    scheduler          release/resume by tag, ledger, busy check                   (scheduler)
    tokenizer_manager  the one path to the schedulers; refuses generation          (server)
    http_routes        POST /release_memory_occupation {"tags": [...]}, 503        (server)
    engine             Engine.release/resume_memory_occupation(tags=None)          (server)
    startup_watch      a child that dies during start-up fails the launch          (server)
    subprocess_entry   spawned schedulers apply the patches too                    (launcher)

The logic they wire in lives in ``sglang_patch.memory_occupation``, which the source patch series
(patches/) carries verbatim into SGLang. docs/patches.md explains each patch: why, how, upstream
PR, removal plan.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Dict, Iterable, List, Optional

from sglang_patch import _core
from sglang_patch._core import Patch, UnsupportedSGLangVersion
from sglang_patch.memory_occupation.tags import ALL_TAGS, KV_CACHE, WEIGHTS
from sglang_patch.versions import patch_set, supported_versions

__all__ = [
    "ALL_TAGS", "KV_CACHE", "WEIGHTS", "GenerationRefusedError", "InvalidRequestError", "MemoryOccupationError",
    "StartupError", "Patch", "UnsupportedSGLangVersion", "apply", "applied_names", "get", "patches", "revert",
    "supported_versions",
]


def patches() -> List[Patch]:
    """Every patch for the installed SGLang, in application order."""
    return list(patch_set(_core.installed_sglang_version()).PATCHES)


def _by_name() -> Dict[str, Patch]:
    return {p.name: p for p in patches()}


def get(name: str) -> Patch:
    known = _by_name()
    try:
        return known[name]
    except KeyError:
        raise KeyError(f"no patch named {name!r}; known: {list(known)}") from None


def _with_requirements(names: Iterable[str]) -> List[Patch]:
    """The named patches and everything they require, in application order."""
    wanted, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(get(name).requires)
    return [p for p in patches() if p.name in wanted]


def _with_dependents(names: Iterable[str]) -> List[Patch]:
    """The named patches and every patch that requires them (directly or not), in application order."""
    doomed = set(names)
    for name in doomed:
        get(name)
    changed = True
    while changed:
        changed = False
        for p in patches():
            if p.name not in doomed and doomed.intersection(p.requires):
                doomed.add(p.name)
                changed = True
    return [p for p in patches() if p.name in doomed]


# SGLANG_PATCH_RUNTIME=off: SGLang was patched from source with patches/<version>/series, so nothing is
# patched at run time; apply() only checks that the imported SGLang really carries the series.
RUNTIME_ENV = "SGLANG_PATCH_RUNTIME"


def runtime_disabled() -> bool:
    value = os.environ.get(RUNTIME_ENV, "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{RUNTIME_ENV}={value!r}: use 'on' (default: patch at run time) or 'off' (source-patched SGLang)")
    return value == "off"


def _sglang_folders() -> List[str]:
    """The folders of the importable ``sglang`` package, found without importing it (importing
    it costs seconds to a minute: its ``__init__`` pulls in torch and much of SGLang)."""
    spec = importlib.util.find_spec("sglang")
    return list(spec.submodule_search_locations or ()) if spec is not None else []


def source_patched() -> bool:
    """Whether the importable SGLang was built from patches/<version>/series (it has sglang.srt.memory_occupation)."""
    return any(os.path.isdir(os.path.join(folder, "srt", "memory_occupation")) for folder in _sglang_folders())


if runtime_disabled() and source_patched():
    # The source-patched SGLang raises its own copies of these classes.
    from sglang.srt.memory_occupation.manager_side import MemoryOccupationError
    from sglang.srt.memory_occupation.refusal import GenerationRefusedError
    from sglang.srt.memory_occupation.startup import StartupError
    from sglang.srt.memory_occupation.tags import InvalidRequestError
else:
    from sglang_patch.memory_occupation.manager_side import MemoryOccupationError
    from sglang_patch.memory_occupation.refusal import GenerationRefusedError
    from sglang_patch.memory_occupation.startup import StartupError
    from sglang_patch.memory_occupation.tags import InvalidRequestError


def apply(names: Optional[Iterable[str]] = None) -> None:
    """Apply the named patches (default: all) and the patches they require, in this process.

    Patches already applied (by anyone: this call, a patch object, a parent process) are left as
    they are. With SGLANG_PATCH_RUNTIME=off nothing is patched; SGLang must then be source-patched.
    """
    if runtime_disabled():
        if not source_patched():
            raise RuntimeError(
                f"{RUNTIME_ENV}=off, but the SGLang found at {' '.join(_sglang_folders()) or '(none found)'} was not "
                "patched with patches/<version>/series: build a patched copy (python -m sglang_patch_dev.series build --dest DIR) "
                "and put DIR first on PYTHONPATH, or unset SGLANG_PATCH_RUNTIME to patch at run time"
            )
        return
    selected = patches() if names is None else _with_requirements(names)
    for patch in selected:
        patch.apply()


def revert(names: Optional[Iterable[str]] = None) -> None:
    """Revert the named patches (default: all) and those that require them, in reverse order,
    restoring the exact originals."""
    selected = patches() if names is None else _with_dependents(names)
    for patch in reversed(selected):
        patch.revert()


def applied_names() -> List[str]:
    return [p.name for p in patches() if p.applied]
