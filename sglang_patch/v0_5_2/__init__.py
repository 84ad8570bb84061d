"""The patch set for SGLang 0.5.2 (native tags; verl v0.6.0 pins it): 0.4.10.post2's, with the
tokenizer manager's communicator where 0.5.x has it.

What differs from 0.4.10.post2 (read from 0.5.2's source):
- ``_Communicator`` moved to managers/tokenizer_communicator_mixin.py (:69), which also holds
  release/resume and the weight updates that ``TokenizerManager`` inherits (:294-445): the
  ``tokenizer_manager`` patch builds the status communicator from there, as 0.5.6's does.
- Everything else is 0.4.10.post2's layout, unlike 0.5.6's: no ``io_struct.BaseReq`` (the status
  request and reply derive from nothing), no ``update_weights_from_ipc``, no
  ``--enable-weights-cpu-backup`` (the package keeps the host copy itself), and no native
  ``cuda_graph`` tag (constants.py names only ``weights`` and ``kv_cache``; SGLang's own release
  defaults to those two, scheduler_update_weights_mixin.py:75-79): the set tags the capture itself
  (``cuda_graph_region``; the capture looks the graph up as ``self.device_module.graph``,
  torch.cuda's, when it runs: cuda_graph_runner.py:517-520) and adds the name to
  ``sglang.srt.constants``. The scheduler's process target is still the module-level
  ``run_scheduler_process`` (entrypoints/engine.py:64).
- The set serves 0.5.2 and 0.5.3.x: 0.5.3 adds ``BaseReq`` and a native CPU backup, which the set
  does not need. 0.5.4 and 0.5.4.post1 are served by no set: they add ``update_weights_from_ipc``,
  which this set does not guard, and still lack the native ``cuda_graph`` tag, which 0.5.5's set
  (0.5.6's) relies on and which comes with 0.5.4.post2.
"""

from sglang_patch import v0_4_10_post2
from sglang_patch._core import derive_patch_set
from sglang_patch.wiring.tokenizer_manager import COMMUNICATOR_MIXIN, TokenizerManagerPatch


class TokenizerManagerPatch052(TokenizerManagerPatch):
    communicator_module = COMMUNICATOR_MIXIN


PATCHES = derive_patch_set(v0_4_10_post2.PATCHES, "0.5.2", replace={"tokenizer_manager": TokenizerManagerPatch052})
