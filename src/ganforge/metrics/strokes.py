"""Closed-form stroke attributes of digit-like images (ink on a dark background), to tell whether an
edit that changes a digit's class keeps its style (issue 22: "the reconstruction of everything
else stays close"). In the spirit of Morpho-MNIST (Castro et al., 2019), but without a skeleton:
every attribute is a moment or a sum over the ink map, so it is exact on hand-made images and
defined on the soft grey images a generator draws.

Ink: (x + 1) / 2 of [-1, 1] images clamped to [0, 1] (luma for RGB). Attributes per image:
  mass       mean ink over the image (fraction of the canvas inked)
  centroid_x, centroid_y   ink-weighted mean column / row (pixels; y grows downwards)
  slant      degrees from vertical, positive when the top leans right: atan(-mu11 / mu02) of the
             ink's second central moments (the shear that deskewing removes)
  thickness  pixels: the short side of the rectangle with the ink's mass and perimeter, the
             perimeter being the ink's anisotropic total variation (zero padded); exactly w for
             a w x L bar, about w for a ring; diagonal strokes read thinner (the L1 perimeter of
             a staircase), the same in every image compared
  width, height   pixels: the bounding box of ink > 0.5 (0 for a blank image)
  intensity  ink-weighted mean ink, sum(ink^2) / sum(ink): how bright the strokes are
Blank images give NaN where a ratio is undefined (centroid, slant, intensity).
"""

from __future__ import annotations

import math

import torch

ATTRIBUTES = ("mass", "centroid_x", "centroid_y", "slant", "thickness", "width", "height", "intensity")
# what a digit's class decides (a "1" is narrow and light on ink; the box is whole pixels, and
# the digits' height barely varies) versus its writer's style, which a class edit should keep
CLASS_BOUND = ("mass", "width", "height")
STYLE = ("thickness", "slant", "intensity", "centroid_x", "centroid_y")
LUMA = (0.299, 0.587, 0.114)


def ink_map(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, H, W) ink in [0, 1], float64."""
    x = ((images.detach().double().clamp(-1, 1) + 1) / 2)
    if x.shape[1] == 3:
        return sum(w * x[:, i] for i, w in enumerate(LUMA))
    return x.mean(1)


def stroke_attributes(images: torch.Tensor, threshold: float = 0.5) -> dict[str, torch.Tensor]:
    """Every attribute of ATTRIBUTES for each image: {name: (N,) float64}."""
    ink = ink_map(images)
    n, h, w = ink.shape
    ys = torch.arange(h, dtype=ink.dtype).view(1, h, 1)
    xs = torch.arange(w, dtype=ink.dtype).view(1, 1, w)
    total = ink.sum((1, 2))
    safe = torch.where(total > 0, total, torch.full_like(total, math.nan))
    cx = (ink * xs).sum((1, 2)) / safe
    cy = (ink * ys).sum((1, 2)) / safe
    dx, dy = xs - cx.view(n, 1, 1), ys - cy.view(n, 1, 1)
    mu11 = (ink * dx * dy).sum((1, 2))
    mu02 = (ink * dy * dy).sum((1, 2))
    slant = torch.rad2deg(torch.atan2(-mu11, mu02))
    padded = torch.nn.functional.pad(ink, (1, 1, 1, 1))
    perimeter = (padded[:, 1:] - padded[:, :-1]).abs().sum((1, 2)) + (padded[:, :, 1:] - padded[:, :, :-1]).abs().sum((1, 2))
    # the rectangle with area A and perimeter P has sides P/4 +- sqrt(P^2/16 - A)
    thickness = perimeter / 4 - (perimeter ** 2 / 16 - total).clamp(min=0).sqrt()
    inked = ink > threshold
    rows, cols = inked.any(2), inked.any(1)
    return {
        "mass": total / (h * w),
        "centroid_x": cx,
        "centroid_y": cy,
        "slant": slant,
        "thickness": thickness,
        "width": _extent(cols),
        "height": _extent(rows),
        "intensity": (ink * ink).sum((1, 2)) / safe,
    }


def _extent(any_ink: torch.Tensor) -> torch.Tensor:
    """(N, L) booleans -> last - first + 1 inked index (0 when none)."""
    idx = torch.arange(any_ink.shape[1], dtype=torch.float64)
    first = torch.where(any_ink, idx, math.inf).amin(1)
    last = torch.where(any_ink, idx, -math.inf).amax(1)
    return torch.where(any_ink.any(1), last - first + 1, torch.zeros_like(first))


def attribute_changes(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """|attribute(a) - attribute(b)| per image pair: {name: (N,)}."""
    sa, sb = stroke_attributes(a), stroke_attributes(b)
    return {k: (sa[k] - sb[k]).abs() for k in ATTRIBUTES}


def correlations(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    """Pearson correlation per attribute across images (NaN-free pairs): does a thick start image
    give a thick edit? An unrelated image's correlation with the start is about 0."""
    out = {}
    for k in a:
        ok = ~(torch.isnan(a[k]) | torch.isnan(b[k]))
        x, y = a[k][ok] - a[k][ok].mean(), b[k][ok] - b[k][ok].mean()
        denom = (x.square().sum() * y.square().sum()).sqrt()
        out[k] = float((x * y).sum() / denom) if denom > 0 else math.nan
    return out


def preservation_ratios(edit_change: dict[str, float], unrelated_change: dict[str, float]) -> dict[str, float]:
    """Per attribute, the edit's mean |change| over an unrelated image's (< 1: the edit keeps more
    of the start image than swapping it for another of the target class would), and their mean
    over STYLE as `style`."""
    ratios = {k: edit_change[k] / unrelated_change[k] if unrelated_change[k] > 0 else math.nan
              for k in edit_change}
    style = [ratios[k] for k in STYLE if k in ratios and not math.isnan(ratios[k])]
    ratios["style"] = sum(style) / len(style) if style else math.nan
    return ratios
