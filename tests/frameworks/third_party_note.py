"""What the stand-in third-party source patch calls from inside SGLang's release/resume: one JSON
line per call in the file ``$THIRD_PARTY_NOTES`` (see test_frameworks.py, wrap-don't-replace)."""

import json
import os


def note(what: str, recv_req) -> None:
    with open(os.environ["THIRD_PARTY_NOTES"], "a") as f:
        f.write(json.dumps({"what": what, "tags": list(recv_req.tags or []), "pid": os.getpid()}) + "\n")
