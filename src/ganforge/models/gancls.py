"""GAN-CLS (Reed et al. 2016, "Generative Adversarial Text to Image Synthesis"): DCGAN networks
conditioned on a sentence embedding phi(t) of a frozen text encoder (`text.*`).

G: phi(t) -> Linear to `proj_dim` (128) + LeakyReLU(0.2), concatenated to z, then DCGAN's
ConvT+BN+ReLU stack, tanh out. D: DCGAN's conv stack down to 4x4; phi(t) compressed the same way
(Linear + BN + LeakyReLU) is replicated over the 4x4 grid and concatenated depth-wise, then a 1x1
conv + BN + LeakyReLU and a 4x4 conv to one logit (the sigmoid lives in the loss).

The condition y is caption token ids (B, L), encoded by the frozen encoder each network holds,
or already-encoded sentence embeddings (B, E) (GAN-INT's interpolations, text interpolation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ganforge.config import ModelConfig, TextConfig, register, setting
from ganforge.config.sections import AT_LEAST_1
from ganforge.models.common import check_power_of_two, init_normal
from ganforge.text import FrozenText, build_text_encoder


@register("gancls")
@dataclass
class GANCLSModelConfig(ModelConfig):
    """`model.arch=gancls`: widths `ch` at the image end, doubling towards 4x4 (as dcgan)."""

    arch: str = "gancls"
    ch: int = setting(64, bounds=AT_LEAST_1)
    dim_z: int = setting(100, bounds=AT_LEAST_1)
    proj_dim: int = setting(128, bounds="[1, 8192]")  # the compressed sentence embedding
    g_norm: Literal["batch", "none"] = "batch"
    d_norm: Literal["batch", "none"] = "batch"

    def check(self, config: Any = None) -> None:
        check_power_of_two(self.resolution)


def sentence_embedding(encoder: FrozenText, y: torch.Tensor) -> torch.Tensor:
    """Token ids (B, L) -> phi(t) (B, E); float (B, E) embeddings pass through."""
    if y.is_floating_point():
        if y.ndim != 2 or y.shape[1] != encoder.embed_dim:
            raise ValueError(f"a sentence embedding must be (N, {encoder.embed_dim}), got {tuple(y.shape)}")
        return y
    if y.ndim != 2:
        raise ValueError(f"a text-conditioned model takes caption token ids (N, L), got shape {tuple(y.shape)}")
    return encoder(y).sentence


def _bn(kind: str, width: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(width)] if kind == "batch" else []


class GANCLSGenerator(nn.Module):
    takes_text = True

    def __init__(self, cfg: GANCLSModelConfig, text: TextConfig) -> None:
        super().__init__()
        stages = check_power_of_two(cfg.resolution)
        self.cfg, self.dim_z = cfg, cfg.dim_z
        self.text = build_text_encoder(text, cfg.img_channels)
        self.project = nn.Sequential(nn.Linear(self.text.embed_dim, cfg.proj_dim), nn.LeakyReLU(0.2, True))
        width = cfg.ch * 2 ** (stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.dim_z + cfg.proj_dim, width, 4, 1, 0, bias=False)]
        for _ in range(stages - 1):
            layers += [*_bn(cfg.g_norm, width), nn.ReLU(True),
                       nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False)]
            width //= 2
        layers += [*_bn(cfg.g_norm, width), nn.ReLU(True),
                   nn.ConvTranspose2d(width, cfg.img_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_normal(self.project)
        init_normal(self.net)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = self.project(sentence_embedding(self.text, y).to(z.dtype))
        return self.net(torch.cat([z, c], 1)[:, :, None, None])


class GANCLSDiscriminator(nn.Module):
    takes_text = True

    def __init__(self, cfg: GANCLSModelConfig, text: TextConfig) -> None:
        super().__init__()
        stages = check_power_of_two(cfg.resolution)
        self.cfg = cfg
        self.text = build_text_encoder(text, cfg.img_channels)
        width = cfg.ch
        layers: list[nn.Module] = [nn.Conv2d(cfg.img_channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), *_bn(cfg.d_norm, width * 2),
                       nn.LeakyReLU(0.2, True)]
            width *= 2
        self.body = nn.Sequential(*layers)
        norm = [nn.BatchNorm1d(cfg.proj_dim)] if cfg.d_norm == "batch" else []
        self.project = nn.Sequential(nn.Linear(self.text.embed_dim, cfg.proj_dim), *norm, nn.LeakyReLU(0.2, True))
        self.joint = nn.Sequential(nn.Conv2d(width + cfg.proj_dim, width, 1, bias=False), *_bn(cfg.d_norm, width),
                                   nn.LeakyReLU(0.2, True))
        self.out = nn.Conv2d(width, 1, 4, 1, 0, bias=False)
        for module in (self.body, self.project, self.joint, self.out):
            init_normal(module)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        c = self.project(sentence_embedding(self.text, y).to(h.dtype))
        h = torch.cat([h, c[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)
        return self.out(self.joint(h)).flatten()
