"""DCGAN (Radford et al. 2016) generator and discriminator, also the body of LSGAN, WGAN,
WGAN-GP, ACGAN, InfoGAN and the semi-supervised GAN recipes.

G: z -> ConvT 4x4 to a 4x4 map, then ConvT(4, stride 2)+BN+ReLU doubling the size, tanh out.
D: conv(4, stride 2)+LeakyReLU(0.2) with no normalisation on the input layer, then
conv+norm+LeakyReLU down to 4x4, and a 4x4 conv to one logit (the sigmoid lives in the loss).
Widths: `ch` at the image end, doubling towards 4x4 (the paper's 64 px: ch 64 -> 512).
Conditional variants concatenate the one-hot label to z (G); D conditions through its heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ganforge.config import ModelConfig, register, setting
from ganforge.config.sections import AT_LEAST_1
from ganforge.models.common import (
    Heads,
    check_heads,
    check_power_of_two,
    coded_input,
    init_normal,
    latent_dim,
    maybe_sn,
    one_hot,
)


@register("dcgan")
@dataclass
class DCGANModelConfig(ModelConfig):
    """`model.arch=dcgan`: widths are `ch` at the image end, doubling towards 4x4."""

    supports_heads = True

    arch: str = "dcgan"
    ch: int = setting(64, bounds=AT_LEAST_1)
    g_norm: Literal["batch", "none"] = "batch"
    d_norm: Literal["batch", "layer", "none"] = "batch"  # WGAN-GP's critic has no batch norm
    d_spectral_norm: bool = False  # spectral norm on every layer of D

    def check(self, config: Any = None) -> None:
        check_power_of_two(self.resolution)
        check_heads(self)


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: DCGANModelConfig) -> None:
        super().__init__()
        stages = check_power_of_two(cfg.resolution)
        self.cfg = cfg
        self.dim_z = latent_dim(cfg)
        width = cfg.ch * 2 ** (stages - 1)
        z_in = latent_dim(cfg) + (cfg.n_classes if cfg.conditional else 0)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_in, width, 4, 1, 0, bias=False)]
        for _ in range(stages - 1):
            layers += self._norm_relu(width)
            layers.append(nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False))
            width //= 2
        layers += self._norm_relu(width)
        layers += [nn.ConvTranspose2d(width, cfg.img_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_normal(self)

    def _norm_relu(self, width: int) -> list[nn.Module]:
        norm = [nn.BatchNorm2d(width)] if self.cfg.g_norm == "batch" else []
        return [*norm, nn.ReLU(True)]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = coded_input(z, self.cfg)
        if self.cfg.conditional:
            z = torch.cat([z, one_hot(y, self.cfg.n_classes, z)], dim=1)
        return self.net(z[:, :, None, None])


def _d_norm(kind: str, width: int, size: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(width)]
    if kind == "layer":  # normalises each sample on its own: safe with a gradient penalty
        return [nn.LayerNorm([width, size, size])]
    return []  # none


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: DCGANModelConfig) -> None:
        super().__init__()
        stages = check_power_of_two(cfg.resolution)
        check_heads(cfg)
        self.cfg = cfg
        sn = cfg.d_spectral_norm
        width, size = cfg.ch, cfg.resolution // 2
        layers: list[nn.Module] = [
            maybe_sn(nn.Conv2d(cfg.img_channels, width, 4, 2, 1, bias=False), sn),
            nn.LeakyReLU(0.2, True),
        ]
        for _ in range(stages - 1):
            layers.append(maybe_sn(nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), sn))
            width, size = width * 2, size // 2
            layers += [*_d_norm(cfg.d_norm, width, size), nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers)
        self.out = maybe_sn(nn.Conv2d(width, 1, 4, 1, 0, bias=False), sn)
        self.heads = Heads(cfg, width * 16)
        init_normal(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor, heads: bool = False) -> torch.Tensor | tuple:
        h = self.body(x)
        logits = self.out(h).flatten()
        return (logits, self.heads(h.flatten(1))) if heads else logits
