"""StyleGAN2 (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020)
as NVlabs/stylegan2-ada-pytorch builds it: config F's skip generator and residual
discriminator, equalised learning rate, FIR resampling and projection conditioning.

The state-dict keys follow the official networks' (`mapping.fc0.weight`,
`synthesis.b8.conv0.affine.bias`, `b4.out.weight`, ...) except for the FIR filter buffers, which
are constants here: `benchmarks/stylegan2_parity.py` copies official weights in by that mapping
and compares outputs. Not built: per-block fp16 (`train.precision` casts the whole step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import ModelConfig, register, setting
from ganforge.config.sections import AT_LEAST_0, AT_LEAST_1, POSITIVE, UNIT
from ganforge.errors import GanforgeError
from ganforge.models.common import check_power_of_two
from ganforge.models.stylegan.discriminator import DiscriminatorNetwork
from ganforge.models.stylegan.mapping import MappingNetwork
from ganforge.models.stylegan.synthesis import NOISE_MODES, Style, SynthesisNetwork

ModConv = Literal["auto", "fused", "unfused"]
LAYERS = "[1, 64]"  # mapping depth (official: 8; 2 in the cifar and auto presets)


@register("stylegan2")
@dataclass
class StyleGAN2ModelConfig(ModelConfig):
    """`model.arch=stylegan2`. Widths per resolution: min(channel_base / res, channel_max), in
    G and D alike (train.py's --cfg presets differ in channel_base, mapping depth, D arch and
    the minibatch-std group)."""

    style_based = True

    arch: str = "stylegan2"
    dim_z: int = setting(512, bounds=AT_LEAST_1)
    w_dim: int = setting(512, bounds=AT_LEAST_1)
    mapping_layers: int = setting(8, bounds=LAYERS)
    mapping_lr_mul: float = setting(0.01, bounds=POSITIVE)
    w_avg_beta: float = setting(0.995, bounds=UNIT)  # decay of the tracked mean of w
    channel_base: int = setting(32768, bounds=AT_LEAST_1)
    channel_max: int = setting(512, bounds=AT_LEAST_1)
    conv_clamp: float = setting(256.0, bounds=AT_LEAST_0, hint="0: no clamping")
    d_arch: Literal["resnet", "orig"] = "resnet"  # orig: no residual skips (the cifar preset)
    mbstd_group: int = setting(4, bounds=AT_LEAST_0, hint="0: the whole batch")
    mbstd_channels: int = setting(1, bounds="[0, 64]")
    d_mapping_layers: int = setting(8, bounds=LAYERS)  # conditional D's label mapping
    cmap_dim: int = setting(0, bounds=AT_LEAST_0, hint="0: D's width at 4x4")
    # auto: the official choice, grouped convolution in eval mode and the per-sample scaling
    # path in training; fused/unfused force one (the same values up to float rounding)
    modconv: ModConv = "auto"
    # adain: StyleGAN (v1)'s layers (AdaIN after noise, bias and lrelu; constant init ones;
    # plain ToRGB) in the same skip G, instead of modulated/demodulated convolutions
    style: Style = "demod"

    def check(self, config: Any = None) -> None:
        check_power_of_two(self.resolution)
        if self.channel_base < self.resolution:
            raise GanforgeError(f"model.channel_base={self.channel_base} leaves no channels at "
                                f"{self.resolution} px (channel_base / resolution); use at least "
                                f"{self.resolution}")
        if self.mbstd_channels and min(self.channel_base // 4, self.channel_max) % self.mbstd_channels:
            raise GanforgeError("model.mbstd_channels must divide D's width at 4x4 "
                                "(min(channel_base / 4, channel_max))")
        if self.d_heads:
            raise GanforgeError("model.arch=stylegan2 has no D heads; its conditional D is a projection")
        if self.codes_cat or self.codes_cont:
            raise GanforgeError("model.arch=stylegan2 takes no InfoGAN codes")
        if config is not None and self.mbstd_group:
            batch = config.train.batch_size
            if batch % min(self.mbstd_group, batch):
                raise GanforgeError(f"train.batch_size={batch} must be a multiple of "
                                    f"model.mbstd_group={self.mbstd_group}")


def class_input(y: torch.Tensor | None, n_classes: int, conditional: bool) -> torch.Tensor | None:
    """Class ids -> one-hot rows (float class vectors pass through); None when unconditional."""
    if not conditional:
        return None
    if y.is_floating_point():
        return y
    return F.one_hot(y.long(), n_classes).float()


class StyleGAN2Generator(nn.Module):
    """G(z, y) = synthesis(mapping(z, y)). `psi` and `cutoff` truncate in W; `noise_mode`
    (random, const, none) picks the per-pixel noise; by default the attribute `noise_mode`, and
    when that is None: random in training, const in eval mode (official generate.py's default,
    so that a seed always gives the same image)."""

    def __init__(self, cfg: StyleGAN2ModelConfig) -> None:
        super().__init__()
        self.dim_z, self.resolution = cfg.dim_z, cfg.resolution
        self.n_classes, self.conditional = cfg.n_classes, cfg.conditional
        self.modconv = cfg.modconv
        self.noise_mode: str | None = None
        clamp = cfg.conv_clamp or None
        self.synthesis = SynthesisNetwork(cfg.w_dim, cfg.resolution, cfg.img_channels,
                                          cfg.channel_base, cfg.channel_max, clamp, cfg.style)
        self.num_ws = self.synthesis.num_ws
        c_dim = cfg.n_classes if cfg.conditional else 0
        self.mapping = MappingNetwork(cfg.dim_z, c_dim, cfg.w_dim, self.num_ws, cfg.mapping_layers,
                                      cfg.mapping_lr_mul, cfg.w_avg_beta)

    def fused(self) -> bool:
        return self.modconv == "fused" or (self.modconv == "auto" and not self.training)

    def styles(self, z: torch.Tensor, y: torch.Tensor | None, psi: float | None = 1.0,
               cutoff: int | None = None, update_w_avg: bool = True) -> torch.Tensor:
        """(N, num_ws, w_dim): the mapped (and truncated) styles."""
        c = class_input(y, self.n_classes, self.conditional)
        return self.mapping(z, c, 1.0 if psi is None else psi, cutoff, update_w_avg)

    def render(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        """Images in (about) [-1, 1] for styles ws; no tanh, as the official networks."""
        mode = noise_mode or self.noise_mode or ("random" if self.training else "const")
        if mode not in NOISE_MODES:
            raise GanforgeError(f"unknown noise mode '{mode}'; choose from {', '.join(NOISE_MODES)}")
        return self.synthesis(ws, mode, self.fused())

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, psi: float | None = 1.0,
                cutoff: int | None = None, noise_mode: str | None = None) -> torch.Tensor:
        return self.render(self.styles(z, y, psi, cutoff), noise_mode)


class StyleGAN2Discriminator(DiscriminatorNetwork):
    """D(images, y) -> (N,) logits; projection onto the mapped label when conditional."""

    def __init__(self, cfg: StyleGAN2ModelConfig) -> None:
        c_dim = cfg.n_classes if cfg.conditional else 0
        super().__init__(cfg.resolution, cfg.img_channels, c_dim, cfg.channel_base, cfg.channel_max,
                         cfg.d_arch, cfg.mbstd_group or None, cfg.mbstd_channels, cfg.cmap_dim,
                         cfg.d_mapping_layers, cfg.conv_clamp or None)
        self.n_classes, self.conditional = cfg.n_classes, cfg.conditional

    def forward(self, img: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(img, class_input(y, self.n_classes, self.conditional)).flatten()
