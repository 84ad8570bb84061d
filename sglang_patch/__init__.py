"""Tagged GPU-memory release and resume for SGLang 0.4.6.post5, as runtime patches.

    import sglang_patch
    sglang_patch.apply()          # every patch, in this process and the ones SGLang spawns
    sglang_patch.revert()         # the exact originals back

Each concern is one module with one ``Patch`` (name, dotted targets, SGLang spec, process):

    memory_saver       adapter drives the torch_memory_saver singleton with tags   (all)
    server_args        --weights-cpu-backup, --allow-stale-weights, --resume-headroom-gb (all)
    weights_region     weights allocated under tag "weights"                       (scheduler)
    kv_cache_region    KV pools allocated under tag "kv_cache"                     (scheduler)
    io_structs         tags on the requests, outcome on the replies                (all)
    scheduler          release/resume by tag, ledger, busy check                   (scheduler)
    tokenizer_manager  validates tags, returns replies, refuses generation         (server)
    http_routes        POST /release_memory_occupation {"tags": [...]}, 503 gate   (server)
    engine             Engine.release/resume_memory_occupation(tags=None)          (server)
    subprocess_entry   spawned schedulers apply the patches too                    (launcher)

The logic they wire in lives in ``sglang_patch.memory_occupation``, which the source patch series
(patches/) carries verbatim into SGLang. docs/patches.md explains each patch: why, how, upstream
PR, removal plan.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Dict, Iterable, List, Optional

from sglang_patch._core import SUPPORTED_SGLANG, Patch, UnsupportedSGLangVersion
from sglang_patch.engine import EnginePatch
from sglang_patch.http_routes import HTTPRoutesPatch
from sglang_patch.io_structs import IOStructsPatch
from sglang_patch.kv_cache_region import KVCacheRegionPatch
from sglang_patch.memory_occupation.tags import ALL_TAGS, KV_CACHE, WEIGHTS
from sglang_patch.memory_saver import MemorySaverPatch
from sglang_patch.scheduler import SchedulerPatch
from sglang_patch.server_args import ServerArgsPatch
from sglang_patch.subprocess_entry import SubprocessEntryPatch
from sglang_patch.tokenizer_manager import TokenizerManagerPatch
from sglang_patch.weights_region import WeightsRegionPatch

__all__ = [
    "ALL_TAGS", "KV_CACHE", "WEIGHTS", "SUPPORTED_SGLANG", "GenerationRefusedError", "InvalidRequestError",
    "MemoryOccupationError",
    "Patch", "UnsupportedSGLangVersion", "apply", "applied_names", "get", "patches", "revert",
]

# Application order: the adapter and io structs before the code that uses them; the spawn seam last.
_PATCHES: Dict[str, Patch] = {
    p.name: p
    for p in (
        MemorySaverPatch(),
        ServerArgsPatch(),
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


# SGLANG_PATCH_RUNTIME=off: SGLang was patched from source with patches/series, so nothing is
# patched at run time; apply() only checks that the imported SGLang really carries the series.
RUNTIME_ENV = "SGLANG_PATCH_RUNTIME"


def runtime_disabled() -> bool:
    value = os.environ.get(RUNTIME_ENV, "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{RUNTIME_ENV}={value!r}: use 'on' (default: patch at run time) or 'off' (source-patched SGLang)")
    return value == "off"


def source_patched() -> bool:
    """Whether the importable SGLang was built from patches/series (it has sglang.srt.memory_occupation)."""
    return importlib.util.find_spec("sglang.srt.memory_occupation") is not None


if runtime_disabled() and source_patched():
    # The source-patched SGLang raises its own copies of these classes.
    from sglang.srt.memory_occupation.frontend import GenerationRefusedError, MemoryOccupationError
    from sglang.srt.memory_occupation.tags import InvalidRequestError
else:
    from sglang_patch.memory_occupation.frontend import GenerationRefusedError, MemoryOccupationError
    from sglang_patch.memory_occupation.tags import InvalidRequestError


def apply(names: Optional[Iterable[str]] = None) -> None:
    """Apply the named patches (default: all) in this process; already applied ones are skipped.

    With SGLANG_PATCH_RUNTIME=off nothing is patched; SGLang must then be source-patched.
    """
    if runtime_disabled():
        if not source_patched():
            import sglang

            raise RuntimeError(
                f"{RUNTIME_ENV}=off, but the SGLang imported from {os.path.dirname(sglang.__file__)} was not "
                "patched with patches/series: build a patched copy (python -m sglang_patch.series build --dest DIR) "
                "and put DIR first on PYTHONPATH, or unset SGLANG_PATCH_RUNTIME to patch at run time"
            )
        return
    for patch in _select(names):
        patch.apply()


def revert(names: Optional[Iterable[str]] = None) -> None:
    """Revert the named patches (default: all), in reverse order, restoring the exact originals."""
    for patch in reversed(_select(names)):
        patch.revert()


def applied_names() -> List[str]:
    return [p.name for p in patches() if p.applied]
