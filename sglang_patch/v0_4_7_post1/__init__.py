"""The patch set for SGLang 0.4.7.post1 (no native tags): 0.4.6.post5's patches, and one more pool.

Every target 0.4.6.post5's patches replace is byte-identical in 0.4.7.post1, or changed only where
the patches do not depend on it (docs/research/sglang-0.4.7-0.4.8.md, target by target), so the
same patch classes serve. What 0.4.7.post1 adds:
- ``DecodeReqToTokenPool`` (PD-disaggregation decode) opens its own region: ``kv_cache_region``
  here tags it too;
- ``/v1/rerank`` and ``/v1/score`` reach ``generate_request``: the one refusal path covers them
  (the 503 middleware and the generate wrapper need no list of routes);
- ``--sleep-on-idle``: the idle scheduler polls its sockets for up to 1 s, so a ``wait`` release
  that was deferred can answer up to ~1 s later; nothing else changes.
"""

from sglang_patch.versions import release_for
from sglang_patch.v0_4_6_post5.constants import ConstantsPatch
from sglang_patch.v0_4_6_post5.cuda_graph_region import CudaGraphRegionPatch
from sglang_patch.v0_4_6_post5.engine import EnginePatch
from sglang_patch.v0_4_6_post5.http_routes import HTTPRoutesPatch
from sglang_patch.v0_4_6_post5.io_structs import IOStructsPatch
from sglang_patch.v0_4_6_post5.memory_saver import MemorySaverPatch
from sglang_patch.v0_4_6_post5.scheduler import SchedulerPatch
from sglang_patch.v0_4_6_post5.server_args import ServerArgsPatch
from sglang_patch.v0_4_6_post5.startup_watch import StartupWatchPatch
from sglang_patch.v0_4_6_post5.subprocess_entry import SubprocessEntryPatch
from sglang_patch.v0_4_6_post5.tokenizer_manager import TokenizerManagerPatch
from sglang_patch.v0_4_6_post5.weights_region import WeightsRegionPatch
from sglang_patch.v0_4_7_post1.kv_cache_region import KVCacheRegionPatch

PATCHES = (
    MemorySaverPatch(),
    ServerArgsPatch(),
    WeightsRegionPatch(),
    KVCacheRegionPatch(),
    CudaGraphRegionPatch(),
    IOStructsPatch(),
    SchedulerPatch(),
    TokenizerManagerPatch(),
    HTTPRoutesPatch(),
    EnginePatch(),
    StartupWatchPatch(),
    ConstantsPatch(),
    SubprocessEntryPatch(),
)

SPEC = release_for("0.4.7.post1").spec
for _patch in PATCHES:
    _patch.sglang_spec = SPEC
