"""The patch set for SGLang 0.5.12.post1 (native tags; slime v0.3.0 pins it): 0.5.10.post1's, with
0.5.17's communicator specs.

What differs from 0.5.10.post1 (read from 0.5.12.post1's source):
- The tokenizer manager's communicators are built from ``_COMMUNICATOR_SPECS``
  (managers/tokenizer_control_mixin.py:94-122, ``init_communicators`` :133-141, called from
  ``TokenizerManager.__init__``, tokenizer_manager.py:511), as in 0.5.17: ``_Communicator`` and
  tokenizer_communicator_mixin.py are gone (``FanOutCommunicator``, managers/communicator.py). The
  status request is one more entry there: the wiring's ``SpecsTokenizerManagerPatch``
  (0.5.17's too). Release, resume and the weight updates are still
  ``TokenizerManager`` methods (inherited from ``TokenizerControlMixin``, :412-755).
- Everything else is where 0.5.10.post1 has it: io_struct dataclasses on ``BaseReq``, release/resume
  and the weight updates in ``SchedulerUpdateWeightsMixin`` (release asserts ``is_fully_idle()``,
  scheduler_update_weights_mixin.py:127-132), ``Engine.run_scheduler_process_func``
  (entrypoints/engine.py:196), SGLang's own start-up check (``_wait_for_scheduler_ready``,
  engine.py:1326), the native ``cuda_graph`` capture in cuda_graph_runner.py.
- 0.5.11 and 0.5.12 have the same layout (``python -m sglang_patch_dev.range_check``); 0.5.13 moves
  the scheduler's handlers to the weight updater (0.5.15.post1's layout) while its io structs are
  still dataclasses: not served.
"""

from sglang_patch import v0_5_10_post1
from sglang_patch._core import derive_patch_set
from sglang_patch.wiring.tokenizer_manager import SpecsTokenizerManagerPatch

PATCHES = derive_patch_set(v0_5_10_post1.PATCHES, "0.5.12.post1", replace={"tokenizer_manager": SpecsTokenizerManagerPatch})
