"""The patch set for SGLang 0.4.8 (native tags, sgl-project/sglang#7099): the safety layer only.

0.4.8 allocates and pauses by tag itself (weights, kv_cache; ``sglang.srt.constants``), so the
tagging patches (memory_saver, weights_region, kv_cache_region, constants) are not in this set:
SGLang's own tags are kept. What native lacks is added by the same patch classes as 0.4.6.post5:
the ledger, release modes, the 503 gate, the stale-weights guard, the 507 pre-check, the status
route, TP agreement and 4xx validation (scheduler, tokenizer_manager, http_routes, engine,
io_structs, server_args), the start-up watch, and the cuda_graph tag (0.4.8 to 0.4.10 have none;
``constants`` adds its name to SGLang's own module).
The sets of 0.4.9.post6 and 0.4.10.post2 are built from this one.
"""

from sglang_patch import v0_4_6_post5
from sglang_patch._core import derive_patch_set
from sglang_patch.memory_occupation.tags import KV_CACHE, WEIGHTS
from sglang_patch.wiring import cuda_graph_region, scheduler
from sglang_patch.wiring.constants import CudaGraphConstantPatch

NATIVE = {"memory_saver", "weights_region", "kv_cache_region"}


class SchedulerPatch048(scheduler.SchedulerPatch):
    requires = scheduler.NATIVE_REQUIRES
    native_tags = frozenset({WEIGHTS, KV_CACHE})  # SGLang's own handlers pause these; cuda_graph is ours


class CudaGraphRegionPatch048(cuda_graph_region.CudaGraphRegionPatch):
    requires = ()  # SGLang's own adapter allocates: the capture uses torch_memory_saver's singleton


PATCHES = derive_patch_set(
    v0_4_6_post5.PATCHES, "0.4.8",
    replace={"scheduler": SchedulerPatch048, "cuda_graph_region": CudaGraphRegionPatch048,
             "constants": CudaGraphConstantPatch}, drop=NATIVE)
