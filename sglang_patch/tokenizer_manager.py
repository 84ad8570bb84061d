"""Patch ``tokenizer_manager``: check requests, return replies, refuse generation on released memory.

Stock ``TokenizerManager.release_memory_occupation`` / ``resume_memory_occupation``
(managers/tokenizer_manager.py:932-946) forward the request and drop the answer. The replacements
(``sglang_patch.memory_occupation.frontend``) raise InvalidRequestError for a bad ``tags``,
``mode`` or ``timeout`` in the caller's process (Engine or HTTP server) before anything reaches a
scheduler, return the replies (one per data-parallel rank), and mirror the memory state.
``generate_request`` (:398) refuses while memory is released or the weights are stale
(GenerationRefusedError, a ValueError); the three ``update_weights_*`` methods (:832-930) mark
the weights current after a success. ``__init__`` sets up the channel for the status request:
a communicator, and its reply type in the result dispatcher; ``get_memory_occupation`` is added.
"""

from sglang_patch._core import Patch
from sglang_patch.memory_occupation import frontend

_TM = "sglang.srt.managers.tokenizer_manager.TokenizerManager."
_UPDATES = ("update_weights_from_disk", "update_weights_from_distributed", "update_weights_from_tensor")


async def get_memory_occupation(manager):
    """Every scheduler's memory state (one GetMemoryOccupationReqOutput per DP rank)."""
    return await frontend.get_memory_occupation(manager)


class TokenizerManagerPatch(Patch):
    name = "tokenizer_manager"
    targets = (
        _TM + "release_memory_occupation", _TM + "resume_memory_occupation", _TM + "__init__", _TM + "generate_request"
    ) + tuple(_TM + name for name in _UPDATES) + (_TM + "get_memory_occupation",)
    adds = (_TM + "get_memory_occupation",)
    process = "server"
    summary = (
        "TokenizerManager validates requests, returns the schedulers' replies, carries the status request, "
        "refuses generation while memory is released or weights are stale"
    )

    def replacements(self):
        release, resume, init, generate = self.targets[:4]
        stock_init = self.original(init)
        stock_generate = self.original(generate)

        async def release_memory_occupation(manager, obj, request=None):
            return await frontend.release_memory_occupation(manager, obj)

        async def resume_memory_occupation(manager, obj, request=None):
            return await frontend.resume_memory_occupation(manager, obj)

        def __init__(manager, server_args, *args, **kwargs):
            stock_init(manager, server_args, *args, **kwargs)
            from sglang.srt.managers.io_struct import GetMemoryOccupationReqOutput
            from sglang.srt.managers.tokenizer_manager import _Communicator

            status = _Communicator(manager.send_to_scheduler, server_args.dp_size)
            manager.get_memory_occupation_communicator = status
            manager._result_dispatcher._mapping.append((GetMemoryOccupationReqOutput, status.handle_recv))

        async def generate_request(manager, obj, request=None):
            frontend.check_can_generate(manager)
            async for out in stock_generate(manager, obj, request):
                yield out

        new = {
            release: release_memory_occupation,
            resume: resume_memory_occupation,
            init: __init__,
            generate: generate_request,
        }
        for name in _UPDATES:
            new[_TM + name] = self._tracked_update(name)
        new[_TM + "get_memory_occupation"] = get_memory_occupation
        return self.marked(new)

    def _tracked_update(self, method_name: str):
        stock = self.original(_TM + method_name)

        async def update(manager, obj, request=None):
            result = await stock(manager, obj, request)
            frontend.weights_updated(manager, result)
            return result

        return update
