"""SPADE's built-in demo, `demo:digit-canvases`: canvases of several scikit-learn digits with
their per-pixel class maps, no download needed.

A 64 px canvas is a 2x2 grid of cells; each cell holds a digit with probability 0.8, drawn at a
random size (18..30 px) and position inside its cell, in a random ink colour (uniform hue) on
black. The label map marks the digit's square with its class (digit + 1; 0 is background), so
the generator has to draw a plausible digit of the painted class where the square is, in some
colour: the map fixes the layout and the classes, not the strokes or the ink. Training canvases
use the demo's training digits, test canvases its 300 held-out digits. Other sizes are the 64 px
canvases resized (label maps nearest, images antialiased bilinear).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.translation.demos import hue_to_rgb, split

BASE = 64
CELL = 32
SIZES = (18, 30)  # digit square side range at 64 px
FILL = 0.8  # probability that a cell holds a digit
LABEL_NC = 11  # background + the ten digits
TRAIN_CANVASES, TEST_CANVASES = 2000, 300
SEEDS = {"train": 21, "test": 22}


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return torch.from_numpy(bunch.images).float() / 16.0, torch.from_numpy(bunch.target).long()


def make_canvases(indices: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(label maps uint8 (count, 1, 64, 64), images uint8 (count, 3, 64, 64)) from the digits
    at `indices`, with a seeded layout."""
    images8, targets = _digits()
    gen = torch.Generator().manual_seed(seed)
    labels = torch.zeros(count, 1, BASE, BASE, dtype=torch.uint8)
    canvas = torch.zeros(count, 3, BASE, BASE)
    for n in range(count):
        for cy in range(2):
            for cx in range(2):
                if float(torch.rand((), generator=gen)) >= FILL:
                    continue
                pick = indices[int(torch.randint(len(indices), (), generator=gen))]
                side = int(torch.randint(SIZES[0], SIZES[1] + 1, (), generator=gen))
                top = cy * CELL + int(torch.randint(CELL - side + 1, (), generator=gen))
                left = cx * CELL + int(torch.randint(CELL - side + 1, (), generator=gen))
                colour = hue_to_rgb(torch.rand(1, generator=gen))[0].view(3, 1, 1)
                ink = F.interpolate(images8[pick][None, None], size=(side, side), mode="bilinear",
                                    align_corners=False)[0].clamp(0, 1)
                labels[n, 0, top : top + side, left : left + side] = int(targets[pick]) + 1
                canvas[n, :, top : top + side, left : left + side] = ink * colour
    return labels, (canvas * 255).round().clamp(0, 255).byte()


def resize_pair(labels: torch.Tensor, images: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Label maps (nearest) and images (antialiased bilinear) at `side` px."""
    if side == labels.shape[-1]:
        return labels, images
    lab = F.interpolate(labels.float(), size=(side, side), mode="nearest").round().byte()
    img = F.interpolate(images.float(), size=(side, side), mode="bilinear", align_corners=False,
                        antialias=side < images.shape[-1])
    return lab, img.round().clamp(0, 255).byte()


def digit_canvases(split_name: str, side: int = BASE) -> tuple[torch.Tensor, torch.Tensor]:
    """The demo's fixed train or test canvases at `side` px: (label maps, RGB images)."""
    train_idx, test_idx = split()
    indices, count = (train_idx, TRAIN_CANVASES) if split_name == "train" else (test_idx, TEST_CANVASES)
    labels, images = make_canvases(indices, count, SEEDS[split_name])
    return resize_pair(labels, images, side)
