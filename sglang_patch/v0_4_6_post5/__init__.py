"""The patch set for SGLang 0.4.6.post5 (no native tags): every concern, in application order.

Each patch is a base of ``sglang_patch.wiring`` (one module per concern: the shared logic of
``sglang_patch.memory_occupation`` wired into its SGLang targets), used as it is: 0.4.6.post5 is
the layout the bases' defaults describe. ``SPEC`` comes from the version table.
docs/patches.md explains every patch: why, how, upstream PR, removal plan.
"""

from sglang_patch.versions import release_for
from sglang_patch.wiring.constants import ConstantsPatch
from sglang_patch.wiring.cuda_graph_region import CudaGraphRegionPatch
from sglang_patch.wiring.engine import EnginePatch
from sglang_patch.wiring.http_routes import HTTPRoutesPatch
from sglang_patch.wiring.io_structs import IOStructsPatch
from sglang_patch.wiring.kv_cache_region import KVCacheRegionPatch
from sglang_patch.wiring.memory_saver import MemorySaverPatch
from sglang_patch.wiring.scheduler import SchedulerPatch
from sglang_patch.wiring.server_args import ServerArgsPatch
from sglang_patch.wiring.startup_watch import StartupWatchPatch
from sglang_patch.wiring.subprocess_entry import SubprocessEntryPatch
from sglang_patch.wiring.tokenizer_manager import TokenizerManagerPatch
from sglang_patch.wiring.weights_region import WeightsRegionPatch

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
