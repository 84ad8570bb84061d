"""HTTP: the memory routes, and the mapping of a generation refusal to 503.

- ``POST /release_memory_occupation`` and ``/resume_memory_occupation`` take ``{"tags": [...]}``
  (empty body or ``{}``: all tags) and answer JSON: 200, 400 invalid request, 409 busy, 507 no
  room to resume, 500 failed. ``GET /memory_occupation`` answers the state per tag and TP rank.
  The handlers are thin: they parse the body and call the tokenizer manager's methods
  (manager_side.py), the same ones the Engine and outside callers use.
- ``RefusalTo503``: every route that reaches ``TokenizerManager.generate_request`` while
  generation is refused answers 503 with the refusal's JSON (refusal.py). No list of routes: the
  refusal is raised inside ``generate_request`` and noted on the HTTP request it belongs to; the
  middleware holds the response's start until its body begins, so it can still answer 503 for a
  streaming route and for one that runs the generation in a task of its own (/health_generate).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from fastapi import Request
from fastapi.responses import JSONResponse

from .errors import FAILED, HTTP_STATUS, INVALID_REQUEST, REFUSED_STATUS
from .manager_side import summarize, summarize_status
from .refusal import refusal_listener
from .sglang_compat import request_fields
from .tags import InvalidRequestError


def _json(body: Dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _error(error: str, message: str) -> JSONResponse:
    return _json({"success": False, "error": error, "message": message}, HTTP_STATUS[error])


async def _read_object(request: Request, request_cls) -> Dict[str, Any]:
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
    allowed = request_fields(request_cls)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; this route takes {allowed}")
    return body


def memory_routes(get_manager: Callable[[], Any]) -> Dict[str, Tuple[Callable[..., Any], List[str]]]:
    """path -> (endpoint, methods) for the three memory routes, reaching the manager via ``get_manager``."""
    from sglang.srt.managers import io_struct  # its request classes are read per call: io_structs widens them

    async def call(request: Request, request_cls_name: str, method_name: str):
        request_cls = getattr(io_struct, request_cls_name)
        try:
            obj = request_cls(**await _read_object(request, request_cls))
            outputs = await getattr(get_manager(), method_name)(obj)
        except (ValueError, InvalidRequestError) as e:
            return _error(INVALID_REQUEST, str(e))
        except Exception as e:
            return _error(FAILED, f"{method_name} failed: {e!r}")
        reply = summarize(outputs)
        return _json(reply, HTTP_STATUS.get(reply["error"], HTTP_STATUS[FAILED]))

    async def release_memory_occupation(request: Request):
        """POST /release_memory_occupation {"tags": [...], "mode": "wait", "timeout": null}; empty body: all tags."""
        return await call(request, "ReleaseMemoryOccupationReqInput", "release_memory_occupation")

    async def resume_memory_occupation(request: Request):
        """POST /resume_memory_occupation {"tags": [...]}; empty body: all tags, weights first."""
        return await call(request, "ResumeMemoryOccupationReqInput", "resume_memory_occupation")

    async def memory_occupation():
        """GET /memory_occupation: per tag and TP rank, "resident"/"released", bytes, weights current."""
        try:
            outputs = await get_manager().get_memory_occupation(io_struct.GetMemoryOccupationReqInput())
        except Exception as e:
            return _error(FAILED, f"memory_occupation failed: {e!r}")
        return _json(summarize_status(outputs), 200)

    return {
        "/release_memory_occupation": (release_memory_occupation, ["POST", "GET"]),
        "/resume_memory_occupation": (resume_memory_occupation, ["POST", "GET"]),
        "/memory_occupation": (memory_occupation, ["GET"]),
    }


# -- a refusal anywhere in a request -> 503 ---------------------------------------------------------


class _Watch:
    """What became of one HTTP request: refused (with the reply), and whether its response started."""

    def __init__(self) -> None:
        self.refused = asyncio.Event()
        self.reply: Optional[Dict[str, Any]] = None
        self.started = False
        self._held_start: Optional[Dict[str, Any]] = None

    def note(self, reply: Dict[str, Any]) -> None:
        if self.reply is None:
            self.reply = reply
            self.refused.set()

    def sender(self, send):
        async def send_holding_start(message):
            if self.reply is not None and not self.started:
                return  # refused before its response began: that response (e.g. an adapter's 400 made
                # from the refusal it caught) is dropped, and the middleware answers 503 instead
            if message["type"] == "http.response.start":
                self._held_start = message  # until the body begins: a refusal may still replace it
                return
            if self._held_start is not None:
                self.started = True
                await send(self._held_start)
                self._held_start = None
            await send(message)

        return send_holding_start


# Liveness probes: a server that released its memory on purpose is alive. SGLang 0.4.10's /health
# generates a token (it is /health_generate's handler), which a release refuses: it answers 200
# with the refusal instead, so that a probe or a router does not restart or drop the server.
# /health_generate (readiness to generate) still answers 503.
LIVENESS_PATHS = ("/health",)


class RefusalTo503:
    """ASGI middleware: a request whose handling was refused generation answers 503 with the refusal
    (200 for a liveness probe, LIVENESS_PATHS)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = _Watch()
        token = refusal_listener.set(watch.note)
        try:  # the task copies the context now: all the request runs reports its refusal to the watch
            handling = asyncio.ensure_future(self.app(scope, receive, watch.sender(send)))
        finally:
            refusal_listener.reset(token)
        refused = asyncio.ensure_future(watch.refused.wait())
        try:
            await asyncio.wait({handling, refused}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # this request was cancelled: so is its handling
            handling.cancel()
            raise
        finally:
            refused.cancel()
        if watch.reply is not None and not watch.started:
            handling.cancel()
            await asyncio.gather(handling, return_exceptions=True)
            if scope.get("path") in LIVENESS_PATHS:
                await _json({"status": "alive", "generation_refused": watch.reply}, 200)(scope, receive, send)
            else:
                await _json(watch.reply, REFUSED_STATUS)(scope, receive, send)
            return
        await handling
