"""The ``error`` codes of every reply, each defined next to the HTTP status it answers with.

A release or resume reply (the scheduler's ``ReleaseMemoryOccupationReqOutput`` /
``ResumeMemoryOccupationReqOutput``, the Engine's dict, the HTTP JSON body) carries ``error``:
``OK`` ("") on success, else one of the codes below. A refused generation (refusal.py) carries
one of the 503 codes. Callers match on these strings: they are the wire protocol, never renamed.
"""

from __future__ import annotations

from typing import Dict

# error code -> HTTP status (http_api.py answers with it; an unknown code answers 500).
HTTP_STATUS: Dict[str, int] = {}


def _code(code: str, status: int) -> str:
    HTTP_STATUS[code] = status
    return code


# -- a release or resume ----------------------------------------------------------------------
OK = _code("", 200)
INVALID_REQUEST = _code("invalid_request", 400)  # bad tags, mode, timeout or body; nothing was done
BUSY = _code("busy", 409)  # requests are running (mode "reject", a timed-out wait) or a release waits
INSUFFICIENT_MEMORY = _code("insufficient_memory", 507)  # no room to resume: the tags stay released
FAILED = _code("failed", 500)  # raised on some TP rank; the reply says what was done before

# -- a generation refused (refusal.py): the server is alive, the model may not generate now -----
REFUSED_STATUS = 503
MEMORY_RELEASED = _code("memory_released", REFUSED_STATUS)  # a tag is released
MEMORY_RELEASING = _code("memory_releasing", REFUSED_STATUS)  # a release is in progress
WEIGHTS_STALE = _code("weights_stale", REFUSED_STATUS)  # resumed without a backup, not updated since
