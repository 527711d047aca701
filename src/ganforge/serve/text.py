"""The text-to-image page of `ganforge serve` (GAN-CLS, GigaGAN runs): a text box, one sentence
per line, and one GET endpoint.

GET /text (and / for a text generator)   the page (text_page.html, no external resources)
GET /api/text_sample    a PNG grid, one row per sentence: text (repeatable), n, truncation, seed[,
                        download=1]; an unknown word is a one-line error naming it

The sentences are read with the run's own tokenizer, so the page refuses exactly what
`ganforge sample --text` refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.serve.limits import MAX_SEED, Limits
from ganforge.serve.params import DEFAULT_N, _flag, _int, _show, _single, _truncation
from ganforge.serve.render import Renderer, png

TEXT_KEYS = ("text", "n", "truncation", "seed", "download")
MAX_SENTENCES = 8
MAX_CHARS = 200  # per sentence


@dataclass(frozen=True)
class TextSampleRequest:
    texts: tuple[str, ...]
    n: int  # images per sentence
    truncation: float | None
    seed: int
    download: bool


def parse_text_sample(items: Sequence[tuple[str, str]], g: Generator, limits: Limits) -> TextSampleRequest:
    """Query items -> a request; `text` may repeat (one row each), every other key at most once."""
    if not g.takes_text:
        raise GanforgeError("this generator draws from class labels, not text; use /api/sample")
    texts = tuple(" ".join(v.split()) for k, v in items if k == "text")
    q = _single([(k, v) for k, v in items if k != "text"], TEXT_KEYS, "/api/text_sample")
    if not texts or not all(texts):
        raise GanforgeError("text is required: give one or more sentences (text=a+red+seven&text=...), none empty")
    if len(texts) > MAX_SENTENCES:
        raise GanforgeError(f"at most {MAX_SENTENCES} sentences per request, got {len(texts)}")
    long = next((t for t in texts if len(t) > MAX_CHARS), None)
    if long is not None:
        raise GanforgeError(f"a sentence may have at most {MAX_CHARS} characters, got {len(long)}: {_show(long)}")
    most = max(1, limits.max_n // len(texts))
    n = _int(q, "n", min(DEFAULT_N, most), 1, most)
    return TextSampleRequest(texts, n, _truncation(q, g, limits), _int(q, "seed", 0, 0, MAX_SEED),
                             _flag(q, "download"))


def text_page() -> str:
    return resources.files("ganforge.serve").joinpath("text_page.html").read_text(encoding="utf-8")


def add_text_routes(app: FastAPI, g: Generator, limits: Limits, renderer: Renderer,
                    page_response: Any) -> str:
    """Register GET /text and GET /api/text_sample on `app`; returns the page's HTML."""
    page = text_page()

    @app.get("/text", response_class=HTMLResponse)
    def text_index() -> HTMLResponse:
        return page_response(page)

    @app.get("/api/text_sample")
    def text_sample(request: Request) -> Response:
        req = parse_text_sample(request.query_params.multi_items(), g, limits)
        with renderer.locked():
            images = g.sample_text(list(req.texts), req.n, req.truncation, req.seed)
        data = png(images, columns=req.n)
        disposition = "attachment" if req.download else "inline"
        return Response(data, media_type="image/png", headers={
            "Content-Disposition": f'{disposition}; filename="ganforge-text-s{req.seed}.png"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    return page
