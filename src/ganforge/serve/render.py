"""Requests -> PNG bytes. One lock around the generator: torch modules are not safe to run from
several request threads at once, and queuing keeps memory bounded under concurrent load."""

from __future__ import annotations

import io
import threading

import torch
from PIL import Image

from ganforge.generator import Generator
from ganforge.latents import interpolate
from ganforge.sampling import make_grid
from ganforge.serve.params import InterpolateRequest, SampleRequest

SAMPLE_COLUMNS = 8


class Renderer:
    """Runs the generator for the web app, one request at a time."""

    def __init__(self, g: Generator) -> None:
        self.g = g
        self._lock = threading.Lock()

    def locked(self) -> threading.Lock:
        """The generator's lock, for pages that call it themselves (`serve/text.py`)."""
        return self._lock

    def sample(self, req: SampleRequest) -> bytes:
        classes = None if req.class_id is None else [req.class_id]
        with self._lock:
            images = self.g.sample(classes, req.n, req.truncation, req.seed)
        return png(images, columns=min(req.n, SAMPLE_COLUMNS))

    def interpolate(self, req: InterpolateRequest) -> bytes:
        classes = [req.class_a, req.class_b if req.class_b is not None else req.class_a]
        with self._lock:
            images = interpolate(self.g, req.mode, seeds=[(req.seed_a, req.seed_b)],
                                 classes=classes, steps=req.steps, truncation=req.truncation)
        return png(images, columns=req.steps)


def png(images: torch.Tensor, columns: int) -> bytes:
    """A grid of [-1, 1] images as PNG bytes (grey when single-channel); same input, same bytes."""
    grid = make_grid(images, columns)
    buffer = io.BytesIO()
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(buffer, format="PNG")
    return buffer.getvalue()
