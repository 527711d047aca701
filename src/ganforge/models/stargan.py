"""StarGAN's networks (Choi et al. 2018, appendix table 4; the authors' code yunjey/stargan).

G: the target domain label c (K values) is replicated over the image and concatenated to it;
then c7s1-64, two 4x4 stride-2 downsamplings, `blocks` residual blocks, two 4x4 stride-2
transposed convolutions, c7s1-3 + tanh. Every conv is bias-free and zero-padded, every norm an
instance norm with affine parameters (the label works through zero padding: reflection padding
and a bias-free instance norm would erase a spatially constant input).

D: `repeat` 4x4 stride-2 convs (no norm, LeakyReLU 0.01) doubling from `ndf`, then two heads:
a 3x3 conv giving a patch map of real/fake scores (WGAN critic, no sigmoid) and a conv whose
kernel covers the whole remaining map giving K domain logits.
"""

from __future__ import annotations

import torch
from torch import nn

SAMPLINGS = 2


def replicate_label(c: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, K) labels -> (N, K, H, W): each label value constant over the image."""
    return c.reshape(c.shape[0], c.shape[1], 1, 1).expand(-1, -1, height, width)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


class ResidualBlock(nn.Module):
    """x + [conv3, IN, ReLU, conv3, IN](x), bias-free, zero padding."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), _norm(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class StarGANGenerator(nn.Module):
    """(image (N, in_channels, H, W), target label (N, K)) -> image (N, out_channels, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, c_dim: int, ngf: int = 64,
                 blocks: int = 6) -> None:
        super().__init__()
        self.c_dim = c_dim
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels + c_dim, ngf, 7, 1, 3, bias=False), _norm(ngf), nn.ReLU()
        ]
        width = ngf
        for _ in range(SAMPLINGS):
            layers += [nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), _norm(2 * width), nn.ReLU()]
            width *= 2
        layers += [ResidualBlock(width) for _ in range(blocks)]
        for _ in range(SAMPLINGS):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), _norm(width // 2), nn.ReLU()
            ]
            width //= 2
        layers += [nn.Conv2d(width, out_channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if c.shape != (x.shape[0], self.c_dim):
            raise ValueError(f"StarGAN's G takes labels ({x.shape[0]}, {self.c_dim}), got {tuple(c.shape)}")
        label = replicate_label(c.to(x.dtype), x.shape[-2], x.shape[-1])
        return self.main(torch.cat([x, label], 1))


class StarGANDiscriminator(nn.Module):
    """Image (N, C, S, S) -> (patch scores (N, 1, S/2^repeat, S/2^repeat), domain logits (N, K))."""

    def __init__(self, in_channels: int, image_size: int, c_dim: int, ndf: int = 64,
                 repeat: int = 6) -> None:
        super().__init__()
        if image_size % 2**repeat:
            raise ValueError(f"StarGAN's D with {repeat} stride-2 convs needs image sides "
                             f"divisible by {2**repeat}, got {image_size}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.01)]
        width = ndf
        for _ in range(1, repeat):
            layers += [nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.01)]
            width *= 2
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(width, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(width, c_dim, image_size // 2**repeat, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.src(h), self.cls(h).flatten(1)
