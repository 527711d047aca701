"""Built-in translation tasks made from scikit-learn's 8x8 digits (no download): a paired task
(edges -> digits, pix2pix's edges2shoes in miniature) and two unpaired ones between visually
different renderings of the digits (normal -> thick strokes, normal -> inverted).

The 1,797 digits are split once by a fixed permutation: 300 for test, the rest for training.
In the unpaired tasks, domain A takes the first half of the training digits and domain B the
other half, so no training image has a partner in the other domain; the test split keeps both
renderings of each test digit, so a translation can also be compared with the truth.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ganforge.data.dataset import to_model_format

TEST_DIGITS = 300
SPLIT_SEED = 0
INK_THRESHOLD = 64  # of 255: where a stroke begins, for the edge maps


def _kernel(side: int) -> int:
    """An odd morphology kernel that keeps its look at any image size (3 at 32 px)."""
    return 2 * max(1, round(side / 32)) + 1


def edges(digits: torch.Tensor) -> torch.Tensor:
    """A one-stroke outline of each digit: ink pixels that touch background (binary, 0/255)."""
    k = _kernel(digits.shape[-1])
    ink = (digits > INK_THRESHOLD).float()
    eroded = -F.max_pool2d(-ink, k, 1, k // 2)
    return ((ink - eroded) * 255).round().byte()


def thick(digits: torch.Tensor) -> torch.Tensor:
    """Bold strokes: a grey-level dilation (max over a small square)."""
    k = _kernel(digits.shape[-1])
    return F.max_pool2d(digits.float(), k, 1, k // 2).round().byte()


def inverted(digits: torch.Tensor) -> torch.Tensor:
    """Dark ink on white paper."""
    return 255 - digits


# name -> (paired?, rendering of domain A, rendering of domain B,
#          domains the shipped digits classifier reads)
DEMOS: dict[
    str,
    tuple[
        bool,
        Callable[[torch.Tensor], torch.Tensor],
        Callable[[torch.Tensor], torch.Tensor],
        tuple[str, ...],
    ],
] = {
    "edges2digits": (True, edges, lambda d: d, ("B",)),
    "digits2thick": (False, lambda d: d, thick, ("A", "B")),
    "digits2inverted": (False, lambda d: d, inverted, ("A",)),
}


def digits_at(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as uint8 (N, 1, side, side) (bilinear upsampling of the 17 grey levels) and
    their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().mul(255.0 / 16.0).round().byte()
    return to_model_format(images.unsqueeze(1), side, 1), torch.from_numpy(bunch.target).long()


def split() -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, test indices) of the fixed demo split."""
    order = torch.randperm(1797, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return order[TEST_DIGITS:], order[:TEST_DIGITS]


def render(
    name: str,
    side: int,
    channels_a: int,
    channels_b: int,
) -> dict[str, torch.Tensor]:
    """Both renderings of every digit at `side` px: {"A", "B", "labels"}."""
    _, to_a, to_b, _ = DEMOS[name]
    digits, labels = digits_at(side)
    a = to_model_format(to_a(digits), side, channels_a)
    b = to_model_format(to_b(digits), side, channels_b)
    return {"A": a, "B": b, "labels": labels}
