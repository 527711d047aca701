"""BEGAN (Berthelot et al. 2017): the discriminator is an auto-encoder, G is a decoder.

Decoder: linear h -> 8x8xch, then [conv3-ELU, conv3-ELU, x2 nearest upsampling] until the
resolution, conv3 to the image (G adds tanh so its samples share the other recipes' range).
Encoder: conv3, then [conv3-ELU, conv3-ELU, strided conv3] with widths ch, 2ch, 3ch, ... and a
linear map to the `dim_z`-sized code. D(x) is the reconstruction of x; the loss is its L1 error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import ModelConfig, register, setting
from ganforge.config.sections import AT_LEAST_1
from ganforge.errors import GanforgeError
from ganforge.models.common import check_power_of_two


@register("began")
@dataclass
class BEGANModelConfig(ModelConfig):
    """`model.arch=began`: widths of the auto-encoder are multiples of `ch`."""

    arch: str = "began"
    ch: int = setting(64, bounds=AT_LEAST_1)

    def check(self, config: Any = None) -> None:
        _stages(self)


def _stages(cfg: BEGANModelConfig) -> int:
    if cfg.conditional or cfg.d_heads or cfg.codes_cat or cfg.codes_cont:
        raise GanforgeError("model.arch=began is unconditional: set model.conditional=false "
                            "(and no model.d_heads or InfoGAN codes)")
    stages = check_power_of_two(cfg.resolution, minimum=16)
    return stages - 1  # from 8x8


class Decoder(nn.Module):
    def __init__(self, cfg: BEGANModelConfig) -> None:
        super().__init__()
        self.ch, self.ups = cfg.ch, _stages(cfg)
        self.linear = nn.Linear(cfg.dim_z, 8 * 8 * cfg.ch)
        self.blocks = nn.ModuleList(
            nn.ModuleList([nn.Conv2d(cfg.ch, cfg.ch, 3, padding=1),
                           nn.Conv2d(cfg.ch, cfg.ch, 3, padding=1)])
            for _ in range(self.ups + 1)
        )
        self.out = nn.Conv2d(cfg.ch, cfg.img_channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.linear(h).view(h.shape[0], self.ch, 8, 8)
        for i, (conv1, conv2) in enumerate(self.blocks):
            x = F.elu(conv2(F.elu(conv1(x))))
            if i < self.ups:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.out(x)


class Encoder(nn.Module):
    def __init__(self, cfg: BEGANModelConfig) -> None:
        super().__init__()
        downs = _stages(cfg)
        self.first = nn.Conv2d(cfg.img_channels, cfg.ch, 3, padding=1)
        layers: list[nn.Module] = []
        width = cfg.ch
        for i in range(downs + 1):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ELU(),
                       nn.Conv2d(width, width, 3, padding=1), nn.ELU()]
            if i < downs:
                layers += [nn.Conv2d(width, cfg.ch * (i + 2), 3, stride=2, padding=1), nn.ELU()]
                width = cfg.ch * (i + 2)
        self.body = nn.Sequential(*layers)
        self.linear = nn.Linear(8 * 8 * width, cfg.dim_z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.body(F.elu(self.first(x))).flatten(1))


class BEGANGenerator(nn.Module):
    def __init__(self, cfg: BEGANModelConfig) -> None:
        super().__init__()
        self.dim_z = cfg.dim_z
        self.decoder = Decoder(cfg)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.decoder(z))


class BEGANDiscriminator(nn.Module):
    """Auto-encoder: returns the reconstruction of its input."""

    def __init__(self, cfg: BEGANModelConfig) -> None:
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.encoder(x))
