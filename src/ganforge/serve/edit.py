"""The editing page (`/edit`): sliders for a directions file's directions (`ganforge serve GEN
--directions FILE`) applied to a sample or to an uploaded image, which the server projects.

GET  /edit                 the page (edit.html, self-contained)
GET  /api/edit/info        the directions' names and space, the slider range
GET  /api/edit/render      a PNG: source=sample (seed, class) or source=TOKEN, and NAME=STRENGTH
POST /api/edit/project     body: a small image file (at most the request limit); returns a token
"""

from __future__ import annotations

import io
import secrets
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from PIL import Image, UnidentifiedImageError

from ganforge.editing.codes import LatentCode, class_vectors
from ganforge.editing.edit import in_direction_space, render
from ganforge.editing.images import images_to_target
from ganforge.editing.perceptual import choose_perceptual
from ganforge.editing.project import ProjectSettings, image_channels, project
from ganforge.editing.store import load_directions
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.serve.limits import MAX_SEED

MAX_STRENGTH = 5.0
PROJECT_STEPS = 100
W_SAMPLES = 2000  # mapped samples for the mean w the projection starts from
KEEP_UPLOADS = 16


def add_edit_routes(app: FastAPI, g: Generator, lock: threading.Lock, page_policy: str,
                    directions: Path | str | None = None) -> None:
    vectors, names, space = (load_directions(directions, g) if directions is not None
                             else (torch.zeros(0, 1), [], "w" if g.style_based else "z"))
    uploads: OrderedDict[str, LatentCode] = OrderedDict()
    page = resources.files("ganforge.serve").joinpath("edit.html").read_text(encoding="utf-8")
    perceptual = choose_perceptual(None, g.config.data.source if g.config is not None else None)

    @app.get("/edit", response_class=HTMLResponse)
    def edit_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": page_policy, "Cache-Control": "no-store"})

    @app.get("/api/edit/info")
    def info() -> dict[str, Any]:
        return {"directions": names, "space": space, "max_strength": MAX_STRENGTH,
                "classes": list(g.class_names) if g.n_classes else [], "resolution": g.resolution,
                "project_steps": PROJECT_STEPS}

    @app.get("/api/edit/render")
    def edit_render(request: Request) -> Response:
        query = dict(request.query_params.multi_items())
        source = query.pop("source", "sample")
        if source == "sample":
            code = _sample_code(g, _int(query.pop("seed", "0"), "seed", MAX_SEED), query.pop("class", None))
        elif source in uploads:
            code = uploads[source]
        else:
            raise GanforgeError(f"unknown source '{source[:40]}': upload the image again")
        strengths = {}
        for key, value in query.items():
            if key not in names:
                raise GanforgeError(f"unknown direction '{key[:40]}'; this page's: {', '.join(names) or 'none'}")
            strengths[key] = _strength(value, key)
        with lock:
            image = render(g, _apply(g, code, vectors, names, space, strengths))
        return _png(image)

    @app.post("/api/edit/project")
    async def upload(request: Request) -> dict[str, Any]:
        body = await request.body()
        target = _decode_upload(body, g)
        with lock:
            result = project(g, target, ProjectSettings(steps=PROJECT_STEPS, space="w" if g.style_based else "z",
                                                        w_avg_samples=W_SAMPLES), perceptual)
        token = secrets.token_hex(8)
        uploads[token] = result.code
        while len(uploads) > KEEP_UPLOADS:
            uploads.popitem(last=False)
        return {"token": token, "mse": result.losses[-1]["mse"], "perceptual": result.perceptual}


def _int(text: str, name: str, most: int) -> int:
    if not text.isdigit() or int(text) > most:
        raise GanforgeError(f"{name} must be an integer from 0 to {most}, got '{text[:20]}'")
    return int(text)


def _strength(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GanforgeError(f"strength of '{name}' must be a number, got '{text[:20]}'") from None
    if not -MAX_STRENGTH <= value <= MAX_STRENGTH:
        raise GanforgeError(f"strength of '{name}' must be within +-{MAX_STRENGTH}, got {value}")
    return value


def _sample_code(g: Generator, seed: int, class_name: str | None) -> LatentCode:
    ids = torch.tensor(g.class_ids([class_name] if class_name else None)[:1])
    return LatentCode("z", g.latents(1, None, seed), class_vectors(g, ids))


def _apply(g: Generator, code: LatentCode, vectors: torch.Tensor, names: list[str], space: str,
           strengths: dict[str, float]) -> LatentCode:
    if not any(strengths.values()):
        return code
    code = in_direction_space(g, code, space)
    delta = sum(s * vectors[names.index(n)] for n, s in strengths.items())
    latent = code.latent + (delta if code.latent.ndim == 2 else delta[None, None])
    return LatentCode(code.space, latent, code.classes, code.noise, code.offsets)


def _decode_upload(body: bytes, g: Generator) -> torch.Tensor:
    if not body:
        raise GanforgeError("upload an image file (PNG or JPEG) in the request body")
    try:
        with Image.open(io.BytesIO(body)) as img:
            img.load()
            array = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError):
        raise GanforgeError("the upload is not an image Pillow can read (PNG, JPEG, ...)") from None
    h, w = array.shape[:2]
    if h != w:
        raise GanforgeError(f"the image is {w}x{h}; upload a square image")
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)[None]
    return images_to_target(tensor, g.resolution, image_channels(g))


def _png(images: torch.Tensor) -> Response:
    from ganforge.serve.render import png

    return Response(png(images, 1), media_type="image/png",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
