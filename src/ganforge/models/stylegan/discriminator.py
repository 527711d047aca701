"""StyleGAN2's discriminator: residual (or plain) blocks of two 3x3 convolutions with FIR
downsampling, minibatch standard deviation, and projection conditioning on a mapped label."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ganforge.models.stylegan.layers import EqualConv2d, EqualLinear
from ganforge.models.stylegan.mapping import MappingNetwork
from ganforge.models.stylegan.synthesis import channels_at

DArch = Literal["resnet", "orig"]


class DiscriminatorBlock(nn.Module):
    """[fromrgb 1x1 on the first block] conv0 3x3, conv1 3x3 with x2 down; `resnet` adds a 1x1
    x2-down skip without bias and scales both branches by sqrt(1/2) (unit variance sum)."""

    def __init__(self, in_ch: int, tmp_ch: int, out_ch: int, img_channels: int, arch: DArch,
                 clamp: float | None) -> None:
        super().__init__()
        self.first, self.arch = in_ch == 0, arch
        if self.first:
            self.fromrgb = EqualConv2d(img_channels, tmp_ch, 1, act="lrelu", clamp=clamp)
        self.conv0 = EqualConv2d(tmp_ch, tmp_ch, 3, act="lrelu", clamp=clamp)
        self.conv1 = EqualConv2d(tmp_ch, out_ch, 3, act="lrelu", down=True, clamp=clamp)
        if arch == "resnet":
            self.skip = EqualConv2d(tmp_ch, out_ch, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.first:
            x = self.fromrgb(img)
        if self.arch == "resnet":
            gain = math.sqrt(0.5)
            y = self.skip(x, gain=gain)
            return y + self.conv1(self.conv0(x), gain=gain)
        return self.conv1(self.conv0(x))


def minibatch_std(x: torch.Tensor, group_size: int | None, channels: int = 1) -> torch.Tensor:
    """Appends `channels` feature maps holding, for groups of min(group_size, N) samples (sample
    i belongs to group i mod N/G), the mean over channels and pixels of the standard deviation
    over the group: D sees how varied the batch is, which discourages mode collapse."""
    n, c, h, w = x.shape
    g = n if group_size is None else min(group_size, n)
    if n % g:
        raise ValueError(f"minibatch-std groups of {g} do not divide a batch of {n}")
    y = x.reshape(g, n // g, channels, c // channels, h, w).float()
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (n/G, F, c, H, W)
    y = y.mean(dim=(2, 3, 4)).to(x.dtype)  # (n/G, F)
    y = y.reshape(-1, channels, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """At 4x4: minibatch std, conv 3x3, fc (16C -> C), out (C -> 1, or cmap_dim when
    conditional: the score is then <out, cmap> / sqrt(cmap_dim))."""

    def __init__(self, ch: int, cmap_dim: int, mbstd_group: int | None, mbstd_channels: int,
                 clamp: float | None) -> None:
        super().__init__()
        self.cmap_dim, self.mbstd_group, self.mbstd_channels = cmap_dim, mbstd_group, mbstd_channels
        self.conv = EqualConv2d(ch + mbstd_channels, ch, 3, act="lrelu", clamp=clamp)
        self.fc = EqualLinear(ch * 16, ch, act="lrelu")
        self.out = EqualLinear(ch, cmap_dim or 1)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        x = x.float()
        if self.mbstd_channels > 0:
            x = minibatch_std(x, self.mbstd_group, self.mbstd_channels)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if cmap is not None:
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class DiscriminatorNetwork(nn.Module):
    """Blocks b{resolution} ... b8, then b4 (the epilogue); `mapping` embeds the label (8 layers,
    lr multiplier 0.01) when conditional."""

    def __init__(self, resolution: int, img_channels: int, c_dim: int, channel_base: int,
                 channel_max: int, arch: DArch = "resnet", mbstd_group: int | None = 4,
                 mbstd_channels: int = 1, cmap_dim: int = 0, mapping_layers: int = 8,
                 clamp: float | None = None) -> None:
        super().__init__()
        self.resolutions = [2**i for i in range(int(math.log2(resolution)), 2, -1)]
        for res in self.resolutions:
            in_ch = channels_at(res, channel_base, channel_max) if res < resolution else 0
            block = DiscriminatorBlock(in_ch, channels_at(res, channel_base, channel_max),
                                       channels_at(res // 2, channel_base, channel_max),
                                       img_channels, arch, clamp)
            self.add_module(f"b{res}", block)
        ch4 = channels_at(4, channel_base, channel_max)
        cmap_dim = (cmap_dim or ch4) if c_dim > 0 else 0
        self.c_dim = c_dim
        if c_dim > 0:
            self.mapping = MappingNetwork(0, c_dim, cmap_dim, num_ws=None, layers=mapping_layers,
                                          w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(ch4, cmap_dim, mbstd_group, mbstd_channels, clamp)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = None
        for res in self.resolutions:
            x = getattr(self, f"b{res}")(x, img)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, cmap)
