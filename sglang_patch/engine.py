"""Patch ``engine``: ``Engine.release_memory_occupation(tags=None)`` and ``resume_memory_occupation``.

Stock ``Engine`` (entrypoints/engine.py:442-456) takes no tags and returns None. Here both methods
take ``tags`` (None or [] means all; release also ``mode`` and ``timeout``), return the reply as a dict (``released_tags``,
``changed_tags``, ``message``...) and raise ``MemoryOccupationError`` when the scheduler refused
(busy, failed) or ``InvalidRequestError`` for bad tags. Upstream 0.4.8 gained the same signature.
"""

import asyncio
from typing import List, Optional

from sglang_patch._core import Patch
from sglang_patch.io_structs import MemoryOccupationError, summarize, summarize_status

_ENGINE = "sglang.srt.entrypoints.engine.Engine."


def _call(engine, request_cls_name: str, method_name: str, **fields):
    from sglang.srt.managers import io_struct

    obj = getattr(io_struct, request_cls_name)(**fields)
    method = getattr(engine.tokenizer_manager, method_name)
    loop = asyncio.get_event_loop()
    reply = summarize(loop.run_until_complete(method(obj, None)))
    if not reply["success"]:
        raise MemoryOccupationError(reply)
    return reply


def release_memory_occupation(self, tags: Optional[List[str]] = None, mode: str = "wait", timeout: Optional[float] = None):
    """Release GPU memory by tag ("weights", "kv_cache"); None or [] releases all.

    ``mode`` says what happens to requests still running: "wait" (default, up to ``timeout``
    seconds, 60 if None), "abort" them, or "reject" the release at once.
    """
    return _call(self, "ReleaseMemoryOccupationReqInput", "release_memory_occupation", tags=tags, mode=mode, timeout=timeout)


def resume_memory_occupation(self, tags: Optional[List[str]] = None):
    """Resume GPU memory by tag, weights before kv_cache; None or [] resumes all."""
    return _call(self, "ResumeMemoryOccupationReqInput", "resume_memory_occupation", tags=tags)


def get_memory_occupation(self):
    """Per tag and TP rank: "resident"/"released", bytes, and whether the weights are current."""
    from sglang_patch.tokenizer_manager import get_memory_occupation as ask

    return summarize_status(asyncio.get_event_loop().run_until_complete(ask(self.tokenizer_manager)))


class EnginePatch(Patch):
    name = "engine"
    targets = (
        _ENGINE + "release_memory_occupation",
        _ENGINE + "resume_memory_occupation",
        _ENGINE + "get_memory_occupation",
    )
    adds = (_ENGINE + "get_memory_occupation",)
    process = "server"
    summary = "Engine.release/resume_memory_occupation(tags=None) return the reply; Engine.get_memory_occupation()"

    def replacements(self):
        release, resume, status = self.targets
        new = self.marked({release: release_memory_occupation, resume: resume_memory_occupation})
        get_memory_occupation.__sglang_patch__ = self.name
        return {**new, status: get_memory_occupation}
