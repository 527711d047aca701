"""Built-in translation tasks made from scikit-learn's 8x8 digits (no download): a paired task
(edges -> digits, pix2pix's edges2shoes in miniature), two unpaired ones between visually
different renderings of the digits (normal -> thick strokes, normal -> inverted), and StarGAN's
one domain of digits with three binary attributes (thick, inverted, red), drawn at random per
digit (`attribute_digits`), also as two half-size datasets each labelled with some of them.

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


# ---- BicycleGAN's demo: one edge map, many plausible digits ------------------------------------
COLOUR_SEED = 2
SATURATION = 0.7


def hue_to_rgb(hue: torch.Tensor, saturation: float = SATURATION) -> torch.Tensor:
    """(N,) hues in [0, 1) -> (N, 3) RGB of full value and the given saturation (HSV)."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue[:, None] * 6.0) % 6.0
    return 1.0 - saturation * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def colourful(digits: torch.Tensor) -> torch.Tensor:
    """uint8 RGB digits, each in a random ink colour (uniform hue) with random stroke width
    (thin or bold, a coin): many plausible outputs for one outline."""
    gen = torch.Generator().manual_seed(COLOUR_SEED)
    n = digits.shape[0]
    rgb = hue_to_rgb(torch.rand(n, generator=gen)).view(n, 3, 1, 1)
    bold = (torch.rand(n, generator=gen) < 0.5).view(n, 1, 1, 1)
    ink = torch.where(bold, thick(digits), digits).float() / 255.0
    return (ink * rgb * 255.0).round().clamp(0, 255).byte()


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
    "edges2colourdigits": (True, edges, colourful, ()),
}


# ---- StarGAN's demo: one domain of digits with three binary attributes ------------------------
ATTRIBUTES = ("thick", "inverted", "red")
ATTRIBUTE_SEED = 1
RED_INK = (1.0, 0.25, 0.1)  # on black paper
RED_INK_ON_WHITE = (0.8, 0.1, 0.05)  # inverted: dark red ink on white paper
# name -> (its attributes, which digits: all, or the first / second half of each split). The
# halves are StarGAN's multi-dataset demo (`--data demo:digit-strokes+demo:digit-colours`): two
# datasets of different digits drawn alike, each labelled only with its own attributes.
ATTRIBUTE_DEMOS: dict[str, tuple[tuple[str, ...], str]] = {
    "digit-attributes": (ATTRIBUTES, "all"),
    "digit-strokes": (("thick", "inverted"), "first"),
    "digit-colours": (("red",), "second"),
}


def half(indices: torch.Tensor, which: str) -> torch.Tensor:
    """All the indices, or their first or second half."""
    middle = len(indices) // 2
    return {"all": indices, "first": indices[:middle], "second": indices[middle:]}[which]


def random_attributes(n: int, seed: int = ATTRIBUTE_SEED) -> torch.Tensor:
    """A fixed random attribute vector (N, 3) of 0/1 floats per digit, each attribute a coin."""
    return torch.randint(0, 2, (n, len(ATTRIBUTES)), generator=torch.Generator().manual_seed(seed)).float()


def with_attributes(digits: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (N, 3, S, S) renderings of grey digits (N, 1, S, S) with attributes (N, 3):
    thick strokes (dilation), inverted (ink on white paper) and red ink (else white/black)."""
    thick_on, inverted_on, red_on = (attributes[:, i].bool().view(-1, 1, 1, 1) for i in range(3))
    ink = torch.where(thick_on, thick(digits), digits).float() / 255.0  # (N, 1, S, S)
    red = red_on.float()
    on_black = torch.tensor(RED_INK).view(1, 3, 1, 1) * red + (1 - red)
    on_white = torch.tensor(RED_INK_ON_WHITE).view(1, 3, 1, 1) * red
    image = torch.where(inverted_on, 1.0 - ink * (1.0 - on_white), ink * on_black)
    return (image * 255.0).round().clamp(0, 255).byte()


def attribute_digits(side: int) -> dict[str, torch.Tensor]:
    """Every digit rendered with its fixed attributes: {"images", "attributes", "labels"}."""
    digits, labels = digits_at(side)
    attributes = random_attributes(len(digits))
    return {"images": with_attributes(digits, attributes), "attributes": attributes, "labels": labels}


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
