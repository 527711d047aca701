"""Fully connected G and D of the original GAN (Goodfellow et al. 2014) and CGAN (Mirza &
Osindero 2014): ReLU generator with a tanh output, maxout discriminator with dropout.

With `model.conditional`, the one-hot label is concatenated to z in G and to the flattened
image in D (CGAN's conditioning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ganforge.config import ModelConfig, register, setting
from ganforge.config.sections import AT_LEAST_1
from ganforge.models.common import Heads, check_heads, coded_input, latent_dim, maybe_sn, one_hot


@register("mlp")
@dataclass
class MLPModelConfig(ModelConfig):
    """`model.arch=mlp`: the fully connected G and maxout D of GAN and CGAN."""

    supports_heads = True

    arch: str = "mlp"
    g_norm: Literal["batch", "none"] = "batch"
    hidden: list[int] = setting(factory=lambda: [1200, 1200], each=AT_LEAST_1)  # G hidden widths
    d_hidden: list[int] = setting(factory=lambda: [240, 240], each=AT_LEAST_1)  # D maxout units
    maxout_pieces: int = setting(5, bounds=AT_LEAST_1)  # Goodfellow et al. 2014
    dropout: float = setting(0.5, bounds="[0, 1)")  # D
    d_spectral_norm: bool = False  # spectral norm on every layer of D

    def check(self, config: Any = None) -> None:
        check_heads(self)


class Maxout(nn.Module):
    """max over `pieces` affine maps: the paper's D unit."""

    def __init__(self, n_in: int, units: int, pieces: int, sn: bool) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = maybe_sn(nn.Linear(n_in, units * pieces), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).max(dim=2).values


def _pixels(cfg: MLPModelConfig) -> int:
    return cfg.img_channels * cfg.resolution * cfg.resolution


class MLPGenerator(nn.Module):
    def __init__(self, cfg: MLPModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.dim_z = latent_dim(cfg)
        width = latent_dim(cfg) + (cfg.n_classes if cfg.conditional else 0)
        layers: list[nn.Module] = []
        for hidden in cfg.hidden:
            layers.append(nn.Linear(width, hidden))
            if cfg.g_norm == "batch":
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU())
            width = hidden
        layers += [nn.Linear(width, _pixels(cfg)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = coded_input(z, self.cfg)
        if self.cfg.conditional:
            z = torch.cat([z, one_hot(y, self.cfg.n_classes, z)], dim=1)
        c, r = self.cfg.img_channels, self.cfg.resolution
        return self.net(z).view(z.shape[0], c, r, r)


class MLPDiscriminator(nn.Module):
    def __init__(self, cfg: MLPModelConfig) -> None:
        super().__init__()
        check_heads(cfg)
        self.cfg = cfg
        width = _pixels(cfg) + (cfg.n_classes if cfg.conditional else 0)
        layers: list[nn.Module] = [nn.Dropout(0.2)] if cfg.dropout > 0 else []  # input dropout
        for units in cfg.d_hidden:
            layers += [Maxout(width, units, cfg.maxout_pieces, cfg.d_spectral_norm)]
            if cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            width = units
        self.body = nn.Sequential(*layers)
        self.out = maybe_sn(nn.Linear(width, 1), cfg.d_spectral_norm)
        self.heads = Heads(cfg, width)

    def forward(self, x: torch.Tensor, y: torch.Tensor, heads: bool = False) -> torch.Tensor | tuple:
        h = x.flatten(1)
        if self.cfg.conditional:
            h = torch.cat([h, one_hot(y, self.cfg.n_classes, h)], dim=1)
        h = self.body(h)
        logits = self.out(h).squeeze(1)
        return (logits, self.heads(h)) if heads else logits

