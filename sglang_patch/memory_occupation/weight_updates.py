"""Weight updates in one scheduler: resume released weights first, refuse instead of crashing, sessions.

A weight update while ``weights`` is released maps them back first (the resume of
release_resume.py, pre-check included), then updates, and says so in its reply; a success makes
the weights current again. An update that raises answers a failure instead of taking the
scheduler down. Where SGLang takes tensor and distributed updates only inside a weight-update
session (0.5.23), a bare one runs in a session opened and closed for it (``_in_a_session``).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, Callable

from .ledger import MemoryLedger
from .release_resume import resume_tags
from .sglang_compat import update_selector, weight_update_session_holder
from .tags import WEIGHTS

logger = logging.getLogger(__name__)


# Scheduler handler -> its reply class (io_struct); from_ipc (checkpoint-engine) exists from 0.5.
WEIGHT_UPDATES = {
    "update_weights_from_disk": "UpdateWeightFromDiskReqOutput",
    "update_weights_from_distributed": "UpdateWeightsFromDistributedReqOutput",
    "update_weights_from_tensor": "UpdateWeightsFromTensorReqOutput",
    "update_weights_from_ipc": "UpdateWeightsFromIPCReqOutput",
}


def update_weights(scheduler, method_name: str, recv_req, run: Callable[[Any], Any]):
    """A weight update (``run`` is SGLang's). While the weights are released they are resumed first
    (the KV cache may stay released); a resume that does not fit refuses the update. A success
    makes the weights current again."""
    ledger = MemoryLedger.of(scheduler)
    resumed = ""
    if WEIGHTS in ledger.released:
        reply = resume_tags(scheduler, [WEIGHTS])
        if not reply.success:
            return _refused_update(method_name, f"the weights are released and resuming them first failed: {reply.message}")
        resumed = "resumed ['weights'] first (they were released); "
    try:
        result, session = _in_a_session(scheduler, method_name, recv_req, run)
    except Exception as e:  # SGLang lets it take the scheduler, and the server, down
        logger.exception("%s failed", method_name)
        return _refused_update(
            method_name, f"{method_name} failed: {type(e).__name__}: {e}. {UPDATE_HINTS.get(method_name, '')}"
            "The server keeps serving; if the failure came after some weights were loaded they are "
            "partly updated: send the whole update again."
        )
    if result.success:
        ledger.weights_current = True
    if resumed or session:
        result.message = resumed + session + (result.message or "")
    return result


# The updates SGLang 0.5.23 takes only inside a weight-update session (/begin_weight_update ...
# /end_weight_update): bare, they are refused (managers/scheduler_components/weight_updater.py:192,
# :233). Releases before 0.5.23 have no sessions.
SESSION_UPDATES = ("update_weights_from_distributed", "update_weights_from_tensor")


def _in_a_session(scheduler, method_name: str, recv_req, run: Callable[[Any], Any]):
    """(``run(recv_req)``'s reply, what to say about a session). A bare update (no session open) of
    a release that takes it only inside one runs in a session opened for it and closed after it,
    as SGLang's own sequence begin/update/end would, so frameworks written before sessions
    (slime, verl: one bare call per bucket) keep working; an update inside a session the caller
    opened runs as it is (docs/patches.md, "Weight-update sessions")."""
    holder = weight_update_session_holder(scheduler)
    if method_name not in SESSION_UPDATES or holder is None or holder._session is not None:
        return run(recv_req), ""
    from sglang.srt.managers import io_struct

    opened = holder.begin_weight_update(io_struct.BeginWeightUpdateReqInput(selector=update_selector(recv_req)))
    if not opened.success:
        return _refused_update(method_name, f"opening a weight-update session for it failed: {opened.message}"), ""
    try:
        result = run(recv_req)
    finally:
        try:
            closed = holder.end_weight_update(io_struct.EndWeightUpdateReqInput())
        except Exception as e:  # noqa: BLE001 - said in the reply; SGLang would keep the session open
            holder._session = None  # else every later bare update would count as inside a caller's session
            closed = SimpleNamespace(success=False, message=f"{type(e).__name__}: {e}")
    if not closed.success and result.success:
        result = _refused_update(method_name, f"the weights were updated, but closing the weight-update session "
                                              f"opened for it failed: {closed.message}")
    return result, "in a weight-update session opened and closed for it (none was open); "


# What a weight update that raised most likely got wrong, for its error message.
UPDATE_HINTS = {
    "update_weights_from_tensor": (
        "serialized_named_tensors must hold one entry per TP rank, each "
        "MultiprocessingSerializer.serialize([(name, tensor), ...]) (over HTTP: base64 text). "
    ),
}


def _refused_update(method_name: str, message: str):
    from sglang.srt.managers import io_struct

    return getattr(io_struct, WEIGHT_UPDATES[method_name])(success=False, message=message)  # keyword-only from 0.5.17
