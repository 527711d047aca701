"""The truncation trick: re-drawn (not clamped) values, the exact truncated-normal law."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from ganforge.errors import GanforgeError
from ganforge.sampling import class_ids, make_grid, truncated_normal


@pytest.mark.parametrize("threshold", [0.05, 0.5, 1.0, 2.0])
def test_never_exceeds_the_threshold(threshold: float) -> None:
    z = truncated_normal((2000, 64), threshold, torch.Generator().manual_seed(0))
    assert float(z.abs().max()) <= threshold


def test_matches_the_truncated_normal_distribution() -> None:
    z = truncated_normal((40000,), 1.0, torch.Generator().manual_seed(1)).double().numpy()
    ks = stats.kstest(z, stats.truncnorm(-1.0, 1.0).cdf)
    assert ks.pvalue > 0.01
    # closed-form variance of N(0,1) truncated to [-1, 1]
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    var = 1 - 2 * phi / (math.erf(1 / math.sqrt(2)))
    assert z.var() == pytest.approx(var, rel=0.02)
    # a clamp would pile mass exactly on the boundary; re-drawing leaves none there
    assert (abs(z) == 1.0).sum() == 0


def test_no_truncation_is_a_plain_normal_and_seeds_repeat() -> None:
    a = truncated_normal((1000,), None, torch.Generator().manual_seed(3))
    b = truncated_normal((1000,), None, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert float(a.abs().max()) > 2.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_threshold_is_an_error(bad: float) -> None:
    with pytest.raises(GanforgeError, match="positive"):
        truncated_normal((3,), bad)


def test_class_ids_accept_names_and_ids_and_reject_out_of_range() -> None:
    names = ["cat", "dog", "7"]
    assert class_ids(["dog", 0, "2"], names) == [1, 0, 2]
    assert class_ids(["7"], names) == [2]  # a name wins over an id
    with pytest.raises(GanforgeError, match="out of range"):
        class_ids([3], names)
    with pytest.raises(GanforgeError, match="unknown class 'cow'"):
        class_ids(["cow"], names)


def test_grid_layout() -> None:
    images = torch.full((6, 3, 4, 4), -1.0)
    images[5] = 1.0
    grid = make_grid(images, columns=3, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert grid[1 + 5 + 1, 1 + 2 * 5 + 1, 0] == 255  # last image (row 1, col 2) is white
    assert grid[1, 1, 0] == 0
