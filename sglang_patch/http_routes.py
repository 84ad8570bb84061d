"""Patch ``http_routes``: release/resume by tag over HTTP, and ``GET /memory_occupation``.

Stock routes (entrypoints/http_server.py:483-502) bind the empty request dataclass, so ``tags``
is dropped, a missing body is a 422 and the reply is ``null``. The patch swaps the two routes in
the app's route list (revert puts the original list back) for thin handlers that:
- take ``{"tags": [...]}``, an empty body or ``{}`` meaning all tags;
- answer 200 with ``{"success", "message", "released_tags", "changed_tags", ...}``;
- answer 400 for a body that is not a JSON object, unknown fields or bad tags, 409 when requests
  are running, 500 when the scheduler failed — always JSON with a message naming the fix.
``GET /memory_occupation`` answers the state of each tag per TP rank. Handlers reach the engine
only through the tokenizer manager, as stock routes do.
"""

from __future__ import annotations

import dataclasses
import json

from sglang_patch._core import Patch
from sglang_patch.io_structs import HTTP_STATUS, summarize, summarize_status
from sglang_patch.tags import InvalidRequestError

_APP_ROUTES = "sglang.srt.entrypoints.http_server.app.router.routes"
_PATHS = {
    "/release_memory_occupation": ("ReleaseMemoryOccupationReqInput", "release_memory_occupation"),
    "/resume_memory_occupation": ("ResumeMemoryOccupationReqInput", "resume_memory_occupation"),
}


_STATUS_PATH = "/memory_occupation"


async def memory_occupation():
    """Per tag and TP rank: "resident"/"released", bytes, and whether the weights are current."""
    from fastapi.responses import JSONResponse
    from sglang.srt.entrypoints import http_server
    from sglang_patch.tokenizer_manager import get_memory_occupation

    try:
        outputs = await get_memory_occupation(http_server._global_state.tokenizer_manager)
    except Exception as e:
        return _error(500, "failed", f"memory_occupation failed: {e!r}")
    return JSONResponse(summarize_status(outputs))


def _error(status: int, error: str, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"success": False, "error": error, "message": message}, status_code=status)


async def _read_object(request, request_cls) -> dict:
    """The JSON body as a dict of the request's fields; raises ValueError naming the problem."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"body is not valid JSON ({e}); send e.g. {{\"tags\": [\"kv_cache\"]}}") from None
    if not isinstance(body, dict):
        raise ValueError(f"body must be a JSON object such as {{\"tags\": [\"kv_cache\"]}}, got {body!r}")
    allowed = [f.name for f in dataclasses.fields(request_cls)]
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; this route takes {allowed}")
    return body


def _handler(request_cls_name: str, method_name: str):
    async def handle(request):
        from fastapi.responses import JSONResponse
        from sglang.srt.entrypoints import http_server
        from sglang.srt.managers import io_struct

        request_cls = getattr(io_struct, request_cls_name)
        try:
            obj = request_cls(**await _read_object(request, request_cls))
            manager = http_server._global_state.tokenizer_manager
            outputs = await getattr(manager, method_name)(obj, request)
        except (ValueError, InvalidRequestError) as e:
            return _error(400, "invalid_request", str(e))
        except Exception as e:
            return _error(500, "failed", f"{method_name} failed: {e!r}")
        reply = summarize(outputs)
        return JSONResponse(reply, status_code=HTTP_STATUS.get(reply["error"], 500))

    handle.__name__ = method_name
    handle.__doc__ = f"{method_name} by tag: body {{\"tags\": [...]}}; empty body means all tags."
    return handle


class HTTPRoutesPatch(Patch):
    name = "http_routes"
    targets = (_APP_ROUTES,)
    process = "server"
    summary = "HTTP release/resume routes take {\"tags\": [...]} and answer JSON with clear errors"

    def replacements(self):
        from fastapi import Request
        from fastapi.routing import APIRoute

        stock_routes = self.original(_APP_ROUTES)
        routes = [r for r in stock_routes if getattr(r, "path", None) not in (*_PATHS, _STATUS_PATH)]
        for path, (request_cls_name, method_name) in _PATHS.items():
            endpoint = _handler(request_cls_name, method_name)
            endpoint.__annotations__ = {"request": Request}
            routes.append(APIRoute(path, endpoint, methods=["POST", "GET"]))
        routes.append(APIRoute(_STATUS_PATH, memory_occupation, methods=["GET"]))
        return {_APP_ROUTES: routes}
