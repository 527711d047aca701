"""StyleGAN2's synthesis network: a learned 4x4 constant, two modulated 3x3 convolutions per
resolution with per-pixel noise, and a skip generator (each resolution's ToRGB output is added
to the upsampled image so far; no progressive growing)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ganforge.models.stylegan.adain import AdaINLayer
from ganforge.models.stylegan.layers import EqualConv2d, EqualLinear, bias_act, modulated_conv2d
from ganforge.models.stylegan.resample import fir_filter, upsample2d

NoiseMode = Literal["random", "const", "none"]
NOISE_MODES = ("random", "const", "none")
Style = Literal["demod", "adain"]
STYLES = ("demod", "adain")


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (x2 up when `up`), plus noise x learned strength (init 0), bias,
    lrelu, clamp. The style s = affine(w) starts at 1 (bias init 1): an identity modulation."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, up: bool = False,
                 clamp: float | None = None) -> None:
        super().__init__()
        self.resolution, self.up, self.clamp = resolution, up, clamp
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("fir", fir_filter(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: NoiseMode, fused: bool,
                gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, up=self.up, fir=self.fir, fused=fused)
        if noise_mode == "random":
            r = self.resolution
            x = x + torch.randn(x.shape[0], 1, r, r, device=x.device, dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + (self.noise_const * self.noise_strength).to(x.dtype)
        clamp = self.clamp * gain if self.clamp is not None else None
        return bias_act(x, self.bias, "lrelu", gain, clamp)


class ToRGB(nn.Module):
    """1x1 modulated conv to the image channels, without demodulation (colours keep their
    scale); the style carries the weight's 1/sqrt(in) gain."""

    def __init__(self, in_ch: int, img_channels: int, w_dim: int, clamp: float | None = None) -> None:
        super().__init__()
        self.clamp = clamp
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_ch)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias, "linear", clamp=self.clamp)


class SynthesisBlock(nn.Module):
    """One resolution: conv0 (x2 up; the 4x4 block starts from `const` instead), conv1, ToRGB.
    It reads num_conv + 1 styles; its ToRGB's style is the next block's conv0's.

    style=adain (StyleGAN v1's layers): the 4x4 block's conv0 is v1's styled epilogue of the
    constant (initialised to ones), every layer reads its own style, and ToRGB is a plain 1x1
    convolution that reads none."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, img_channels: int,
                 clamp: float | None = None, style: Style = "demod") -> None:
        super().__init__()
        self.in_ch, self.resolution, self.style = in_ch, resolution, style
        if style == "adain":
            if in_ch == 0:
                self.const = nn.Parameter(torch.ones(out_ch, resolution, resolution))
            self.conv0 = AdaINLayer(in_ch, out_ch, w_dim, resolution, up=True, conv=in_ch > 0, clamp=clamp)
            self.conv1 = AdaINLayer(out_ch, out_ch, w_dim, resolution, clamp=clamp)
            self.torgb = EqualConv2d(out_ch, img_channels, 1, clamp=clamp)
            self.num_conv, self.num_torgb = 2, 0
        else:
            if in_ch == 0:
                self.const = nn.Parameter(torch.randn(out_ch, resolution, resolution))
            else:
                self.conv0 = SynthesisLayer(in_ch, out_ch, w_dim, resolution, up=True, clamp=clamp)
            self.conv1 = SynthesisLayer(out_ch, out_ch, w_dim, resolution, clamp=clamp)
            self.torgb = ToRGB(out_ch, img_channels, w_dim, clamp=clamp)
            self.num_conv, self.num_torgb = (1 if in_ch == 0 else 2), 1
        self.register_buffer("fir", fir_filter(), persistent=False)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: NoiseMode, fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if self.in_ch == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        i = 0
        if self.in_ch > 0 or self.style == "adain":
            x = self.conv0(x, ws[:, 0], noise_mode, fused)
            i = 1
        x = self.conv1(x, ws[:, i], noise_mode, fused)
        if self.num_torgb:
            rgb = self.torgb(x, ws[:, self.num_conv], fused).float()
        else:
            rgb = self.torgb(x).float()
        img = rgb if img is None else upsample2d(img, self.fir) + rgb
        return x, img


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at a resolution: channel_base / res, at most channel_max."""
    return min(channel_base // resolution, channel_max)


class SynthesisNetwork(nn.Module):
    """Blocks b4, b8, ... b{resolution}; `num_ws` styles in all (2 per resolution, 4x4: 1, plus
    the last ToRGB's)."""

    def __init__(self, w_dim: int, resolution: int, img_channels: int, channel_base: int,
                 channel_max: int, clamp: float | None = None, style: Style = "demod") -> None:
        super().__init__()
        self.w_dim, self.resolution = w_dim, resolution
        self.resolutions = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
        self.num_ws = 0
        for res in self.resolutions:
            in_ch = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
            block = SynthesisBlock(in_ch, channels_at(res, channel_base, channel_max), w_dim, res,
                                   img_channels, clamp, style)
            self.add_module(f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += block.num_torgb  # the last ToRGB's (demod)

    def forward(self, ws: torch.Tensor, noise_mode: NoiseMode = "random", fused: bool = False) -> torch.Tensor:
        ws = ws.float()
        x = img = None
        start = 0
        for res in self.resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws[:, start: start + block.num_conv + block.num_torgb], noise_mode, fused)
            start += block.num_conv
        return img
