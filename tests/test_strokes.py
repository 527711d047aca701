"""Stroke attributes (metrics/strokes.py) on hand-made images whose answers are known exactly."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.metrics.strokes import (
    ATTRIBUTES,
    STYLE,
    attribute_changes,
    correlations,
    preservation_ratios,
    stroke_attributes,
)

SIZE = 32


def canvas(ink: torch.Tensor) -> torch.Tensor:
    """(H, W) ink in [0, 1] -> one (1, 1, H, W) image in [-1, 1]."""
    return (ink * 2 - 1).view(1, 1, *ink.shape)


def bar(width: int, length: int, left: int = 10, top: int = 4, shear: int = 0, value: float = 1.0) -> torch.Tensor:
    """A vertical bar; with shear k, row `top + i` starts k * (length - 1 - i) to the right (top leans right)."""
    ink = torch.zeros(SIZE, SIZE)
    for i in range(length):
        start = left + shear * (length - 1 - i)
        ink[top + i, start: start + width] = value
    return canvas(ink)


def test_vertical_bar_exact():
    a = stroke_attributes(bar(3, 20, left=10, top=4))
    assert a["slant"].item() == 0.0
    assert a["thickness"].item() == pytest.approx(3.0, abs=1e-12)
    assert a["centroid_x"].item() == 11.0 and a["centroid_y"].item() == pytest.approx(13.5)
    assert a["width"].item() == 3 and a["height"].item() == 20
    assert a["mass"].item() == pytest.approx(60 / SIZE ** 2)
    assert a["intensity"].item() == pytest.approx(1.0)


@pytest.mark.parametrize(("shear", "degrees"), [(1, 45.0), (2, math.degrees(math.atan(2.0)))])
def test_sheared_bar_has_the_shear_angle(shear, degrees):
    leaning_right = stroke_attributes(bar(2, 10, left=4, shear=shear))["slant"].item()
    assert leaning_right == pytest.approx(degrees, abs=1e-9)
    flipped = stroke_attributes(bar(2, 10, left=4, shear=shear).flip(-1))["slant"].item()
    assert flipped == pytest.approx(-degrees, abs=1e-9)


def test_thicker_bar_thickness_ratio():
    thin, thick = (stroke_attributes(bar(w, 24))["thickness"].item() for w in (2, 5))
    assert thin == pytest.approx(2.0, abs=1e-12) and thick / thin == pytest.approx(2.5, abs=1e-12)


def test_shift_moves_only_the_centroid():
    a, b = bar(3, 12, left=6, top=5), bar(3, 12, left=13, top=9)
    changes = attribute_changes(b, a)
    assert changes["centroid_x"].item() == pytest.approx(7.0) and changes["centroid_y"].item() == pytest.approx(4.0)
    assert all(changes[k].item() == pytest.approx(0.0, abs=1e-12) for k in ATTRIBUTES if not k.startswith("centroid"))


def test_fainter_ink_and_blank_and_rgb():
    faint = stroke_attributes(bar(3, 20, value=0.5))
    assert faint["intensity"].item() == pytest.approx(0.5)
    assert faint["width"].item() == 0  # nothing above the 0.5 threshold: ink > 0.5 only
    blank = stroke_attributes(-torch.ones(1, 1, SIZE, SIZE))
    assert blank["mass"].item() == 0 and blank["width"].item() == 0 and math.isnan(blank["slant"].item())
    grey = bar(3, 20)
    rgb = stroke_attributes(grey.repeat(1, 3, 1, 1))
    assert all(rgb[k].item() == pytest.approx(v.item()) for k, v in stroke_attributes(grey).items())


def test_batch_is_per_image_and_ratios():
    batch = torch.cat([bar(2, 10), bar(4, 16, shear=1)])
    both = stroke_attributes(batch)
    for i, one in enumerate([bar(2, 10), bar(4, 16, shear=1)]):
        assert all(both[k][i].item() == pytest.approx(v.item()) for k, v in stroke_attributes(one).items())
    edit = {k: 1.0 for k in ATTRIBUTES}
    unrelated = {k: 4.0 for k in ATTRIBUTES} | {"mass": 0.0}
    ratios = preservation_ratios(edit, unrelated)
    assert ratios["thickness"] == 0.25 and math.isnan(ratios["mass"])
    assert ratios["style"] == 0.25 and "mass" not in STYLE


def test_correlations_exact():
    a = {"x": torch.tensor([1.0, 2.0, 3.0, math.nan]), "flat": torch.ones(4, dtype=torch.float64)}
    b = {"x": torch.tensor([5.0, 3.0, 1.0, 0.0]), "flat": torch.arange(4.0)}
    r = correlations(a, b)
    assert r["x"] == pytest.approx(-1.0) and math.isnan(r["flat"])
