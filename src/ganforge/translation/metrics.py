"""Translation quality: L1, PSNR and SSIM against ground truth (paired test data), FID/KID of
translations against the target domain's real test images, and cycle reconstruction error.

Conventions (stated in every result): images compared in [0, 1] (PSNR's peak 1; SSIM's
dynamic range L = 1), L1 as the mean absolute difference in the networks' [-1, 1] range (the
training loss's unit), every per-image value averaged over images. SSIM is Wang et al. 2004:
11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, valid (unpadded) windows, averaged over
windows and channels. PSNR of an exact copy is capped at 100 dB (MSE floor 1e-10).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
MSE_FLOOR = 1e-10


def _unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float or uint8 -> float64 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.double() / 255.0
    return (images.double().clamp(-1, 1) + 1.0) / 2.0


def l1_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean |output - target| in the [-1, 1] range (the L1 term's unit)."""
    return (_unit(output) - _unit(target)).abs().flatten(1).mean(1) * 2.0


def psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image 10 log10(1 / MSE) in dB on [0, 1] images."""
    mse = (_unit(output) - _unit(target)).pow(2).flatten(1).mean(1).clamp_min(MSE_FLOOR)
    return 10.0 * torch.log10(1.0 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The normalised 2-D Gaussian (size, size), float64."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (see the module docstring); images need sides of at least 11 px."""
    x, y = _unit(output), _unit(target)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WINDOW} px, got {tuple(x.shape[-2:])}"
        )
    channels = x.shape[1]
    window = gaussian_window().to(x.device).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return index.flatten(1).mean(1)


def paired_scores(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """{l1, psnr, ssim} means over the images (no ssim for images under 11 px)."""
    scores = {
        "l1": float(l1_error(outputs, targets).mean()),
        "psnr": float(psnr(outputs, targets).mean()),
    }
    if min(outputs.shape[-2:]) >= SSIM_WINDOW:
        scores["ssim"] = float(ssim(outputs, targets).mean())
    return scores
