"""Run in a fresh interpreter by test_patches.py: apply / re-apply / revert every patch, report JSON.

For each patch: the targets before, after apply (replaced, marked with the patch's name),
after a second apply (the very same objects: not double wrapped), after revert (the very same
objects as before). Then the ways a second caller can apply: a fresh patch object, the module
function twice, apply after revert, requirements pulled in or refused. Printed as one JSON line.
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
        or type(fn).__module__.startswith("sglang_patch")  # a ChildEntry
        or isinstance(obj, type) and obj.__module__.startswith("sglang_patch")  # a class the patch adds
    )


# Targets that hold data, not code: a replacement list, tuple or decoder cannot carry a name
# (the map of saved originals names its patch).
DATA_TARGETS = ("__dataclass_fields__", "__annotations__", "__match_args__", ".routes", ".user_middleware",
                "._COMMUNICATOR_SPECS", "._all_types", "._msgpack_decoder", ".GPU_MEMORY_TYPE_CUDA_GRAPH")


def check(patch):
    sglang_patch.apply(patch.requires)  # what it cannot work without (and what those require)
    # A target exists before patching if its owner has it or, for a class, inherits it (SGLang
    # 0.4.10's Scheduler inherits its weight and memory handlers from a mixin): Patch.original.
    missing = [t for t in patch.targets
               if patch.original(t) is _MISSING and not t.endswith("__annotations__") and t not in patch.adds]
    before = snapshot(patch)
    patch.apply()
    after = snapshot(patch)
    patch.apply()
    again = snapshot(patch)
    patch.revert()
    reverted = snapshot(patch)
    sglang_patch.revert()
    return {
        "targets": len(patch.targets),
        "all_replaced": all(after[t] is not before[t] for t in patch.targets),
        "replacements_marked": all(marked(after[t], patch.name) or t.endswith(DATA_TARGETS) for t in patch.targets),
        "second_apply_noop": all(again[t] is after[t] for t in patch.targets),
        "reverted_exactly": all(reverted[t] is before[t] for t in patch.targets),
        "missing_before": missing,
    }


def names():
    return [p.name for p in sglang_patch.patches()]


def fresh(patch):
    """A new object of the same patch, as a second caller would make."""
    other = type(patch)()
    other.sglang_spec = patch.sglang_spec
    return other


def all_targets():
    return {(p.name, t): _raw_attr(*resolve(t)) for p in sglang_patch.patches() for t in p.targets}


def second_callers():
    """Every way a second caller applies: never wraps twice; revert gives the exact originals."""
    out = {}
    pristine = all_targets()
    sglang_patch.apply()
    once = all_targets()
    for p in sglang_patch.patches():  # a fresh object per patch, as another library would make
        fresh(p).apply()
    sglang_patch.apply()  # and the module function again
    out["fresh_objects_and_module_twice_noop"] = all(all_targets()[k] is v for k, v in once.items())
    # The probe: a patch with a callable first target and a requirement (weights_region, or
    # engine in a release whose tags are native and has no weights_region).
    probe = sglang_patch.get("weights_region" if "weights_region" in names() else "engine")
    target, requirement = probe.targets[0], probe.requires[0]
    out["probe"] = {"name": probe.name, "target": target, "requirement": requirement}
    original = pristine[(probe.name, target)]
    out["wrapper_wraps_the_original"] = _raw_attr(*resolve(target)).__wrapped__ is original
    fresh(probe).revert()  # a fresh object reverts what another applied
    out["fresh_object_reverts"] = _raw_attr(*resolve(target)) is original
    sglang_patch.revert()
    out["revert_exact"] = all(all_targets()[k] is v for k, v in pristine.items())
    sglang_patch.apply()
    sglang_patch.apply()
    out["reapply_after_revert_wraps_once"] = _raw_attr(*resolve(target)).__wrapped__ is original
    sglang_patch.revert()

    sglang_patch.apply([probe.name])
    out["requirements_pulled_in"] = sglang_patch.applied_names()
    sglang_patch.revert([requirement])
    out["dependents_reverted"] = sglang_patch.applied_names()
    try:
        fresh(sglang_patch.get("scheduler")).apply()
        out["direct_apply_without_requirements"] = "applied"
    except RuntimeError as e:
        out["direct_apply_without_requirements"] = str(e)
    out["after_refusal"] = sglang_patch.applied_names()

    class Incomplete(type(probe)):
        def replacements(self):
            return {}

    try:
        incomplete = Incomplete()
        incomplete.sglang_spec = probe.sglang_spec
        sglang_patch.apply(list(probe.requires))
        incomplete.apply()
        out["coverage_check"] = "applied"
    except RuntimeError as e:
        out["coverage_check"] = str(e)
    sglang_patch.revert()
    return out


which = sys.argv[1:] or [p.name for p in sglang_patch.patches()]
result = {name: check(sglang_patch.get(name)) for name in which}
# All together, in order, then all reverted.
sglang_patch.apply()
result["_all_applied"] = sglang_patch.applied_names()
sglang_patch.revert()
result["_after_revert"] = sglang_patch.applied_names()
result["_second_callers"] = second_callers()
print(json.dumps(result))
