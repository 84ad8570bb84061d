"""Patch ``engine``: ``Engine.release_memory_occupation(tags=None)``, ``resume_memory_occupation``
and ``get_memory_occupation()``.

Stock ``Engine`` (entrypoints/engine.py:442-456) takes no tags and returns None. Here both methods
take ``tags`` (None or [] means all; release also ``mode`` and ``timeout``), return the reply as a
dict (``released_tags``, ``changed_tags``, ``weights_current``, ``message``...) and raise
``MemoryOccupationError`` when the scheduler refused (busy, no room, failed) or
``InvalidRequestError`` for bad tags. Upstream 0.4.8 gained the same signature.
"""

from typing import List, Optional

from sglang_patch._core import Patch
from sglang_patch.memory_occupation import frontend

_ENGINE = "sglang.srt.entrypoints.engine.Engine."


def release_memory_occupation(self, tags: Optional[List[str]] = None, mode: str = "wait", timeout: Optional[float] = None):
    """Release GPU memory by tag ("weights", "kv_cache"); None or [] releases all.

    ``mode`` says what happens to requests still running: "wait" (default, up to ``timeout``
    seconds, 60 if None), "abort" them, or "reject" the release at once.
    """
    return frontend.engine_release(self, tags=tags, mode=mode, timeout=timeout)


def resume_memory_occupation(self, tags: Optional[List[str]] = None):
    """Resume GPU memory by tag, weights before kv_cache; None or [] resumes all."""
    return frontend.engine_resume(self, tags=tags)


def get_memory_occupation(self):
    """Per tag and TP rank: "resident"/"released", bytes, and whether the weights are current."""
    return frontend.engine_status(self)


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
        return self.marked(
            {release: release_memory_occupation, resume: resume_memory_occupation, status: get_memory_occupation}
        )
