"""StyleGAN2's per-pixel noise maps as optimisable inputs, with the official projector's
regulariser (Karras et al. 2020, appendix: the noise must not carry the image).

The regulariser, for each map n and each of its downsampled versions (2x2 average pooling
until 8x8), adds the squared mean autocorrelation at a one-pixel shift along x and along y:
sum_maps sum_scales [ mean(n * roll_x(n))^2 + mean(n * roll_y(n))^2 ]; after every step each
map is normalised to zero mean and unit variance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

NOISE_WEIGHT = 1e5  # the official projector's regularize_noise_weight


def noise_layers(network: nn.Module) -> dict[str, nn.Module]:
    """Modules holding a `noise_const` buffer (StyleGAN2's synthesis layers), by name."""
    return {name: m for name, m in network.named_modules()
            if "noise_const" in dict(m.named_buffers(recurse=False))}


def noise_regularization(maps: list[torch.Tensor]) -> torch.Tensor:
    """The multi-scale autocorrelation penalty (unweighted) of noise maps: 2-d (R, R) maps are one
    image's, (N, 1, R, R) maps N images' (their penalties summed; each image's is the official
    one)."""
    total = torch.zeros((), device=maps[0].device if maps else None)
    for m in maps:
        noise = m[None, None] if m.ndim == 2 else m
        while True:
            total = total + ((noise * torch.roll(noise, shifts=1, dims=3)).mean((1, 2, 3)) ** 2).sum()
            total = total + ((noise * torch.roll(noise, shifts=1, dims=2)).mean((1, 2, 3)) ** 2).sum()
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    return total


@torch.no_grad()
def normalize_noise(maps: list[torch.Tensor]) -> None:
    """Zero mean, unit variance per map (per image of (N, 1, R, R) maps), in place."""
    for m in maps:
        m -= m.mean(dim=(-2, -1), keepdim=True)
        m *= m.square().mean(dim=(-2, -1), keepdim=True).rsqrt()


@contextmanager
def noise_installed(network: nn.Module, maps: dict[str, torch.Tensor] | None) -> Iterator[None]:
    """Use `maps` as the layers' constant noise (noise_mode "const") inside the block; the
    network's own maps are put back after. None leaves the network as it is."""
    if not maps:
        yield
        return
    layers = noise_layers(network)
    saved = {name: layers[name].noise_const for name in maps}
    try:
        for name, value in maps.items():
            layers[name].noise_const = value
        yield
    finally:
        for name, value in saved.items():
            layers[name].noise_const = value
