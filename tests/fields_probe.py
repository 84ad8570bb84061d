"""Run by test_source_series.py in a fresh interpreter: the fields the change adds, as JSON.

    python tests/fields_probe.py   ->  {"Class": {"field": "default"}, ...}

With SGLANG_PATCH_RUNTIME=off and a source-patched SGLang first on PYTHONPATH it reads the
series' classes; otherwise the runtime patches' (applied here).
"""

import dataclasses
import json

from server_ext import cpu_compat

cpu_compat.enable_without_gpu()  # SGLang's non-CUDA imports need it

import sglang_patch  # noqa: E402

sglang_patch.apply()
from sglang.srt.managers import io_struct  # noqa: E402
from sglang.srt.server_args import ServerArgs  # noqa: E402

CLASSES = [getattr(io_struct, name) for name in (
    "ReleaseMemoryOccupationReqInput", "ResumeMemoryOccupationReqInput", "ReleaseMemoryOccupationReqOutput",
    "ResumeMemoryOccupationReqOutput", "GetMemoryOccupationReqInput", "GetMemoryOccupationReqOutput",
)] + [ServerArgs]


def fields(cls):
    """{field: its default} of a dataclass, or of a msgspec struct (SGLang 0.5.17's io_struct)."""
    if dataclasses.is_dataclass(cls):
        return {f.name: default(f.default, f.default_factory, dataclasses.MISSING) for f in dataclasses.fields(cls)}
    import msgspec

    return {f.name: default(f.default, f.default_factory, msgspec.NODEFAULT) for f in msgspec.structs.fields(cls)}


def default(value, factory, missing):
    if value is not missing:
        return repr(value)
    if factory is not missing:
        return repr(factory())
    return "<required>"


print(json.dumps({
    "source_patched": sglang_patch.source_patched(),
    "classes": {cls.__name__: fields(cls) for cls in CLASSES},
}))
