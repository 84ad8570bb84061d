"""Patch ``io_structs``: ``tags`` (and a release ``mode``) on the requests, an outcome on the replies.

Stock 0.4.6.post5 (managers/io_struct.py:787-805) has four empty dataclasses. The fields are added
*to the existing classes* rather than by defining new ones: the scheduler dispatches on the
request's class and ``http_server`` / ``engine`` / ``tokenizer_manager`` imported these names at
import time, so every module must keep seeing one class object. The dataclass machinery builds the
new ``__init__``/``__repr__``/``__eq__``/fields, and those attributes are what the patch replaces.
Upstream 0.4.8 added ``tags: Optional[List[str]] = None`` the same way (sgl-project/sglang#7099).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from sglang_patch._core import Patch

_IO = "sglang.srt.managers.io_struct."

# Which fields each class gains. Defaults keep every stock constructor call valid.
_RESUME_FIELDS = [
    # Tags to release or resume: "weights", "kv_cache"; None or [] means all of them.
    ("tags", Optional[List[str]], dataclasses.field(default=None)),
]
_RELEASE_FIELDS = _RESUME_FIELDS + [
    # What to do with requests running when the release arrives: "wait" for them to finish,
    # "abort" them (finish reason says why), or "reject" the release (409). Queued requests stay
    # queued and are admitted after the resume.
    ("mode", str, dataclasses.field(default="wait")),
    # Seconds to wait for running requests ("wait" and "abort"); None means 60.
    ("timeout", Optional[float], dataclasses.field(default=None)),
]
_REPLY_FIELDS = [
    # False when nothing was done; `message` and `error` say why.
    ("success", bool, dataclasses.field(default=True)),
    # Human-readable outcome, or the reason for a failure and how to fix it.
    ("message", str, dataclasses.field(default="")),
    # "" on success, else one of: "invalid_request", "busy", "failed".
    ("error", str, dataclasses.field(default="")),
    # Every tag that is released once this call is done (in this scheduler).
    ("released_tags", List[str], dataclasses.field(default_factory=list)),
    # The tags this call changed; tags asked for that were already in the wanted state are left out.
    ("changed_tags", List[str], dataclasses.field(default_factory=list)),
    # False when the server runs without --enable-memory-saver: states change, no memory moves.
    ("memory_saver_enabled", bool, dataclasses.field(default=True)),
]
_CLASSES = {
    "ReleaseMemoryOccupationReqInput": _RELEASE_FIELDS,
    "ResumeMemoryOccupationReqInput": _RESUME_FIELDS,
    "ReleaseMemoryOccupationReqOutput": _REPLY_FIELDS,
    "ResumeMemoryOccupationReqOutput": _REPLY_FIELDS,
}
# What a dataclass's shape consists of: replacing these gives the class new fields in place.
_DATACLASS_ATTRS = ("__init__", "__repr__", "__eq__", "__dataclass_fields__", "__annotations__", "__match_args__")


def _widened(cls: type, extra) -> Dict[str, Any]:
    """The dataclass attributes ``cls`` would have with ``extra`` fields appended."""
    have = {f.name for f in dataclasses.fields(cls)}
    current = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    shape = dataclasses.make_dataclass(
        cls.__name__, current + [spec for spec in extra if spec[0] not in have]
    )
    shape.__init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return {attr: shape.__dict__[attr] for attr in _DATACLASS_ATTRS}


class IOStructsPatch(Patch):
    name = "io_structs"
    targets = tuple(_IO + cls + "." + attr for cls in _CLASSES for attr in _DATACLASS_ATTRS)
    process = "all"
    summary = "tags (+ release mode, timeout) on the memory requests; outcome fields on their replies"

    def replacements(self):
        from sglang.srt.managers import io_struct

        out = {}
        for cls_name, extra in _CLASSES.items():
            for attr, value in _widened(getattr(io_struct, cls_name), extra).items():
                if callable(value):
                    value.__sglang_patch__ = self.name
                out[_IO + cls_name + "." + attr] = value
        return out


# -- the status request: new message types, owned by this package ---------------------------------


@dataclasses.dataclass
class GetMemoryOccupationReqInput:
    """Ask every scheduler for the state of each memory tag (GET /memory_occupation)."""


@dataclasses.dataclass
class GetMemoryOccupationReqOutput:
    # One entry per TP rank of this data-parallel group, rank order: {"tp_rank": int,
    # "tags": {tag: {"state": "resident" | "released", "bytes": int}}, "weights_current": bool,
    # "release_waiting": [tags] or None, "memory_saver_enabled": bool}
    ranks: List[Dict[str, Any]]


# -- replies, shared by the Engine and HTTP patches -----------------------------------------------

HTTP_STATUS = {"": 200, "invalid_request": 400, "busy": 409, "failed": 500}


class MemoryOccupationError(RuntimeError):
    """A release or resume that did not happen; ``reply`` holds the scheduler's answer."""

    def __init__(self, reply: Dict[str, Any]):
        super().__init__(reply["message"])
        self.reply = reply


def summarize(outputs: List[Any]) -> Dict[str, Any]:
    """One JSON-able reply from the outputs of every scheduler that answered (one per DP rank)."""
    failed = [o for o in outputs if not o.success]
    first = failed[0] if failed else outputs[0]
    return {
        "success": not failed,
        "message": first.message,
        "error": first.error,
        "released_tags": sorted({t for o in outputs for t in o.released_tags}),
        "changed_tags": sorted({t for o in outputs for t in o.changed_tags}),
        "memory_saver_enabled": all(o.memory_saver_enabled for o in outputs),
    }


def summarize_status(outputs: List[Any]) -> Dict[str, Any]:
    """One JSON-able status from every data-parallel group's ``GetMemoryOccupationReqOutput``."""
    ranks = [dict(rank, dp_rank=dp) for dp, o in enumerate(outputs) for rank in o.ranks]
    return {
        "released_tags": sorted({t for r in ranks for t, v in r["tags"].items() if v["state"] == "released"}),
        "weights_current": all(r["weights_current"] for r in ranks),
        "ranks": ranks,
    }
