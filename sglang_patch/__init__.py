"""Tagged GPU-memory release and resume for SGLang 0.4.6.post5, as runtime patches.

    import sglang_patch
    sglang_patch.apply()          # every patch, in this process and the ones SGLang spawns
    sglang_patch.revert()         # the exact originals back

Each concern is one module with one ``Patch`` (name, dotted targets, SGLang spec, process):

    memory_saver       adapter drives the torch_memory_saver singleton with tags   (all)
    weights_region     weights allocated under tag "weights"                       (scheduler)
    kv_cache_region    KV pools allocated under tag "kv_cache"                     (scheduler)
    io_structs         tags on the requests, outcome on the replies                (all)
    scheduler          release/resume by tag, ledger, busy check                   (scheduler)
    tokenizer_manager  validates tags, returns replies                             (server)
    http_routes        POST /release_memory_occupation {"tags": [...]}            (server)
    engine             Engine.release/resume_memory_occupation(tags=None)          (server)
    subprocess_entry   spawned schedulers apply the patches too                    (launcher)

docs/patches.md explains each one: why, how, upstream PR, removal plan.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from sglang_patch._core import SUPPORTED_SGLANG, Patch, UnsupportedSGLangVersion
from sglang_patch.engine import EnginePatch
from sglang_patch.http_routes import HTTPRoutesPatch
from sglang_patch.io_structs import MemoryOccupationError
from sglang_patch.io_structs import IOStructsPatch
from sglang_patch.kv_cache_region import KVCacheRegionPatch
from sglang_patch.memory_saver import MemorySaverPatch
from sglang_patch.scheduler import SchedulerPatch
from sglang_patch.subprocess_entry import SubprocessEntryPatch
from sglang_patch.tags import ALL_TAGS, KV_CACHE, WEIGHTS, InvalidRequestError
from sglang_patch.tokenizer_manager import TokenizerManagerPatch
from sglang_patch.weights_region import WeightsRegionPatch

__all__ = [
    "ALL_TAGS", "KV_CACHE", "WEIGHTS", "SUPPORTED_SGLANG", "InvalidRequestError", "MemoryOccupationError",
    "Patch", "UnsupportedSGLangVersion", "apply", "applied_names", "get", "patches", "revert",
]

# Application order: the adapter and io structs before the code that uses them; the spawn seam last.
_PATCHES: Dict[str, Patch] = {
    p.name: p
    for p in (
        MemorySaverPatch(),
        WeightsRegionPatch(),
        KVCacheRegionPatch(),
        IOStructsPatch(),
        SchedulerPatch(),
        TokenizerManagerPatch(),
        HTTPRoutesPatch(),
        EnginePatch(),
        SubprocessEntryPatch(),
    )
}


def patches() -> List[Patch]:
    """Every patch, in application order."""
    return list(_PATCHES.values())


def get(name: str) -> Patch:
    try:
        return _PATCHES[name]
    except KeyError:
        raise KeyError(f"no patch named {name!r}; known: {list(_PATCHES)}") from None


def _select(names: Optional[Iterable[str]]) -> List[Patch]:
    if names is None:
        return patches()
    wanted = set(names)
    for name in wanted:
        get(name)
    return [p for p in patches() if p.name in wanted]


def apply(names: Optional[Iterable[str]] = None) -> None:
    """Apply the named patches (default: all) in this process; already applied ones are skipped."""
    for patch in _select(names):
        patch.apply()


def revert(names: Optional[Iterable[str]] = None) -> None:
    """Revert the named patches (default: all), in reverse order, restoring the exact originals."""
    for patch in reversed(_select(names)):
        patch.revert()


def applied_names() -> List[str]:
    return [p.name for p in patches() if p.applied]
