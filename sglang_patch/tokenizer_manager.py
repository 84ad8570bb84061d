"""Patch ``tokenizer_manager``: check requests before they leave, return the schedulers' replies.

Stock ``TokenizerManager.release_memory_occupation`` / ``resume_memory_occupation``
(managers/tokenizer_manager.py:932-946) forward the request and drop the answer. Here a bad
``tags`` (or release ``mode``/``timeout``) raises InvalidRequestError in the caller's process
(Engine or HTTP server) before anything reaches a scheduler, and the list of replies (one per
data-parallel rank) comes back. ``__init__`` also sets up the channel for the status request
(``get_memory_occupation``): a communicator, and its reply type in the result dispatcher.
"""

from sglang_patch._core import Patch
from sglang_patch.tags import check_release_options, normalize_tags

_TM = "sglang.srt.managers.tokenizer_manager.TokenizerManager."


async def release_memory_occupation(manager, obj, request=None):
    normalize_tags(obj.tags)
    check_release_options(obj.mode, obj.timeout)
    manager.auto_create_handle_loop()
    return await manager.release_memory_occupation_communicator(obj)


async def resume_memory_occupation(manager, obj, request=None):
    normalize_tags(obj.tags)
    manager.auto_create_handle_loop()
    return await manager.resume_memory_occupation_communicator(obj)


async def get_memory_occupation(manager):
    """Every scheduler's memory state: a list with one reply per data-parallel rank."""
    from sglang_patch.io_structs import GetMemoryOccupationReqInput

    manager.auto_create_handle_loop()
    return await manager._sglang_patch_status_communicator(GetMemoryOccupationReqInput())


class TokenizerManagerPatch(Patch):
    name = "tokenizer_manager"
    targets = (_TM + "release_memory_occupation", _TM + "resume_memory_occupation", _TM + "__init__")
    process = "server"
    summary = "TokenizerManager validates requests, returns the schedulers' replies, carries the status request"

    def replacements(self):
        release, resume, init = self.targets
        stock_init = self.original(init)

        def __init__(manager, server_args, *args, **kwargs):
            stock_init(manager, server_args, *args, **kwargs)
            from sglang.srt.managers.tokenizer_manager import _Communicator
            from sglang_patch.io_structs import GetMemoryOccupationReqOutput

            status = _Communicator(manager.send_to_scheduler, server_args.dp_size)
            manager._sglang_patch_status_communicator = status
            manager._result_dispatcher._mapping.append((GetMemoryOccupationReqOutput, status.handle_recv))

        return self.marked(
            {release: release_memory_occupation, resume: resume_memory_occupation, init: __init__}
        )
