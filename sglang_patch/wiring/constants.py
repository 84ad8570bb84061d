"""Patch ``constants``: ``sglang.srt.constants`` exists with every tag's name, as in SGLang >= 0.5.

Trainer code written for upstream SGLang names the tags through that module (verl, slime and
ROLL do ``from sglang.srt.constants import GPU_MEMORY_TYPE_KV_CACHE, GPU_MEMORY_TYPE_WEIGHTS``;
slime main also imports ``GPU_MEMORY_TYPE_CUDA_GRAPH``, slime/ray/rollout.py). 0.4.6.post5 and
0.4.7.post1 have no such module, so that import fails before any call reaches the server. This
patch puts a module with upstream's names and values (0.5 constants.py) in ``sys.modules`` and on
``sglang.srt``; revert takes both away. 0.4.8 to 0.4.10 have the module without the graphs' name:
``CudaGraphConstantPatch`` adds it there.
"""

import sys
import types

from sglang_patch._core import Patch
from sglang_patch.memory_occupation.tags import CUDA_GRAPH, KV_CACHE, WEIGHTS

CONSTANTS = "sglang.srt.constants"


def constants_module() -> types.ModuleType:
    module = types.ModuleType(CONSTANTS, "GPU memory tags, named as SGLang >= 0.5 names them (added by sglang_patch).")
    module.GPU_MEMORY_TYPE_KV_CACHE = KV_CACHE
    module.GPU_MEMORY_TYPE_WEIGHTS = WEIGHTS
    module.GPU_MEMORY_TYPE_CUDA_GRAPH = CUDA_GRAPH
    module.GPU_MEMORY_ALL_TYPES = [KV_CACHE, WEIGHTS, CUDA_GRAPH]  # upstream's order
    return module


class ConstantsPatch(Patch):
    name = "constants"
    targets = (CONSTANTS,)
    adds = (CONSTANTS,)
    process = "all"
    summary = "sglang.srt.constants (GPU_MEMORY_TYPE_KV_CACHE, _WEIGHTS, _CUDA_GRAPH) exists, as upstream's"

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


GRAPH_NAME = CONSTANTS + ".GPU_MEMORY_TYPE_CUDA_GRAPH"


class CudaGraphConstantPatch(Patch):
    """0.4.8 to 0.4.10: SGLang's own ``sglang.srt.constants`` gains ``GPU_MEMORY_TYPE_CUDA_GRAPH``
    (the tag this package adds there), so trainer code written for 0.5 imports it unchanged."""

    name = "constants"
    targets = (GRAPH_NAME,)
    adds = (GRAPH_NAME,)
    process = "all"
    summary = "sglang.srt.constants.GPU_MEMORY_TYPE_CUDA_GRAPH exists, as in SGLang 0.5"

    def replacements(self):
        return {GRAPH_NAME: CUDA_GRAPH}  # a str carries no marker: the saved map says who added it
