"""``Engine``: release/resume by tag and the status, through the tokenizer manager's methods.

``Engine.release_memory_occupation(tags=None, mode="wait", timeout=None)`` and
``resume_memory_occupation(tags=None)`` return the reply as a dict (``released_tags``,
``changed_tags``, ``weights_current``, ``message``...) and raise ``MemoryOccupationError`` when
the scheduler refused (busy, no room, failed) or ``InvalidRequestError`` for bad input;
``get_memory_occupation()`` returns the status. Each builds the request and awaits the same
``TokenizerManager`` method the HTTP routes and outside callers use, as stock Engine methods do.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .manager_side import MemoryOccupationError, summarize, summarize_status
from .sglang_compat import engine_loop


def _run(engine, coro):
    """Run ``coro`` on the Engine's event loop, as stock methods do."""
    return engine_loop(engine).run_until_complete(coro)


def _reply(outputs: List[Any]) -> Dict[str, Any]:
    reply = summarize(outputs)
    if not reply["success"]:
        raise MemoryOccupationError(reply)
    return reply


def release_memory_occupation(engine, tags: Optional[List[str]] = None, mode: str = "wait",
                              timeout: Optional[float] = None) -> Dict[str, Any]:
    """Release GPU memory by tag ("weights", "kv_cache"); None or [] releases all.

    ``mode`` says what happens to requests still running: "wait" (default, up to ``timeout``
    seconds, 60 if None), "abort" them, or "reject" the release at once.
    """
    from sglang.srt.managers.io_struct import ReleaseMemoryOccupationReqInput

    obj = ReleaseMemoryOccupationReqInput(tags=tags, mode=mode, timeout=timeout)
    return _reply(_run(engine, engine.tokenizer_manager.release_memory_occupation(obj, None)))


def resume_memory_occupation(engine, tags: Optional[List[str]] = None) -> Dict[str, Any]:
    """Resume GPU memory by tag, weights before kv_cache; None or [] resumes all."""
    from sglang.srt.managers.io_struct import ResumeMemoryOccupationReqInput

    obj = ResumeMemoryOccupationReqInput(tags=tags)
    return _reply(_run(engine, engine.tokenizer_manager.resume_memory_occupation(obj, None)))


def get_memory_occupation(engine) -> Dict[str, Any]:
    """Per tag and TP rank: "resident"/"released", bytes, and whether the weights are current."""
    from sglang.srt.managers.io_struct import GetMemoryOccupationReqInput

    return summarize_status(_run(engine, engine.tokenizer_manager.get_memory_occupation(GetMemoryOccupationReqInput())))
