"""Whether the model may generate now: the one rule, the one error, and how a refusal travels.

Generation is refused while a tag is released, while a release is in progress, and while the
weights are stale (``weights`` resumed without ``--weights-cpu-backup`` and no weight update
since; ``--allow-stale-weights`` lifts that). ``generation_refusal`` is that rule, written once:
the tokenizer manager applies it to its mirror of the memory state before a request is sent, and
the scheduler applies it to its ledger to a request that raced past that check into its queue.

Either way the caller gets the same answer: ``GenerationRefusedError`` from
``TokenizerManager.generate_request`` (so from ``Engine.generate`` and every HTTP route that
generates), whose ``reply`` is the JSON body of the HTTP 503. The scheduler sends its refusal as
the finish reason of the request (``FINISH_ABORT`` with ``err_type`` = ``REFUSED`` and the reply
as JSON in ``message``); ``refusal_in`` turns it back into the reply on the frontend.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any, Callable, Dict, Iterable, NoReturn, Optional

from .errors import MEMORY_RELEASED, MEMORY_RELEASING, WEIGHTS_STALE

# The finish reason's err_type of a request the scheduler refused.
REFUSED = "generation_refused"


class GenerationRefusedError(RuntimeError):
    """Generation asked for while memory is released or the weights are stale; ``reply`` says why.

    Not a ValueError on purpose: SGLang's routes turn ValueError into a 400, this is a 503.
    """

    def __init__(self, reply: Dict[str, Any]):
        super().__init__(reply["message"])
        self.reply = reply


# Who is told of a refusal raised in the current context: the HTTP middleware sets one per request
# (http_api.RefusalTo503), so the 503 does not depend on how the route handles exceptions.
refusal_listener: contextvars.ContextVar[Optional[Callable[[Dict[str, Any]], None]]] = contextvars.ContextVar(
    "sglang_patch_refusal_listener", default=None
)


def refuse(reply: Dict[str, Any]) -> NoReturn:
    """Raise GenerationRefusedError(reply), telling the listener of this context first."""
    listener = refusal_listener.get()
    if listener is not None:
        listener(reply)
    raise GenerationRefusedError(reply)


def generation_refusal(
    released: Iterable[str], releasing: bool, weights_current: bool, allow_stale_weights: bool
) -> Optional[Dict[str, Any]]:
    """Why the model cannot generate now (the JSON reply of a 503), or None if it can."""
    released = sorted(released)
    if released:
        error = MEMORY_RELEASED
        message = (
            f"GPU memory {released} is released; generation is refused until it is resumed: "
            f'POST /resume_memory_occupation {{"tags": {json.dumps(released)}}} '
            f"(or Engine.resume_memory_occupation(tags={released}))"
        )
    elif releasing:
        error = MEMORY_RELEASING
        message = ("a release of GPU memory is in progress; generate again once it has answered "
                   "(and, if it released memory, after the resume)")
    elif not weights_current and not allow_stale_weights:
        error = WEIGHTS_STALE
        message = ("the weights were resumed without a backup and hold no data yet: push them first "
                   "(update_weights_from_tensor, update_weights_from_disk or update_weights_from_distributed). "
                   "Start the server with --weights-cpu-backup to keep them across a release, or with "
                   "--allow-stale-weights to generate anyway")
    else:
        return None
    return {"success": False, "error": error, "message": message, "released_tags": released,
            "weights_current": weights_current}


def refusal_abort(reply: Dict[str, Any]):
    """The scheduler's finish reason for a queued request it refuses with ``reply``.

    No status code in it: ``refusal_in`` reads the err_type, and the caller's 503 comes from
    GenerationRefusedError. From 0.4.9 SGLang's tokenizer manager handles a finish reason with
    status code 503 itself (the queue-full abort: it deletes the request's state a second time,
    KeyError, and raises an HTTPException), which would cut the refusal short."""
    from sglang.srt.managers.schedule_batch import FINISH_ABORT

    return FINISH_ABORT(message=json.dumps(reply), status_code=None, err_type=REFUSED)


def refusal_in(output: Any) -> Optional[Dict[str, Any]]:
    """The scheduler's refusal carried by a generate output (a dict, or a list for a batch), or None."""
    for out in output if isinstance(output, list) else [output]:
        reason = out.get("meta_info", {}).get("finish_reason") if isinstance(out, dict) else None
        if isinstance(reason, dict) and reason.get("err_type") == REFUSED:
            return json.loads(reason["message"])
    return None
