"""The FastAPI app: one static page and three GET endpoints.

GET /                  the page (page.html, no external resources)
GET /api/info          what the generator takes: classes, resolution, truncation range, limits
GET /api/sample        a PNG grid: class, n, truncation, seed[, download=1]
GET /api/interpolate   a PNG row: mode, class_a, class_b, seed_a, seed_b, steps, truncation
GET /text, /api/text_sample   text-to-image runs (serve/text.py; their front page too)

Images are plain GET URLs so that the page's download link is the same request with
`download=1` (Content-Disposition: attachment). Every error is `{"error": "one line"}`.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.serve.limits import MAX_SEED, Limits
from ganforge.serve.params import (
    DEFAULT_N,
    DEFAULT_STEPS,
    parse_interpolate,
    parse_sample,
    truncation_range,
)
from ganforge.serve.render import Renderer
from ganforge.serve.text import add_text_routes

log = logging.getLogger(__name__)

# The page is self-contained: this policy makes the browser refuse anything from elsewhere.
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")


def create_app(g: Generator, limits: Limits | None = None, directions: str | None = None) -> FastAPI:
    """A web app serving `g`; generator calls are serialized, so one app holds one model copy."""
    limits = limits or Limits()
    renderer = Renderer(g)
    page = resources.files("ganforge.serve").joinpath("page.html").read_text(encoding="utf-8")
    # no /docs: FastAPI's documentation pages load their scripts from a CDN
    app = FastAPI(title="ganforge", docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(app, limits)

    def page_response(html: str) -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-store"})

    if g.takes_text:  # text-to-image: the text box page (serve/text.py) is the front page
        page = add_text_routes(app, g, limits, renderer, page_response)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page_response(page)

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return generator_info(g, limits)

    @app.get("/api/sample")
    def sample(request: Request) -> Response:
        req = parse_sample(request.query_params.multi_items(), g, limits)
        name = f"ganforge-sample-{'' if req.class_id is None else f'c{req.class_id}-'}s{req.seed}"
        return _png(renderer.sample(req), name, req.download)

    @app.get("/api/interpolate")
    def interpolate(request: Request) -> Response:
        req = parse_interpolate(request.query_params.multi_items(), g, limits)
        name = f"ganforge-interpolate-{req.mode}-s{req.seed_a}-s{req.seed_b}"
        return _png(renderer.interpolate(req), name, req.download)

    from ganforge.serve.edit import add_edit_routes  # the editing page (/edit), its own file

    add_edit_routes(app, g, renderer._lock, PAGE_POLICY, directions)
    if g.takes_layout:  # layout-to-image (LostGAN): the layout editor at /layout
        from ganforge.serve.layout import add_layout_routes

        add_layout_routes(app, renderer, limits, PAGE_POLICY)
    return app


def generator_info(g: Generator, limits: Limits) -> dict[str, Any]:
    """What the page needs to build its inputs; the server enforces the same numbers."""
    allowed = truncation_range(g, limits)
    return {
        "architecture": g.architecture,
        "resolution": g.resolution,
        "dim_z": g.dim_z,
        "n_classes": g.n_classes,
        "classes": list(g.class_names) if g.n_classes else [],
        "mixes_classes": bool(g.n_classes and g.soft_classes),
        "style_based": g.style_based,  # StyleGAN: mode w (interpolation in W), truncation is psi
        "takes_text": g.takes_text,
        "truncation": {"min": allowed.low, "max": allowed.high, "none_allowed": allowed.none_allowed,
                       "default": min(max(1.0, allowed.low), allowed.high)},
        "limits": {"max_n": limits.max_n, "max_steps": limits.max_steps, "max_seed": MAX_SEED,
                   "max_request_bytes": limits.max_request_bytes},
        "defaults": {"n": min(DEFAULT_N, limits.max_n), "steps": min(DEFAULT_STEPS, limits.max_steps)},
    }


def _png(data: bytes, name: str, download: bool) -> Response:
    disposition = "attachment" if download else "inline"
    return Response(data, media_type="image/png", headers={
        "Content-Disposition": f'{disposition}; filename="{name}.png"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _add_error_handlers(app: FastAPI, limits: Limits) -> None:
    @app.middleware("http")
    async def limit_request_size(request: Request, call_next: Any) -> Response:
        """Reject oversized query strings and bodies before any parsing (no endpoint takes a body)."""
        query = request.scope.get("query_string", b"")
        if len(query) > limits.max_request_bytes:
            return error(413, f"query string of {len(query)} bytes is over the limit of "
                              f"{limits.max_request_bytes}")
        length = request.headers.get("content-length", "0")
        if not length.isdigit():
            return error(400, f"invalid Content-Length header {length[:20]!r}")
        if int(length) > limits.max_request_bytes:
            return error(413, f"request body of {length} bytes is over the limit of "
                              f"{limits.max_request_bytes}")
        return await call_next(request)

    @app.exception_handler(GanforgeError)
    async def user_mistake(request: Request, exc: GanforgeError) -> JSONResponse:
        return error(400, _one_line(str(exc)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"no such page: {request.url.path} (the API is /api/info, /api/sample, " \
                     "/api/interpolate)"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed here; use GET"
        return error(exc.status_code, _one_line(detail))

    @app.exception_handler(Exception)
    async def server_fault(request: Request, exc: Exception) -> JSONResponse:
        log.exception("serving %s failed", request.url.path)
        return error(500, _one_line(f"internal error ({type(exc).__name__}: {exc})"))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]
