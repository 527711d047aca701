"""SPADE's built-in demo, `demo:digit-canvases`: canvases of several scikit-learn digits with
their per-pixel class maps, no download needed.

A 64 px canvas is a 2x2 grid of cells; each cell holds a digit with probability 0.8, drawn at a
random size (18..30 px) and position inside its cell, in a random ink colour (uniform hue) on
black. The label map marks the digit's square with its class (digit + 1; 0 is background), so
the generator has to draw a plausible digit of the painted class where the square is, in some
colour: the map fixes the layout and the classes, not the strokes or the ink. Training canvases
use the demo's training digits, test canvases its 300 held-out digits. Other sizes are the 64 px
canvases resized (label maps nearest, images antialiased bilinear).

`demo:digit-canvases-touching` (SPADE's instance edges, no download): each 32 px row of a
canvas holds, with probability 0.8, a group of two or three digits of ONE class side by side,
their squares touching (one rectangle of that class in the label map), each a different
sample in its own ink colour; the instance map numbers the digits, so only the instance edges
say where one digit ends and the next begins.
"""

from __future__ import annotations

import functools

import numpy as np
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
TOUCHING_SEEDS = {"train": 23, "test": 24}
GROUP = (2, 3)  # digits per touching group


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return torch.from_numpy(bunch.images).float() / 16.0, torch.from_numpy(bunch.target).long()


@functools.lru_cache(maxsize=1)
def _inks() -> dict[int, np.ndarray]:
    """Every digit at every drawing size (bilinear from 8x8), computed once per process."""
    images8, _ = _digits()
    return {side: F.interpolate(images8[:, None], size=(side, side), mode="bilinear",
                                align_corners=False)[:, 0].clamp(0, 1).numpy()
            for side in range(SIZES[0], SIZES[1] + 1)}


def make_canvases(indices: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(label maps uint8 (count, 1, 64, 64), images uint8 (count, 3, 64, 64)) from the digits
    at `indices`, with a seeded layout (every random draw made up front, in one order)."""
    images8, targets = _digits()
    gen = torch.Generator().manual_seed(seed)
    cells = (count, 4)
    filled = torch.rand(cells, generator=gen) < FILL
    picks = indices[torch.randint(len(indices), cells, generator=gen)]
    sides = torch.randint(SIZES[0], SIZES[1] + 1, cells, generator=gen)
    offsets = (torch.rand(count, 4, 2, generator=gen) * (CELL - sides + 1)[..., None]).long()
    colours = hue_to_rgb(torch.rand(count * 4, generator=gen)).view(count, 4, 3).numpy()
    inks = _inks()
    sides_np, picks_np, offsets_np = sides.numpy(), picks.numpy(), offsets.numpy()
    digit_of = targets.numpy() + 1
    labels = np.zeros((count, 1, BASE, BASE), dtype=np.uint8)
    canvas = np.zeros((count, 3, BASE, BASE), dtype=np.float32)
    for n, cell in zip(*np.nonzero(filled.numpy()), strict=True):
        side, pick = sides_np[n, cell], picks_np[n, cell]
        top = (cell // 2) * CELL + offsets_np[n, cell, 0]
        left = (cell % 2) * CELL + offsets_np[n, cell, 1]
        labels[n, 0, top : top + side, left : left + side] = digit_of[pick]
        canvas[n, :, top : top + side, left : left + side] = inks[side][pick] * colours[n, cell][:, None, None]
    images = torch.from_numpy(canvas).mul(255).round().clamp(0, 255).byte()
    return torch.from_numpy(labels), images


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


def _widest(k: torch.Tensor) -> torch.Tensor:
    """The largest digit square of a group of k touching digits: k squares fit in one row."""
    return torch.clamp(BASE // k, max=SIZES[1])


def make_touching(indices: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(label maps, instance maps (0 background, digits 1..6), images), uint8 (count, C, 64, 64):
    per row a group of 2-3 touching digits of one class (every draw made up front, seeded)."""
    images8, targets = _digits()
    gen = torch.Generator().manual_seed(seed)
    rows, slots = (count, 2), (count, 2, GROUP[1])
    filled = torch.rand(rows, generator=gen) < FILL
    digit = torch.randint(0, 10, rows, generator=gen)
    k = torch.randint(GROUP[0], GROUP[1] + 1, rows, generator=gen)
    widest = _widest(k)
    sides = SIZES[0] + (torch.rand(rows, generator=gen) * (widest - SIZES[0] + 1)).long()
    lefts = (torch.rand(rows, generator=gen) * (BASE - k * sides + 1)).long()
    tops = (torch.rand(rows, generator=gen) * (CELL - sides + 1)).long()
    choice = torch.rand(slots, generator=gen)
    colours = hue_to_rgb(torch.rand(count * 2 * GROUP[1], generator=gen)).view(*slots, 3).numpy()
    of_class = [indices[targets[indices] == c].numpy() for c in range(10)]
    inks = _inks()
    digit_np, k_np, sides_np = digit.numpy(), k.numpy(), sides.numpy()
    tops_np, lefts_np, choice_np = tops.numpy(), lefts.numpy(), choice.numpy()
    labels = np.zeros((count, 1, BASE, BASE), dtype=np.uint8)
    instances = np.zeros_like(labels)
    canvas = np.zeros((count, 3, BASE, BASE), dtype=np.float32)
    for n, row in zip(*np.nonzero(filled.numpy()), strict=True):
        c, side = digit_np[n, row], sides_np[n, row]
        top, left = row * CELL + tops_np[n, row], lefts_np[n, row]
        pool = of_class[c]
        labels[n, 0, top : top + side, left : left + k_np[n, row] * side] = c + 1
        for j in range(k_np[n, row]):
            pick = pool[min(int(choice_np[n, row, j] * len(pool)), len(pool) - 1)]
            x = left + j * side
            instances[n, 0, top : top + side, x : x + side] = row * GROUP[1] + j + 1
            canvas[n, :, top : top + side, x : x + side] = inks[side][pick] * colours[n, row, j][:, None, None]
    images = torch.from_numpy(canvas).mul(255).round().clamp(0, 255).byte()
    return torch.from_numpy(labels), torch.from_numpy(instances), images


def touching_canvases(split_name: str, side: int = BASE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The touching-digits demo's train or test canvases at `side` px: (label maps, instance
    maps, RGB images); maps resized with nearest neighbours."""
    return tuple(t.clone() for t in _touching(split_name, side))  # type: ignore[return-value]


@functools.lru_cache(maxsize=4)
def _touching(split_name: str, side: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Made once per process and size (tests and benchmarks start several runs in one)."""
    train_idx, test_idx = split()
    indices, count = (train_idx, TRAIN_CANVASES) if split_name == "train" else (test_idx, TEST_CANVASES)
    labels, instances, images = make_touching(indices, count, TOUCHING_SEEDS[split_name])
    labels, images = resize_pair(labels, images, side)
    if side != instances.shape[-1]:
        instances = F.interpolate(instances.float(), size=(side, side), mode="nearest").round().byte()
    return labels, instances, images
