"""Patch ``engine``: ``Engine.release_memory_occupation(tags=None)``, ``resume_memory_occupation``
and ``get_memory_occupation()``.

Stock ``Engine`` (entrypoints/engine.py:442-456) takes no tags and returns None. The replacements
(``sglang_patch.memory_occupation.engine_api``) take ``tags`` (None or [] means all; release also
``mode`` and ``timeout``), await the tokenizer manager's methods like stock, return the reply as a
dict and raise ``MemoryOccupationError`` / ``InvalidRequestError``. Upstream 0.4.8 gained the
same signature.
"""

from sglang_patch._core import Patch
from sglang_patch.memory_occupation import engine_api

_ENGINE = "sglang.srt.entrypoints.engine.Engine."
RELEASE = _ENGINE + "release_memory_occupation"
RESUME = _ENGINE + "resume_memory_occupation"
STATUS = _ENGINE + "get_memory_occupation"


class EnginePatch(Patch):
    name = "engine"
    targets = (RELEASE, RESUME, STATUS)
    adds = (STATUS,)
    process = "server"
    requires = ("tokenizer_manager",)
    summary = "Engine.release/resume_memory_occupation(tags=None) return the reply; Engine.get_memory_occupation()"

    def replacements(self):
        def release_memory_occupation(self, tags=None, mode="wait", timeout=None):
            return engine_api.release_memory_occupation(self, tags=tags, mode=mode, timeout=timeout)

        def resume_memory_occupation(self, tags=None):
            return engine_api.resume_memory_occupation(self, tags=tags)

        def get_memory_occupation(self):
            return engine_api.get_memory_occupation(self)

        for fn, logic in ((release_memory_occupation, engine_api.release_memory_occupation),
                          (resume_memory_occupation, engine_api.resume_memory_occupation),
                          (get_memory_occupation, engine_api.get_memory_occupation)):
            fn.__doc__ = logic.__doc__
        return self.marked(
            {RELEASE: release_memory_occupation, RESUME: resume_memory_occupation, STATUS: get_memory_occupation}
        )
