"""Patch ``http_routes``: release/resume by tag over HTTP, ``GET /memory_occupation``, and 503 for
generation while memory is released or the weights are stale.

Stock routes (entrypoints/http_server.py:483-502) bind the empty request dataclass, so ``tags``
is dropped, a missing body is a 422 and the reply is ``null``. The patch swaps the two routes in
the app's route list for the thin handlers of ``sglang_patch.memory_occupation.http_api``, which
call the tokenizer manager's methods (JSON replies: 200, 400 invalid request, 409 busy, 507 no
room to resume, 500 failed), adds ``GET /memory_occupation``, and appends the ``RefusalTo503``
middleware: any route whose handling reaches ``generate_request`` while generation is refused
answers 503 with the refusal's JSON. ``_wait_and_warmup`` (:790) runs through
``manager_side.run_http_warmup``: a release waits for SGLang's own warm-up request (the server
kills itself when that fails). Revert puts the original lists and function back.
"""

from __future__ import annotations

from sglang_patch._core import Patch, Shape
from sglang_patch.memory_occupation import http_api, manager_side

_HTTP = "sglang.srt.entrypoints.http_server."
ROUTES = _HTTP + "app.router.routes"
MIDDLEWARE = _HTTP + "app.user_middleware"
WARMUP = _HTTP + "_wait_and_warmup"


def _tokenizer_manager():
    """The HTTP server's tokenizer manager, as stock routes reach it."""
    from sglang.srt.entrypoints import http_server

    return http_server._global_state.tokenizer_manager


def _keep_auth_levels(stock_routes, new_routes) -> None:
    """SGLang 0.5.17 marks its memory routes admin-only-when-configured (``@auth_level(ADMIN_OPTIONAL)``,
    read from the endpoint by its API-key middleware): the replacements carry the same level, and
    ``GET /memory_occupation`` the release route's. Earlier releases mark none."""
    levels = {r.path: r.endpoint._auth_level for r in stock_routes if hasattr(getattr(r, "endpoint", None), "_auth_level")}
    for path, (endpoint, _) in new_routes.items():
        level = levels.get(path, levels.get("/release_memory_occupation"))
        if level is not None:
            endpoint._auth_level = level


class HTTPRoutesPatch(Patch):
    name = "http_routes"
    targets = (ROUTES, MIDDLEWARE, WARMUP)
    shapes = {ROUTES: Shape(routes=("/release_memory_occupation", "/resume_memory_occupation"))}  # replaced by path
    process = "server"
    requires = ("tokenizer_manager",)
    summary = (
        "HTTP release/resume routes take {\"tags\": [...]} and answer JSON with clear errors; "
        "GET /memory_occupation; generation answers 503 while memory is released"
    )

    def replacements(self):
        from fastapi.routing import APIRoute
        from starlette.middleware import Middleware

        new_routes = http_api.memory_routes(_tokenizer_manager)
        stock_routes = self.original(ROUTES)
        _keep_auth_levels(stock_routes, new_routes)
        routes = [r for r in stock_routes if getattr(r, "path", None) not in new_routes]
        routes += [APIRoute(path, endpoint, methods=methods) for path, (endpoint, methods) in new_routes.items()]
        middleware = list(self.original(MIDDLEWARE)) + [Middleware(http_api.RefusalTo503)]
        stock_warmup = self.original(WARMUP)

        def _wait_and_warmup(*args, **kwargs):
            return manager_side.run_http_warmup(stock_warmup, *args, **kwargs)

        return {ROUTES: routes, MIDDLEWARE: middleware, **self.marked({WARMUP: _wait_and_warmup})}
