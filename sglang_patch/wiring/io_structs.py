"""Patch ``io_structs``: ``tags`` (and a release ``mode``) on the requests, an outcome on the replies.

Stock 0.4.6.post5 (managers/io_struct.py:787-805) has four empty dataclasses. The fields are added
*to the existing classes* rather than by defining new ones: the scheduler dispatches on the
request's class and ``http_server`` / ``engine`` / ``tokenizer_manager`` imported these names at
import time, so every module must keep seeing one class object. The dataclass machinery builds the
new ``__init__``/``__repr__``/``__eq__``/fields, and those attributes are what the patch replaces.
Upstream 0.4.8 added ``tags: Optional[List[str]] = None`` the same way (sgl-project/sglang#7099).

``MsgspecIOStructsPatch``, next to the base, is the variant for releases whose io structs are
msgspec structs (0.5.15.post1 on), which cannot gain fields in place.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Union

from sglang_patch._core import DATACLASS_ATTRS, Patch, Shape

IO = "sglang.srt.managers.io_struct."

# Which fields each class gains. Defaults keep every stock constructor call valid.
_RESUME_FIELDS = [
    # Tags to release or resume: "weights", "kv_cache"; None or [] means all of them.
    ("tags", Optional[List[str]], dataclasses.field(default=None)),
]
_RELEASE_FIELDS = _RESUME_FIELDS + [
    # What to do with requests running or queued when the release arrives: "wait" for them to
    # finish, "abort" them (finish reason says why), or "reject" the release (409).
    ("mode", str, dataclasses.field(default="wait")),
    # Seconds to wait for running requests ("wait" and "abort"); None means 60.
    ("timeout", Optional[float], dataclasses.field(default=None)),
]
_REPLY_FIELDS = [
    # False when nothing was done; `message` and `error` say why.
    ("success", bool, dataclasses.field(default=True)),
    # Human-readable outcome, or the reason for a failure and how to fix it.
    ("message", str, dataclasses.field(default="")),
    # "" on success, else one of: "invalid_request", "busy", "insufficient_memory", "failed".
    ("error", str, dataclasses.field(default="")),
    # Every tag that is released once this call is done (in this scheduler).
    ("released_tags", List[str], dataclasses.field(default_factory=list)),
    # The tags this call changed; tags asked for that were already in the wanted state are left out.
    ("changed_tags", List[str], dataclasses.field(default_factory=list)),
    # False when the server runs without --enable-memory-saver: states change, no memory moves.
    ("memory_saver_enabled", bool, dataclasses.field(default=True)),
    # False after "weights" was resumed without a backup and before a weight update succeeded:
    # generation is refused until then (unless --allow-stale-weights).
    ("weights_current", bool, dataclasses.field(default=True)),
]
FIELDS = {
    "ReleaseMemoryOccupationReqInput": _RELEASE_FIELDS,
    "ResumeMemoryOccupationReqInput": _RESUME_FIELDS,
    "ReleaseMemoryOccupationReqOutput": _REPLY_FIELDS,
    "ResumeMemoryOccupationReqOutput": _REPLY_FIELDS,
}


# -- the status request: new message types -------------------------------------------------------


def status_classes(base: type = object) -> Dict[str, type]:
    """GetMemoryOccupationReqInput/Output, on ``base``: SGLang 0.5 routes a scheduler's reply by
    fields of its ``BaseReq`` (``http_worker_ipc``), earlier releases have no common base."""

    @dataclasses.dataclass
    class GetMemoryOccupationReqInput(base):
        """Ask every scheduler for the state of each memory tag (GET /memory_occupation)."""

    @dataclasses.dataclass
    class GetMemoryOccupationReqOutput(base):
        # One entry per TP rank of this data-parallel group, rank order: {"tp_rank": int,
        # "tags": {tag: {"state": "resident" | "released", "bytes": int}}, "weights_current": bool,
        # "weights_cpu_backup_bytes": int or None, "release_waiting": [tags] or None,
        # "memory_saver_enabled": bool}
        ranks: List[Dict[str, Any]]

    classes = {"GetMemoryOccupationReqInput": GetMemoryOccupationReqInput,
               "GetMemoryOccupationReqOutput": GetMemoryOccupationReqOutput}
    for cls in classes.values():  # pickled across processes by this name
        cls.__module__ = "sglang.srt.managers.io_struct"
        cls.__qualname__ = cls.__name__
    return classes


STATUS_CLASSES = ("GetMemoryOccupationReqInput", "GetMemoryOccupationReqOutput")


class IOStructsPatch(Patch):
    """The fields added to the dataclasses in place (0.4.6.post5 to 0.5.12.post1).

    Hooks (class attributes):
    - ``status_base``: the io_struct class the status request and reply derive from: ``"BaseReq"``
      where SGLang routes a scheduler's reply by its fields (0.5.4.post2 on); None: none.
    """

    name = "io_structs"
    targets = tuple(IO + cls + "." + attr for cls in FIELDS for attr in DATACLASS_ATTRS) + tuple(
        IO + cls for cls in STATUS_CLASSES
    )
    adds = tuple(IO + cls for cls in STATUS_CLASSES)
    status_base: Optional[str] = None
    process = "all"
    summary = "tags (+ release mode, timeout) on the memory requests; outcome fields on their replies; the status request"

    @property
    def shapes(self):
        """The status request and reply derive from ``status_base`` where there is one."""
        return {IO + self.status_base: Shape()} if self.status_base else {}

    def replacements(self):
        from sglang.srt.managers import io_struct

        out = {}
        for cls_name, extra in FIELDS.items():
            out.update(self.widened(IO + cls_name, getattr(io_struct, cls_name), extra))
        base = getattr(io_struct, self.status_base) if self.status_base else object
        for cls_name, cls in status_classes(base).items():
            cls.__sglang_patch__ = self.name
            out[IO + cls_name] = cls
        return out


# -- msgspec structs (0.5.15.post1 on) --------------------------------------------------

DECODER = IO + "_msgpack_decoder"
DECODED_TYPES = IO + "_all_types"


def _struct_field(spec):
    """A dataclass field spec of ``FIELDS`` ((name, type, field)) as a msgspec field."""
    import msgspec

    name, annotation, field = spec
    if field.default_factory is not dataclasses.MISSING:
        return name, annotation, msgspec.field(default_factory=field.default_factory)
    return name, annotation, field.default


def _subclass(base: type, name: str, fields, patch_name: str) -> type:
    """``base`` with ``fields`` appended, under ``base``'s name in io_struct, with a tag of its own."""
    import msgspec

    cls = msgspec.defstruct(
        name,
        [_struct_field(spec) for spec in fields],
        bases=(base,),
        module="sglang.srt.managers.io_struct",  # pickled by this name: io_struct holds the subclass
        kw_only=True,
        tag=f"sglang_patch.{name}",
    )
    cls.__sglang_patch__ = patch_name
    return cls


class MsgspecIOStructsPatch(Patch):
    """Variant (0.5.15.post1 on): the same fields as every release, on msgspec structs.

    SGLang 0.5.17's requests and replies are ``msgspec.Struct`` classes (managers/io_struct.py:79,
    memory classes :1845-1862), which cannot gain fields in place as the dataclasses of earlier
    releases do. So each of the four memory classes is replaced, under its name in ``io_struct``, by
    a subclass with the same extra fields (``FIELDS``): code that reads
    the name at call time (the memory routes, the Engine, the scheduler's replies) builds the
    subclass, and SGLang's dispatchers, keyed by the stock class, route it by its base class.

    On the wire: pickle by default (``SGLANG_USE_PICKLE_IPC``), which finds the class by its module
    and name, so the subclasses say they live in ``io_struct`` under the stock names; msgpack
    (``SGLANG_USE_PICKLE_IPC=0``) decodes a union of every struct keyed by a tag, so each subclass
    has a tag of its own (a subclass with its base's tag would decode as the base, silently
    dropping ``mode`` and ``timeout``), and the decoder is rebuilt with them (and the hooks io_struct
    has) as ``io_struct.hook_custom_types`` does (:2332); revert puts the old decoder back.
    """

    name = "io_structs"
    targets = tuple(IO + cls for cls in (*FIELDS, *STATUS_CLASSES)) + (DECODED_TYPES, DECODER)
    adds = tuple(IO + cls for cls in STATUS_CLASSES)
    shapes = {IO + "BaseReq": Shape(), IO + "dec_hook": Shape()}  # what the new structs and the decoder are built on
    process = "all"
    summary = "tags (+ release mode, timeout) on the memory requests; outcome fields on their replies; the status request"

    def replacements(self):
        import msgspec
        from sglang.srt.managers import io_struct

        out = {IO + name: _subclass(self.original(IO + name), name, fields, self.name)
               for name, fields in FIELDS.items()}
        out[IO + "GetMemoryOccupationReqInput"] = _subclass(io_struct.BaseReq, "GetMemoryOccupationReqInput", [],
                                                             self.name)
        # One entry per TP rank of this data-parallel group (as in status_classes).
        ranks = [("ranks", List[Dict[str, Any]], dataclasses.field(default_factory=list))]
        out[IO + "GetMemoryOccupationReqOutput"] = _subclass(io_struct.BaseReq, "GetMemoryOccupationReqOutput",
                                                              ranks, self.name)
        types = tuple(dict.fromkeys(self.original(DECODED_TYPES) + tuple(out.values())))
        out[DECODED_TYPES] = types
        # 0.5.23's decoder also takes io_struct.ext_hook (managers/io_struct.py:2689); 0.5.15.post1's and 0.5.17's have none.
        hooks = {name: getattr(io_struct, name) for name in ("dec_hook", "ext_hook") if hasattr(io_struct, name)}
        out[DECODER] = msgspec.msgpack.Decoder(Union[types], **hooks)
        return out
