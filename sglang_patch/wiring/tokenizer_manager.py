"""Patch ``tokenizer_manager``: the one path to the schedulers, and generation behind the refusal rule.

Stock ``TokenizerManager.release_memory_occupation`` / ``resume_memory_occupation``
(managers/tokenizer_manager.py:932-946) forward the request and drop the answer. The replacements
(``sglang_patch.memory_occupation.manager_side``) raise InvalidRequestError for a bad ``tags``,
``mode`` or ``timeout`` in the caller's process before anything reaches a scheduler, return the
replies (one per data-parallel rank), and mirror the memory state. The HTTP routes and Engine
methods call these methods too, so outside callers (verl calls the manager directly) get the
same checks. ``generate_request`` (:398) raises GenerationRefusedError while memory is released
or the weights are stale, before sending and when the scheduler refused a queued request; the
three ``update_weights_*`` methods (:832-930) mark the weights current after a success.
``__init__`` sets up the channel for the status request: a communicator, and its reply type in the
result dispatcher; ``get_memory_occupation`` is added.

``SpecsTokenizerManagerPatch``, next to the base, is the configuration for releases that build the
communicators from a list of specs (0.5.12.post1 on).
"""

import importlib
from typing import Optional, Tuple

from sglang_patch._core import Patch, Shape, add_to_dispatcher
from sglang_patch.memory_occupation import manager_side
from sglang_patch.wiring.scheduler import ALL_WEIGHT_UPDATES, WEIGHT_UPDATES

TOKENIZER_MANAGER = "sglang.srt.managers.tokenizer_manager.TokenizerManager."
INIT = TOKENIZER_MANAGER + "__init__"
RELEASE = TOKENIZER_MANAGER + "release_memory_occupation"
RESUME = TOKENIZER_MANAGER + "resume_memory_occupation"
GENERATE = TOKENIZER_MANAGER + "generate_request"
STATUS = TOKENIZER_MANAGER + "get_memory_occupation"
# Where 0.5.2 to 0.5.10.post1 keep ``_Communicator`` (0.4.x: the tokenizer manager's own module).
COMMUNICATOR_MIXIN = "sglang.srt.managers.tokenizer_communicator_mixin"
# What 0.5.12.post1 on build the tokenizer manager's communicators from (``init_communicators``).
COMMUNICATOR_SPECS = "sglang.srt.managers.tokenizer_control_mixin._COMMUNICATOR_SPECS"


class TokenizerManagerPatch(Patch):
    """The manager's memory methods, generation refusal, tracked weight updates and status channel.

    Hooks (class attributes; the defaults are 0.4.6.post5's layout, ``targets`` follow from them):
    - ``weight_updates``: the names of the weight updates whose success makes the weights current
      (``scheduler.ALL_WEIGHT_UPDATES`` from 0.5.4).
    - ``communicator_module``: the module whose ``_Communicator`` the status channel is built with
      (``COMMUNICATOR_MIXIN`` from 0.5.2).
    - ``communicator_specs``: where SGLang lists the communicators ``__init__`` builds
      (``COMMUNICATOR_SPECS``, 0.5.12.post1 on): the status request is one more entry there and
      ``__init__`` is left alone; None where ``__init__`` builds them one by one.
    """

    name = "tokenizer_manager"
    weight_updates: Tuple[str, ...] = WEIGHT_UPDATES
    communicator_module: str = "sglang.srt.managers.tokenizer_manager"
    communicator_specs: Optional[str] = None
    adds = (STATUS,)
    process = "server"
    requires = ("io_structs", "server_args")
    summary = (
        "TokenizerManager validates requests, returns the schedulers' replies, carries the status request, "
        "refuses generation while memory is released or weights are stale"
    )

    @property
    def updates(self) -> Tuple[str, ...]:
        """The tracked weight updates' targets."""
        return tuple(TOKENIZER_MANAGER + name for name in self.weight_updates)

    @property
    def targets(self) -> Tuple[str, ...]:
        return (self.communicator_specs or INIT, RELEASE, RESUME, GENERATE, *self.updates, STATUS)

    @property
    def shapes(self):
        """The wrappers take ``obj`` and ``request`` and pass them on; ``__init__``'s reads ``server_args``
        and builds a ``_Communicator``."""
        request = Shape(params=("obj", "request"))
        out = {target: request for target in (RELEASE, RESUME, GENERATE, *self.updates)}
        if not self.communicator_specs:
            out[INIT] = Shape(params=("server_args",))
            out[self.communicator_module + "._Communicator"] = Shape()
        return out

    def status_channel(self):
        """The replacements that give each manager ``get_memory_occupation_communicator`` and route
        the status reply to it: one more entry in ``communicator_specs``, or ``__init__`` builds it
        as stock builds the other communicators."""
        if self.communicator_specs:
            from sglang.srt.managers.io_struct import GetMemoryOccupationReqOutput

            specs = self.communicator_specs
            return {specs: self.original(specs) + [("get_memory_occupation", GetMemoryOccupationReqOutput)]}
        stock_init = self.original(INIT)
        communicator = importlib.import_module(self.communicator_module)._Communicator

        def __init__(manager, server_args, *args, **kwargs):
            stock_init(manager, server_args, *args, **kwargs)
            from sglang.srt.managers.io_struct import GetMemoryOccupationReqOutput

            status = communicator(manager.send_to_scheduler, server_args.dp_size)
            manager.get_memory_occupation_communicator = status
            add_to_dispatcher(manager._result_dispatcher, GetMemoryOccupationReqOutput, status.handle_recv)

        return self.marked({INIT: __init__})

    def replacements(self):
        stock_generate = self.original(GENERATE)

        async def release_memory_occupation(manager, obj, request=None):
            return await manager_side.release_memory_occupation(manager, obj)

        async def resume_memory_occupation(manager, obj, request=None):
            return await manager_side.resume_memory_occupation(manager, obj)

        async def get_memory_occupation(manager, obj=None, request=None):
            """Every scheduler's memory state (one GetMemoryOccupationReqOutput per DP rank)."""
            return await manager_side.get_memory_occupation(manager, obj)

        async def generate_request(manager, obj, request=None):
            async for out in manager_side.generate(manager, stock_generate, obj, request):
                yield out

        new = {
            RELEASE: release_memory_occupation,
            RESUME: resume_memory_occupation,
            GENERATE: generate_request,
            STATUS: get_memory_occupation,
        }
        for target in self.updates:
            new[target] = self._tracked_update(target)
        return {**self.status_channel(), **self.marked(new)}

    def _tracked_update(self, target: str):
        stock = self.original(target)

        async def update(manager, obj, request=None):
            result = await stock(manager, obj, request)
            manager_side.weights_updated(manager, result)
            return result

        return update


class SpecsTokenizerManagerPatch(TokenizerManagerPatch):
    """0.5.12.post1 on: the communicators are built from ``_COMMUNICATOR_SPECS``
    (managers/tokenizer_control_mixin.py; ``_Communicator`` and tokenizer_communicator_mixin.py are
    gone), so the status request is one more entry there; every weight update is tracked."""

    weight_updates = ALL_WEIGHT_UPDATES
    communicator_specs = COMMUNICATOR_SPECS
