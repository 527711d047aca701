"""LAPGAN (Denton, Chintala, Szlam & Fergus 2015): a Laplacian pyramid of conditional GANs.

Level 0 generates a coarse image (resolution / 2^(levels-1)) from noise and the class; each
finer level l doubles the size: it upsamples the image so far (`low`) and generates the
band-pass residual h_l conditioned on `low`, a noise plane and the class planes, so that
I_l = up(I_{l-1}) + h_l. Each level has its own discriminator judging (h, low, class).
Sampling runs the pyramid; training (method `lapgan`) trains every level on the real pyramid.
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
from ganforge.models.common import check_power_of_two, one_hot


@register("lapgan")
@dataclass
class LapGANModelConfig(ModelConfig):
    """`model.arch=lapgan`: the pyramid's depth and each level's widths."""

    arch: str = "lapgan"
    ch: int = setting(64, bounds=AT_LEAST_1)  # conv width of the residual levels
    hidden: list[int] = setting(factory=lambda: [1200, 1200], each=AT_LEAST_1)  # level 0 G's MLP
    d_hidden: list[int] = setting(factory=lambda: [240, 240], each=AT_LEAST_1)  # level 0 D's MLP
    dropout: float = setting(0.5, bounds="[0, 1)")  # in D
    levels: int = setting(3, bounds="[2, 12]")  # pyramid levels (coarsest = resolution / 2^(levels - 1))

    def check(self, config: Any = None) -> None:
        if not self.conditional:
            raise GanforgeError("model.arch=lapgan is class-conditional here: set model.conditional=true")
        if self.d_heads or self.codes_cat or self.codes_cont:
            raise GanforgeError("model.arch=lapgan has no extra D heads or InfoGAN codes; use model.arch=dcgan")
        level_sizes(self)


def downsample(x: torch.Tensor) -> torch.Tensor:
    """The pyramid's reduce step: 2x2 average (a box low-pass, then decimation)."""
    return F.avg_pool2d(x, 2)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """The pyramid's expand step: bilinear x2."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def level_sizes(cfg: LapGANModelConfig) -> list[int]:
    if cfg.levels < 2:
        raise GanforgeError(f"model.levels must be at least 2 for a pyramid, got {cfg.levels}")
    check_power_of_two(cfg.resolution)
    coarse = cfg.resolution // 2 ** (cfg.levels - 1)
    if coarse < 4:
        raise GanforgeError(f"model.levels={cfg.levels} makes the coarsest level {coarse}px; need >= 4")
    return [coarse * 2**level for level in range(cfg.levels)]


def _class_planes(y: torch.Tensor, n_classes: int, like: torch.Tensor) -> torch.Tensor:
    planes = one_hot(y, n_classes, like)[:, :, None, None]
    return planes.expand(-1, -1, like.shape[2], like.shape[3])


class CoarseGenerator(nn.Module):
    """Level 0: an MLP from (z, one-hot class) to the coarse image, one ReLU layer per entry of
    `model.hidden` (the paper: two of 1200)."""

    def __init__(self, cfg: LapGANModelConfig, size: int) -> None:
        super().__init__()
        self.cfg, self.size = cfg, size
        widths = [cfg.dim_z + cfg.n_classes, *(cfg.hidden or [1200, 1200])]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(c_in, c_out), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], cfg.img_channels * size * size), nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = torch.cat([z, one_hot(y, self.cfg.n_classes, z)], dim=1)
        return self.net(x).view(-1, self.cfg.img_channels, self.size, self.size)


class ResidualGenerator(nn.Module):
    """Level l > 0: convs from (low, noise plane, class planes) to the residual."""

    def __init__(self, cfg: LapGANModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c_in = cfg.img_channels + 1 + cfg.n_classes
        self.net = nn.Sequential(
            nn.Conv2d(c_in, cfg.ch, 3, padding=1), nn.ReLU(),
            nn.Conv2d(cfg.ch, cfg.ch, 3, padding=1), nn.ReLU(),
            nn.Conv2d(cfg.ch, cfg.img_channels, 3, padding=1),
        )

    def forward(self, noise: torch.Tensor, low: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        plane = noise.view(-1, 1, low.shape[2], low.shape[3]).to(low.dtype)
        return self.net(torch.cat([low, plane, _class_planes(y, self.cfg.n_classes, low)], dim=1))


class CoarseDiscriminator(nn.Module):
    """Level 0's D: an MLP on (coarse image, one-hot class), one ReLU + dropout layer per entry
    of `model.d_hidden` (the paper: two of 600)."""

    def __init__(self, cfg: LapGANModelConfig, size: int) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [cfg.img_channels * size * size + cfg.n_classes, *(cfg.d_hidden or [600, 600])]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(c_in, c_out), nn.ReLU(), nn.Dropout(cfg.dropout)]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x.flatten(1), one_hot(y, self.cfg.n_classes, x)], dim=1)
        return self.net(h).squeeze(1)


class ResidualDiscriminator(nn.Module):
    """Judges a residual together with the low-pass image it refines and the class."""

    def __init__(self, cfg: LapGANModelConfig, size: int) -> None:
        super().__init__()
        self.cfg = cfg
        c_in = 2 * cfg.img_channels + cfg.n_classes
        self.net = nn.Sequential(
            nn.Conv2d(c_in, cfg.ch, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
            nn.Conv2d(cfg.ch, cfg.ch, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ch * (size // 4) ** 2, 1),
        )

    def forward(self, residual: torch.Tensor, low: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        planes = _class_planes(y, self.cfg.n_classes, low)
        return self.net(torch.cat([residual, low, planes], dim=1)).squeeze(1)


class LapGANGenerator(nn.Module):
    """The pyramid as one generator: z holds level 0's noise, then one noise plane per level."""

    def __init__(self, cfg: LapGANModelConfig) -> None:
        super().__init__()
        cfg.check()
        self.sizes = level_sizes(cfg)
        self.chunks = [cfg.dim_z] + [s * s for s in self.sizes[1:]]
        self.dim_z = sum(self.chunks)
        self.levels = nn.ModuleList(
            [CoarseGenerator(cfg, self.sizes[0])] + [ResidualGenerator(cfg) for _ in self.sizes[1:]]
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        noise = torch.split(z, self.chunks, dim=1)
        image = self.levels[0](noise[0], y)
        for level in range(1, len(self.levels)):
            low = upsample(image)
            image = low + self.levels[level](noise[level], low, y)
        return image.clamp(-1, 1)


class LapGANDiscriminator(nn.Module):
    """One discriminator per pyramid level; forward scores a full image at every level."""

    def __init__(self, cfg: LapGANModelConfig) -> None:
        super().__init__()
        sizes = level_sizes(cfg)
        self.levels = nn.ModuleList(
            [CoarseDiscriminator(cfg, sizes[0])] + [ResidualDiscriminator(cfg, s) for s in sizes[1:]]
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean over levels of each level's logit on x's own pyramid (for monitoring only)."""
        pyramid = laplacian_pyramid(x, len(self.levels))
        scores = [self.levels[0](pyramid[0][0], y)]
        scores += [d(h, low, y) for d, (h, low) in zip(self.levels[1:], pyramid[1:], strict=True)]
        return torch.stack(scores).mean(0)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """[(coarse image, None), (h_1, low_1), ...]: h_l = I_l - up(I_{l-1}), low_l = up(I_{l-1})."""
    images = [x]
    for _ in range(levels - 1):
        images.insert(0, downsample(images[0]))
    out: list[tuple[torch.Tensor, torch.Tensor | None]] = [(images[0], None)]
    for level in range(1, levels):
        low = upsample(images[level - 1])
        out.append((images[level] - low, low))
    return out
