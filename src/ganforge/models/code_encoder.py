"""BicycleGAN's encoder E (Zhu et al. 2017; the authors' `E_ResNet`): an image -> the mean and
log-variance of a Gaussian over the latent code, so that z = mu + exp(logvar / 2) * eps.

A 4x4 stride-2 conv to `nef`, then `blocks - 1` residual blocks, each [norm, LeakyReLU 0.2,
conv3, norm, LeakyReLU 0.2, conv3, avgpool 2] + [avgpool 2, conv1] shortcut, widths
nef * min(4, n + 1); a LeakyReLU, global average pooling (the authors' fixed 8x8 average pool,
which it equals at their sizes: 256 px with 5 blocks, 128 px with 4) and two linear heads.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nn.norm import norm_layer

MAX_MULT = 4


class DownBlock(nn.Module):
    """A residual block that halves the resolution."""

    def __init__(self, c_in: int, c_out: int, norm: str) -> None:
        super().__init__()
        make_norm = norm_layer(norm)
        self.body = nn.Sequential(
            make_norm(c_in), nn.LeakyReLU(0.2), nn.Conv2d(c_in, c_in, 3, 1, 1),
            make_norm(c_in), nn.LeakyReLU(0.2), nn.Conv2d(c_in, c_out, 3, 1, 1), nn.AvgPool2d(2),
        )
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class CodeEncoder(nn.Module):
    """Image (N, C, H, W) -> (mu (N, nz), logvar (N, nz))."""

    def __init__(self, in_channels: int, nz: int, nef: int = 64, blocks: int = 5,
                 norm: str = "instance") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, nef, 4, 2, 1)]
        width = nef
        for n in range(1, blocks):
            width = nef * min(MAX_MULT, n + 1)
            layers.append(DownBlock(nef * min(MAX_MULT, n), width, norm))
        layers += [nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1)]
        self.conv = nn.Sequential(*layers)
        self.mu = nn.Linear(width, nz)
        self.logvar = nn.Linear(width, nz)
        self.blocks = blocks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x).flatten(1)
        return self.mu(h), self.logvar(h)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (drawn from the global RNG when not given):
    a sample of N(mu, exp(logvar)) through which gradients reach mu and logvar."""
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps
