"""Patch ``constants``: ``sglang.srt.constants`` exists, as in SGLang >= 0.4.8.

Trainer code written for upstream SGLang names the tags through that module (verl, slime and
ROLL do ``from sglang.srt.constants import GPU_MEMORY_TYPE_KV_CACHE, GPU_MEMORY_TYPE_WEIGHTS``).
0.4.6.post5 and 0.4.7.post1 have no such module, so that import fails before any call reaches
the server. This patch puts a module with upstream's names and values (0.4.8 constants.py) in
``sys.modules`` and on ``sglang.srt``; revert takes both away.
"""

import sys
import types

from sglang_patch._core import Patch
from sglang_patch.memory_occupation.tags import KV_CACHE, WEIGHTS

CONSTANTS = "sglang.srt.constants"


def constants_module() -> types.ModuleType:
    module = types.ModuleType(CONSTANTS, "GPU memory tags, named as SGLang >= 0.4.8 names them (added by sglang_patch).")
    module.GPU_MEMORY_TYPE_KV_CACHE = KV_CACHE
    module.GPU_MEMORY_TYPE_WEIGHTS = WEIGHTS
    return module


class ConstantsPatch(Patch):
    name = "constants"
    targets = (CONSTANTS,)
    adds = (CONSTANTS,)
    process = "all"
    summary = "sglang.srt.constants (GPU_MEMORY_TYPE_KV_CACHE, GPU_MEMORY_TYPE_WEIGHTS) exists, as upstream's"

    def replacements(self):
        module = sys.modules.get(CONSTANTS)
        if module is None or getattr(module, "__sglang_patch__", None) != self.name:
            module = constants_module()
        return self.marked({CONSTANTS: module})

    def apply(self) -> None:
        super().apply()
        import sglang.srt

        sys.modules[CONSTANTS] = sglang.srt.constants  # `from sglang.srt.constants import ...` looks here

    def revert(self) -> None:
        module = sys.modules.get(CONSTANTS)
        super().revert()
        if getattr(module, "__sglang_patch__", None) == self.name:
            del sys.modules[CONSTANTS]
