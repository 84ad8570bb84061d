"""The memory tags and the one function that checks what a caller asked for.

Names match SGLang >= 0.4.8 (``sglang.srt.constants``), so code written against this package keeps
working after an upgrade to a release that has tags built in.
"""

from __future__ import annotations

from typing import Any, List, Optional

WEIGHTS = "weights"
KV_CACHE = "kv_cache"

# Resume order matters: the weights come back (and can be updated) before the KV cache returns.
ALL_TAGS = (WEIGHTS, KV_CACHE)


class InvalidTagsError(ValueError):
    """The ``tags`` a caller sent are not a list of known tag names."""


def normalize_tags(tags: Any) -> List[str]:
    """Validate ``tags`` and return them in resume order; None or [] means every tag.

    Raises InvalidTagsError with a message that names the fix.
    """
    if tags is None:
        return list(ALL_TAGS)
    if isinstance(tags, (str, bytes)) or not isinstance(tags, (list, tuple)):
        raise InvalidTagsError(
            f"'tags' must be a list of strings such as [\"{KV_CACHE}\"], got {type(tags).__name__} "
            f"{tags!r}; omit it (or send []) to mean all of {list(ALL_TAGS)}"
        )
    if not tags:
        return list(ALL_TAGS)
    bad_types = [t for t in tags if not isinstance(t, str)]
    if bad_types:
        raise InvalidTagsError(f"every tag must be a string; got {bad_types!r}; known tags: {list(ALL_TAGS)}")
    unknown = [t for t in tags if t not in ALL_TAGS]
    if unknown:
        raise InvalidTagsError(f"unknown tag(s) {unknown}; known tags: {list(ALL_TAGS)}")
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:
        raise InvalidTagsError(f"tag(s) {duplicates} given more than once; list each tag once")
    return [t for t in ALL_TAGS if t in tags]


def describe(tags: Optional[List[str]]) -> str:
    return "all tags" if not tags else ", ".join(tags)
