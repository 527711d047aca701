"""`digit-layouts`: a layout-to-image demo that needs no download. Canvases of 1-3 scikit-learn
digits, each stretched into its own box (10-16 px sides on a 32 px canvas, boxes apart by at least
a pixel) and drawn in one of six colours, which is the object's style the layout does not name.
The layout is (label = digit, box); moving a box moves its digit, changing its label changes it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.data.dataset import ImageDataset, to_model_format
from ganforge.data.layouts import layout_tensor

CANVAS = 32
N_IMAGES = 3000
MAX_DIGITS = 3
SIDES = (10, 16)  # box side range in canvas pixels
PALETTE = ((255, 255, 255), (240, 60, 60), (60, 210, 80), (70, 110, 255), (240, 220, 50), (220, 70, 220))
SEED = 0
TRIES = 60


def _place(rng: np.random.Generator, count: int) -> list[tuple[int, int, int, int]]:
    """Up to `count` non-overlapping boxes (x, y, w, h) on the canvas, by rejection among 60
    candidates drawn at once."""
    sides = rng.integers(SIDES[0], SIDES[1] + 1, (TRIES, 2))
    corners = (rng.random((TRIES, 2)) * (CANVAS - sides + 1)).astype(int)
    boxes: list[tuple[int, int, int, int]] = []
    for (w, h), (x, y) in zip(sides.tolist(), corners.tolist(), strict=True):
        if all(x + w < bx or bx + bw < x or y + h < by or by + bh < y for bx, by, bw, bh in boxes):
            boxes.append((x, y, w, h))
            if len(boxes) == count:
                break
    return boxes


def stretched(glyphs: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """8x8 glyphs (N, 8, 8; 0..16) stretched bilinearly to (N, h, w) ink in [0, 1]."""
    ink = F.interpolate(glyphs[:, None].float() / 16.0, size=(h, w), mode="bilinear", align_corners=False)
    return ink[:, 0].clamp(0, 1)


def load_layout_digits(resolution: int, channels: int, n: int = N_IMAGES) -> ImageDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    glyphs = torch.from_numpy(bunch.images)
    targets = bunch.target.tolist()
    rng = np.random.default_rng(SEED)
    images = torch.zeros(n, 3, CANVAS, CANVAS)
    palette = torch.tensor(PALETTE, dtype=torch.float32).view(-1, 3, 1, 1)
    sizes: dict[tuple[int, int], torch.Tensor] = {}  # every glyph at each box size, made once
    rows = []
    for i in range(n):
        row = []
        for x, y, w, h in _place(rng, int(rng.integers(1, MAX_DIGITS + 1))):
            pick, colour = int(rng.integers(len(glyphs))), int(rng.integers(len(PALETTE)))
            if (w, h) not in sizes:
                sizes[(w, h)] = stretched(glyphs, w, h)
            region = images[i, :, y : y + h, x : x + w]
            images[i, :, y : y + h, x : x + w] = torch.maximum(region, sizes[(w, h)][pick] * palette[colour])
            row.append((targets[pick], [x / CANVAS, y / CANVAS, w / CANVAS, h / CANVAS]))
        rows.append(row)
    layouts = layout_tensor(rows, MAX_DIGITS)
    area = layouts[..., 3] * layouts[..., 4] * (layouts[..., 0] >= 0)
    labels = layouts[torch.arange(n), area.argmax(1), 0].long()
    pixels = to_model_format(images.round().clamp(0, 255).byte(), resolution, channels)
    return ImageDataset(pixels, labels, [str(d) for d in range(10)], "digit-layouts", layouts=layouts)
