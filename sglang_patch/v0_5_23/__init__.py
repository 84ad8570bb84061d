"""The patch set for SGLang 0.5.23 (the newest on PyPI): 0.5.17's, with the server flags on a record.

0.5.23 keeps 0.5.17's layout for everything the patches touch (msgspec io structs, release/resume
and the weight updates on the scheduler's weight updater, the tokenizer manager's
``_COMMUNICATOR_SPECS``, ``run_scheduler_process_func``, per-phase CUDA graph backends, the memory
routes' ``ADMIN_OPTIONAL`` auth level). What differs:
- ``ServerArgs`` is a msgspec record, not a dataclass: the flags ride on it as attributes
  (``wiring.server_args.ServerArgsRecordPatch``).
- The scheduler keeps no parallel sizes: the shared code reads them from SGLang's runtime context
  (``sglang_compat.parallel_state``); io_struct's msgpack decoder takes an ``ext_hook`` (``io_structs``, shared).
- Tensor and distributed weight updates are taken only inside a weight-update session
  (managers/scheduler_components/weight_updater.py:192, :233): the scheduler patch's update guard
  opens one around a bare update and closes it after (``weight_updates._in_a_session``, shared,
  found by feature; docs/patches.md, "Weight-update sessions").
"""

from sglang_patch import v0_5_17
from sglang_patch._core import derive_patch_set
from sglang_patch.wiring.server_args import ServerArgsRecordPatch

PATCHES = derive_patch_set(v0_5_17.PATCHES, "0.5.23", replace={"server_args": ServerArgsRecordPatch})
