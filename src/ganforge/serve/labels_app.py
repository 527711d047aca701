"""The label-map page for SPADE runs (`ganforge serve RUN` on a SPADE run): the user paints class
ids on a canvas and sees the generated image.

GET  /               the page (labels.html, no external resources)
GET  /api/info       the classes (names: "class k"; palette colours), the map side, limits
POST /api/synthesize the label map as raw bytes (side x side uint8 class ids, row-major) with
                     `seed` in the query -> a PNG of the generated image

The map travels as a body (a 256 px map is 64 KiB, too long for a query string); bodies over
side * side bytes are refused before parsing. Every error is `{"error": "one line"}`.
"""

from __future__ import annotations

import io
import threading
from importlib import resources
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.sampling import to_uint8
from ganforge.serve.app import PAGE_POLICY, error
from ganforge.serve.limits import MAX_SEED
from ganforge.translation.label_maps import palette, semantic_classes


def _classes(g: Generator) -> int:
    tc = g.config.translation
    return semantic_classes(tc.label_nc, tc.contain_dontcare_label)


def label_info(g: Generator) -> dict[str, Any]:
    classes = _classes(g)
    return {"mode": "spade", "side": g.resolution, "classes": [f"class {k}" for k in range(classes)],
            "palette": palette(classes).tolist(), "max_seed": MAX_SEED,
            "vae": bool(g.config.translation.use_vae)}


def synthesize(g: Generator, body: bytes, seed: int, lock: threading.Lock) -> bytes:
    """PNG bytes of G(label map) for a raw side x side map of class ids."""
    side, classes = g.resolution, _classes(g)
    if len(body) != side * side:
        raise GanforgeError(f"the label map must be {side}x{side} = {side * side} bytes of class ids, "
                            f"got {len(body)} bytes")
    ids = torch.frombuffer(bytearray(body), dtype=torch.uint8).view(1, 1, side, side)
    top = int(ids.max())
    if top >= classes:
        raise GanforgeError(f"label id {top} is outside this run's {classes} classes")
    if not 0 <= seed <= MAX_SEED:
        raise GanforgeError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    with lock:
        image = to_uint8(g.translate(ids, "AtoB", seed))[0]
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def create_label_app(g: Generator) -> FastAPI:
    """A web app painting label maps for the SPADE generator `g`."""
    page = resources.files("ganforge.serve").joinpath("labels.html").read_text(encoding="utf-8")
    app = FastAPI(title="ganforge labels", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()
    limit = g.resolution * g.resolution + 1024

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > limit:
            return error(413, f"request body of {length[:20]} bytes is over the limit of {limit}")
        return await call_next(request)

    @app.exception_handler(GanforgeError)
    async def user_mistake(request: Request, exc: GanforgeError) -> JSONResponse:
        return error(400, " ".join(str(exc).split())[:500])

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-store"})

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return label_info(g)

    @app.post("/api/synthesize")
    async def run(request: Request, seed: int = 0) -> Response:
        data = synthesize(g, await request.body(), seed, lock)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store",
                                                               "X-Content-Type-Options": "nosniff"})

    return app
