"""Run in a fresh interpreter by test_patches.py: apply / re-apply / revert every patch, report JSON.

For each patch: the targets before, after apply (replaced, marked with the patch's name),
after a second apply (the very same objects: not double wrapped), after revert (the very same
objects as before). Printed as one JSON line on stdout.
"""

import json
import sys

from server_ext import cpu_compat

cpu_compat.enable_without_gpu()  # SGLang's non-CUDA imports need it

import sglang_patch  # noqa: E402
from sglang_patch._core import _MISSING, _raw_attr, resolve  # noqa: E402


def snapshot(patch):
    return {t: _raw_attr(*resolve(t)) for t in patch.targets}


def marked(obj, name):
    fn = getattr(obj, "__func__", obj)  # staticmethod
    return (
        getattr(fn, "__sglang_patch__", None) == name
        or type(obj).__module__.startswith("sglang_patch")  # a ChildEntry
        or isinstance(obj, type) and obj.__module__.startswith("sglang_patch")  # a class the patch adds
    )


def check(patch):
    before = snapshot(patch)
    patch.apply()
    after = snapshot(patch)
    patch.apply()
    again = snapshot(patch)
    patch.revert()
    reverted = snapshot(patch)
    return {
        "targets": len(patch.targets),
        "all_replaced": all(after[t] is not before[t] for t in patch.targets),
        "replacements_marked": all(marked(after[t], patch.name) or t.endswith(
            ("__dataclass_fields__", "__annotations__", "__match_args__", ".routes", ".user_middleware")) for t in patch.targets),
        "second_apply_noop": all(again[t] is after[t] for t in patch.targets),
        "reverted_exactly": all(reverted[t] is before[t] for t in patch.targets),
        "missing_before": [
            t for t in patch.targets if before[t] is _MISSING and not t.endswith("__annotations__") and t not in patch.adds
        ],
    }


which = sys.argv[1:] or [p.name for p in sglang_patch.patches()]
result = {name: check(sglang_patch.get(name)) for name in which}
# All together, in order, then all reverted.
sglang_patch.apply()
result["_all_applied"] = sglang_patch.applied_names()
sglang_patch.revert()
result["_after_revert"] = sglang_patch.applied_names()
print(json.dumps(result))
