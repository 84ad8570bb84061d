"""Patch ``io_structs`` (0.5.17): the same fields as every release, on msgspec structs.

SGLang 0.5.17's requests and replies are ``msgspec.Struct`` classes (managers/io_struct.py:79,
memory classes :1845-1862), which cannot gain fields in place as the dataclasses of earlier
releases do. So each of the four memory classes is replaced, under its name in ``io_struct``, by
a subclass with the same extra fields (``FIELDS`` of the 0.4.6.post5 patch): code that reads
the name at call time (the memory routes, the Engine, the scheduler's replies) builds the
subclass, and SGLang's dispatchers, keyed by the stock class, route it by its base class.

On the wire: pickle by default (``SGLANG_USE_PICKLE_IPC``), which finds the class by its module
and name, so the subclasses say they live in ``io_struct`` under the stock names; msgpack
(``SGLANG_USE_PICKLE_IPC=0``) decodes a union of every struct keyed by a tag, so each subclass
has a tag of its own (a subclass with its base's tag would decode as the base, silently
dropping ``mode`` and ``timeout``), and the decoder is rebuilt with them (and the hooks io_struct
has) as ``io_struct.hook_custom_types`` does (:2332); revert puts the old decoder back.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Union

from sglang_patch._core import Patch, Shape
from sglang_patch.wiring.io_structs import FIELDS, IO, STATUS_CLASSES

DECODER = IO + "_msgpack_decoder"
DECODED_TYPES = IO + "_all_types"


def _struct_field(spec):
    """A dataclass field spec of the 0.4.6.post5 patch ((name, type, field)) as a msgspec field."""
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


class IOStructsPatch0517(Patch):
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
        # One entry per TP rank of this data-parallel group (the 0.4.6.post5 patch's status_classes).
        ranks = [("ranks", List[Dict[str, Any]], dataclasses.field(default_factory=list))]
        out[IO + "GetMemoryOccupationReqOutput"] = _subclass(io_struct.BaseReq, "GetMemoryOccupationReqOutput",
                                                              ranks, self.name)
        types = tuple(dict.fromkeys(self.original(DECODED_TYPES) + tuple(out.values())))
        out[DECODED_TYPES] = types
        # 0.5.23's decoder also takes io_struct.ext_hook (managers/io_struct.py:2689); 0.5.15.post1's and 0.5.17's have none.
        hooks = {name: getattr(io_struct, name) for name in ("dec_hook", "ext_hook") if hasattr(io_struct, name)}
        out[DECODER] = msgspec.msgpack.Decoder(Union[types], **hooks)
        return out

