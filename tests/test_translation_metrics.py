"""L1, PSNR and SSIM of translations: closed forms and a direct per-window SSIM."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.translation.metrics import (
    SSIM_K1,
    SSIM_K2,
    gaussian_window,
    l1_error,
    paired_scores,
    psnr,
    ssim,
)


def test_l1_and_psnr_closed_forms() -> None:
    a = torch.zeros(2, 3, 8, 8)  # 0.5 in [0, 1]
    b = torch.full((2, 3, 8, 8), 0.5)  # 0.75 in [0, 1]
    b[1] = -1.0  # 0.0 in [0, 1]
    assert l1_error(a, b).tolist() == pytest.approx([0.5, 1.0])
    assert psnr(a, b).tolist() == pytest.approx([10 * math.log10(1 / 0.0625), 10 * math.log10(4)])
    assert float(psnr(a, a)[0]) == pytest.approx(100.0)  # capped for exact copies
    grey = torch.full((1, 1, 4, 4), 128, dtype=torch.uint8)
    assert float(l1_error(grey, torch.full((1, 1, 4, 4), 255, dtype=torch.uint8))) == pytest.approx(
        2 * 127 / 255
    )


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    for p, q in ((0.2, 0.7), (0.5, 0.5), (0.0, 1.0)):
        x = torch.full((1, 1, 16, 16), 2 * p - 1)
        y = torch.full((1, 1, 16, 16), 2 * q - 1)
        c1 = SSIM_K1**2
        assert float(ssim(x, y)) == pytest.approx((2 * p * q + c1) / (p * p + q * q + c1))


def _ssim_by_windows(x: torch.Tensor, y: torch.Tensor) -> float:
    """The definition, one 11x11 window at a time (float64, [0, 1] images, one channel)."""
    w = gaussian_window()
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cov = (w * (px - mx) * (py - my)).sum()
            values.append(
                ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
            )
    return float(torch.stack(values).mean())


def test_ssim_matches_the_windowed_definition() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 16, 14, generator=gen, dtype=torch.float64)
    y = (0.6 * x + 0.4 * torch.rand(1, 1, 16, 14, generator=gen, dtype=torch.float64)).clamp(0, 1)
    expected = _ssim_by_windows(x[0, 0], y[0, 0])
    assert float(ssim(x * 2 - 1, y * 2 - 1)) == pytest.approx(expected, rel=1e-9)
    assert float(ssim(x * 2 - 1, x * 2 - 1)) == pytest.approx(1.0)
    assert -1.0 <= expected < 0.9


def test_gaussian_window_and_paired_scores() -> None:
    w = gaussian_window()
    assert w.shape == (11, 11) and float(w.sum()) == pytest.approx(1.0)
    assert float(w[5, 5] / w[5, 6]) == pytest.approx(math.exp(1 / (2 * 1.5**2)))
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    scores = paired_scores(x, x)
    assert scores == {"l1": 0.0, "psnr": pytest.approx(100.0), "ssim": pytest.approx(1.0)}
    assert "ssim" not in paired_scores(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="at least 11 px"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
