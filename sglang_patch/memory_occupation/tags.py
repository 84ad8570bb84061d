"""The memory tags, release modes, and the functions that check what a caller asked for.

Names match SGLang >= 0.4.8 (``sglang.srt.constants``), so code written against this package keeps
working after an upgrade to a release that has tags built in.
"""

from __future__ import annotations

from typing import Any, List

WEIGHTS = "weights"
KV_CACHE = "kv_cache"
CUDA_GRAPH = "cuda_graph"  # the CUDA graphs' memory pool (upstream: GPU_MEMORY_TYPE_CUDA_GRAPH in 0.5.x; not in 0.4.8-0.4.10)

# Resume order matters, as upstream's: the graphs, then the weights (which can then be updated),
# then the KV cache. Releases go the other way.
ALL_TAGS = (CUDA_GRAPH, WEIGHTS, KV_CACHE)


# How a release treats requests that are running when it arrives (see scheduler.py).
WAIT, ABORT, REJECT = "wait", "abort", "reject"
RELEASE_MODES = (WAIT, ABORT, REJECT)
DEFAULT_RELEASE_TIMEOUT_S = 60.0


class InvalidRequestError(ValueError):
    """A release/resume request with bad ``tags``, ``mode`` or ``timeout``."""


def normalize_tags(tags: Any) -> List[str]:
    """Validate ``tags`` and return them in resume order; None or [] means every tag.

    Raises InvalidRequestError with a message that names the fix.
    """
    if tags is None:
        return list(ALL_TAGS)
    if isinstance(tags, (str, bytes)) or not isinstance(tags, (list, tuple)):
        raise InvalidRequestError(
            f"'tags' must be a list of strings such as [\"{KV_CACHE}\"], got {type(tags).__name__} "
            f"{tags!r}; omit it (or send []) to mean all of {list(ALL_TAGS)}"
        )
    if not tags:
        return list(ALL_TAGS)
    bad_types = [t for t in tags if not isinstance(t, str)]
    if bad_types:
        raise InvalidRequestError(f"every tag must be a string; got {bad_types!r}; known tags: {list(ALL_TAGS)}")
    unknown = [t for t in tags if t not in ALL_TAGS]
    if unknown:
        raise InvalidRequestError(f"unknown tag(s) {unknown}; known tags: {list(ALL_TAGS)}")
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:
        raise InvalidRequestError(f"tag(s) {duplicates} given more than once; list each tag once")
    return [t for t in ALL_TAGS if t in tags]


def check_release_options(mode: Any, timeout: Any) -> float:
    """Validate a release's ``mode`` and ``timeout``; return the seconds to wait for running
    requests (``timeout``, or the default when None)."""
    if mode not in RELEASE_MODES:
        raise InvalidRequestError(f"unknown mode {mode!r}; use one of {list(RELEASE_MODES)} (default {WAIT!r})")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
        raise InvalidRequestError(
            f"timeout must be a positive number of seconds, got {timeout!r}; omit it for {DEFAULT_RELEASE_TIMEOUT_S:.0f}s"
        )
    return float(DEFAULT_RELEASE_TIMEOUT_S if timeout is None else timeout)
