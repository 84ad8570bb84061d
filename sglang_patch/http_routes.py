"""Patch ``http_routes``: release/resume by tag over HTTP, ``GET /memory_occupation``, and 503 for
generation while memory is released.

Stock routes (entrypoints/http_server.py:483-502) bind the empty request dataclass, so ``tags``
is dropped, a missing body is a 422 and the reply is ``null``. The patch swaps the two routes in
the app's route list for the thin handlers in ``sglang_patch.memory_occupation.frontend``
(JSON replies: 200, 400 invalid request, 409 busy, 507 no room to resume, 500 failed), adds
``GET /memory_occupation``, and appends the ``GenerationGate`` middleware, which answers 503 on
the generation routes while a tag is released or the weights are stale. ``_wait_and_warmup``
(:790) runs through ``frontend.run_http_warmup``: a release waits for SGLang's own warm-up
request (the server kills itself when that fails). Revert puts the original lists and function back.
"""

from __future__ import annotations

from sglang_patch._core import Patch
from sglang_patch.memory_occupation import frontend

_APP = "sglang.srt.entrypoints.http_server.app."
_ROUTES = {
    "/release_memory_occupation": (frontend.release_route, ["POST", "GET"]),
    "/resume_memory_occupation": (frontend.resume_route, ["POST", "GET"]),
    "/memory_occupation": (frontend.status_route, ["GET"]),
}


class HTTPRoutesPatch(Patch):
    name = "http_routes"
    targets = (_APP + "router.routes", _APP + "user_middleware", "sglang.srt.entrypoints.http_server._wait_and_warmup")
    process = "server"
    summary = (
        "HTTP release/resume routes take {\"tags\": [...]} and answer JSON with clear errors; "
        "GET /memory_occupation; generation answers 503 while memory is released"
    )

    def replacements(self):
        from fastapi.routing import APIRoute
        from starlette.middleware import Middleware

        routes_target, middleware_target, warmup_target = self.targets
        routes = [r for r in self.original(routes_target) if getattr(r, "path", None) not in _ROUTES]
        routes += [APIRoute(path, endpoint, methods=methods) for path, (endpoint, methods) in _ROUTES.items()]
        middleware = list(self.original(middleware_target)) + [Middleware(frontend.GenerationGate)]
        stock_warmup = self.original(warmup_target)

        def _wait_and_warmup(*args, **kwargs):
            return frontend.run_http_warmup(stock_warmup, *args, **kwargs)

        return {routes_target: routes, middleware_target: middleware, **self.marked({warmup_target: _wait_and_warmup})}
