"""`digit-layouts`: a layout-to-image demo that needs no download. Canvases of 1-3 scikit-learn
digits, each stretched into its own box (10-16 px sides on a 32 px canvas, boxes apart by at least
a pixel) and drawn in one of six colours, which is the object's style the layout does not name.
The layout is (label = digit, box); moving a box moves its digit, changing its label changes it.
"""

from __future__ import annotations

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


def _place(rng: torch.Generator, count: int) -> list[tuple[int, int, int, int]]:
    """Up to `count` non-overlapping boxes (x, y, w, h) on the canvas, by rejection."""
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(60):
        if len(boxes) == count:
            break
        w, h = (int(torch.randint(SIDES[0], SIDES[1] + 1, (1,), generator=rng)) for _ in range(2))
        x = int(torch.randint(0, CANVAS - w + 1, (1,), generator=rng))
        y = int(torch.randint(0, CANVAS - h + 1, (1,), generator=rng))
        if all(x + w < bx or bx + bw < x or y + h < by or by + bh < y for bx, by, bw, bh in boxes):
            boxes.append((x, y, w, h))
    return boxes


def draw_digit(canvas: torch.Tensor, glyph: torch.Tensor, box: tuple[int, int, int, int],
               colour: tuple[int, int, int]) -> None:
    """Stretch an 8x8 glyph (0..16) into box (x, y, w, h) of a float (3, S, S) canvas, in colour."""
    x, y, w, h = box
    ink = F.interpolate(glyph[None, None].float() / 16.0, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    rgb = torch.tensor(colour, dtype=torch.float32).view(3, 1, 1)
    region = canvas[:, y : y + h, x : x + w]
    canvas[:, y : y + h, x : x + w] = torch.maximum(region, ink.clamp(0, 1) * rgb)


def load_layout_digits(resolution: int, channels: int, n: int = N_IMAGES) -> ImageDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    glyphs = torch.from_numpy(bunch.images)
    targets = torch.from_numpy(bunch.target).long()
    rng = torch.Generator().manual_seed(SEED)
    images = torch.zeros(n, 3, CANVAS, CANVAS)
    rows = []
    for i in range(n):
        count = int(torch.randint(1, MAX_DIGITS + 1, (1,), generator=rng))
        row = []
        for box in _place(rng, count):
            pick = int(torch.randint(len(glyphs), (1,), generator=rng))
            colour = PALETTE[int(torch.randint(len(PALETTE), (1,), generator=rng))]
            draw_digit(images[i], glyphs[pick], box, colour)
            x, y, w, h = box
            row.append((int(targets[pick]), [x / CANVAS, y / CANVAS, w / CANVAS, h / CANVAS]))
        rows.append(row)
    layouts = layout_tensor(rows, MAX_DIGITS)
    area = layouts[..., 3] * layouts[..., 4] * (layouts[..., 0] >= 0)
    labels = layouts[torch.arange(n), area.argmax(1), 0].long()
    pixels = to_model_format(images.round().clamp(0, 255).byte(), resolution, channels)
    return ImageDataset(pixels, labels, [str(d) for d in range(10)], "digit-layouts", layouts=layouts)
