"""Patch ``tokenizer_manager``: check the tags before they leave, and return the schedulers' replies.

Stock ``TokenizerManager.release_memory_occupation`` / ``resume_memory_occupation``
(managers/tokenizer_manager.py:932-946) forward the request and drop the answer. Here a bad
``tags`` (or release ``mode``/``timeout``) raises InvalidRequestError in the caller's process (Engine or HTTP server) before
anything reaches a scheduler, and the list of replies (one per data-parallel rank) comes back.
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


class TokenizerManagerPatch(Patch):
    name = "tokenizer_manager"
    targets = (_TM + "release_memory_occupation", _TM + "resume_memory_occupation")
    process = "server"
    summary = "TokenizerManager validates tags and returns the schedulers' replies"

    def replacements(self):
        return self.marked(dict(zip(self.targets, (release_memory_occupation, resume_memory_occupation))))
