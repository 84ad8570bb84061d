"""The patch set for SGLang 0.4.6.post5 (no native tags): every concern, in application order.

Each module wires the shared logic (``sglang_patch.memory_occupation``) into one SGLang target
and declares its patch: name, targets, process, requires. ``SPEC`` comes from the version table.
docs/patches.md explains every patch: why, how, upstream PR, removal plan.
"""

from sglang_patch.versions import release_for
from sglang_patch.v0_4_6_post5.constants import ConstantsPatch
from sglang_patch.v0_4_6_post5.cuda_graph_region import CudaGraphRegionPatch
from sglang_patch.v0_4_6_post5.engine import EnginePatch
from sglang_patch.v0_4_6_post5.http_routes import HTTPRoutesPatch
from sglang_patch.v0_4_6_post5.io_structs import IOStructsPatch
from sglang_patch.v0_4_6_post5.kv_cache_region import KVCacheRegionPatch
from sglang_patch.v0_4_6_post5.memory_saver import MemorySaverPatch
from sglang_patch.v0_4_6_post5.scheduler import SchedulerPatch
from sglang_patch.v0_4_6_post5.server_args import ServerArgsPatch
from sglang_patch.v0_4_6_post5.startup_watch import StartupWatchPatch
from sglang_patch.v0_4_6_post5.subprocess_entry import SubprocessEntryPatch
from sglang_patch.v0_4_6_post5.tokenizer_manager import TokenizerManagerPatch
from sglang_patch.v0_4_6_post5.weights_region import WeightsRegionPatch

# The adapter and io structs before the code that uses them; the spawn seam last.
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

SPEC = release_for("0.4.6.post5").spec
for _patch in PATCHES:
    _patch.sglang_spec = SPEC
