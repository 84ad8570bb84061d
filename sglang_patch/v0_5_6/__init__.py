"""The patch set for SGLang 0.5.6 (native tags; verl's pin): 0.4.8's, on targets that moved.

What differs from 0.4.10.post2 (read from 0.5.6's source; docs/research/sglang-0.5.6-0.5.17.md):
- SGLang keeps a host copy of the weights itself (``--enable-weights-cpu-backup``: the memory
  saver copies the weights' region out on pause and back on resume): ``--weights-cpu-backup``
  turns it on (``ServerArgs.__post_init__``) and the ledger keeps no copy of its own.
- ``update_weights_from_ipc`` (checkpoint-engine) is a fourth weight update: guarded in the
  scheduler like the others (refused while the weights are released) and tracked in the
  tokenizer manager (a success makes the weights current).
- ``_Communicator`` moved to ``managers/tokenizer_communicator_mixin.py``; the tokenizer manager's
  and the scheduler's dispatchers map type -> handler in a dict with a lookup cache
  (``_core.add_to_dispatcher`` handles both forms).
- Every request and reply derives from ``io_struct.BaseReq``; a scheduler's reply is routed by its
  ``http_worker_ipc``, so the status request and reply derive from it too.
- SGLang captures CUDA graphs under the tag ``cuda_graph`` itself, behind an environment variable
  that is off by default: the ``cuda_graph_region`` patch of this set turns native's on by
  default instead of tagging the capture itself (``wiring.cuda_graph_region.NativeCudaGraphTagPatch``).
- Shared code follows renames by feature (``memory_occupation/sglang_compat.py``): the model
  runner is on the TP worker, a waiting release is answered through ``send_output``, an aborted
  running request gets ``to_finish``, and SGLang's own ``offload_tags`` mirrors the ledger.
"""

from sglang_patch import v0_4_8
from sglang_patch._core import derive_patch_set
from sglang_patch.memory_occupation.tags import ALL_TAGS
from sglang_patch.wiring import scheduler
from sglang_patch.wiring.cuda_graph_region import NativeCudaGraphTagPatch
from sglang_patch.wiring.io_structs import IOStructsPatch
from sglang_patch.wiring.server_args import ServerArgsPatch
from sglang_patch.wiring.tokenizer_manager import COMMUNICATOR_MIXIN, TokenizerManagerPatch


class ServerArgsPatch056(ServerArgsPatch):
    adopts_native_options = True  # --weights-cpu-backup turns on SGLang's own --enable-weights-cpu-backup


class IOStructsPatch056(IOStructsPatch):
    status_base = "BaseReq"


class SchedulerPatch056(scheduler.SchedulerPatch):
    requires = scheduler.NATIVE_REQUIRES
    native_tags = frozenset(ALL_TAGS)  # SGLang's own handlers pause cuda_graph too from 0.5
    weight_updates = scheduler.ALL_WEIGHT_UPDATES  # update_weights_from_ipc included (from 0.5.4)


class TokenizerManagerPatch056(TokenizerManagerPatch):
    weight_updates = scheduler.ALL_WEIGHT_UPDATES
    communicator_module = COMMUNICATOR_MIXIN


PATCHES = derive_patch_set(
    v0_4_8.PATCHES, "0.5.6",
    replace={"server_args": ServerArgsPatch056, "io_structs": IOStructsPatch056, "scheduler": SchedulerPatch056,
             "tokenizer_manager": TokenizerManagerPatch056, "cuda_graph_region": NativeCudaGraphTagPatch},
    drop={"constants"})  # SGLang's own sglang.srt.constants names every tag from 0.5
