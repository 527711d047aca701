"""The layout editor of `ganforge serve` for layout-to-image generators (LostGAN).

GET /layout         the editor page (layout.html): drag boxes, resize them by their corner, add
                    and remove objects, pick labels; each object keeps its style slot, so with the
                    same seed an edit changes only what was edited
GET /api/layout     a PNG row: layout (JSON: {"objects": [{"label", "box": [x, y, w, h], "slot"}]},
                    boxes as fractions), n, seed[, download=1]
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from ganforge.data.layouts import parse_layouts
from ganforge.errors import GanforgeError
from ganforge.serve.limits import MAX_SEED, Limits
from ganforge.serve.render import Renderer, png


def _integer(params: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    text = params.get(key, str(default))
    try:
        value = int(text)
    except ValueError:
        raise GanforgeError(f"{key} must be an integer, got {text[:20]!r}") from None
    if not low <= value <= high:
        raise GanforgeError(f"{key} must be in {low}..{high}, got {value}")
    return value


def add_layout_routes(app: FastAPI, renderer: Renderer, limits: Limits, policy: str) -> None:
    """Register the editor page and its endpoint on `app` (only for generators that take layouts)."""
    g = renderer.g
    page = resources.files("ganforge.serve").joinpath("layout.html").read_text(encoding="utf-8")
    slots = int(g.config.model.max_objects)

    @app.get("/layout", response_class=HTMLResponse)
    def editor() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"})

    @app.get("/api/layout/info")
    def info() -> dict[str, Any]:
        return {"classes": list(g.class_names), "slots": slots, "resolution": g.resolution,
                "max_n": limits.max_n, "max_seed": MAX_SEED}

    @app.get("/api/layout")
    def draw(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            data = json.loads(params.get("layout", ""))
        except ValueError:
            raise GanforgeError("layout must be JSON: {\"objects\": [{\"label\": ..., \"box\": [x, y, w, h]}]}") from None
        layouts = parse_layouts(data, list(g.class_names), slots, "layout")
        n = _integer(params, "n", 4, 1, limits.max_n)
        seed = _integer(params, "seed", 0, 0, MAX_SEED)
        with renderer._lock:
            images = g.sample_layout(layouts, n, None, seed)
        disposition = "attachment" if params.get("download") == "1" else "inline"
        return Response(png(images, columns=n), media_type="image/png", headers={
            "Content-Disposition": f'{disposition}; filename="ganforge-layout-s{seed}.png"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
