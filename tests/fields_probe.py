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


def default(f):
    if f.default is not dataclasses.MISSING:
        return repr(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return repr(f.default_factory())
    return "<required>"


print(json.dumps({
    "source_patched": sglang_patch.source_patched(),
    "classes": {cls.__name__: {f.name: default(f) for f in dataclasses.fields(cls)} for cls in CLASSES},
}))
