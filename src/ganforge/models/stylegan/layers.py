"""StyleGAN2's layers with an equalised learning rate, and its modulated convolution.

Equalised learning rate (Karras et al. 2018): weights are stored as N(0, 1) and multiplied by
He's constant 1/sqrt(fan_in) at run time, so that Adam's per-parameter step moves every layer's
output by the same relative amount. A learning-rate multiplier (the mapping network's 0.01) is
folded in the same way: stored weights are N(0, 1/lr_mul^2), scaled by lr_mul at run time.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models.stylegan.resample import conv_down2, conv_up2, fir_filter

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' second moment through a leaky ReLU


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, act: str = "linear", gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """Bias, activation (lrelu is scaled by sqrt 2), gain, then clamping to +-clamp: the clamp
    keeps fp16 activations finite (the official code applies it in every precision)."""
    if bias is not None:
        x = x + bias.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
        gain = gain * LRELU_GAIN
    elif act != "linear":
        raise ValueError(f"unknown activation '{act}'")
    if gain != 1.0:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class EqualLinear(nn.Module):
    """A fully connected layer with an equalised learning rate (gain lr_mul/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, act: str = "linear",
                 lr_mul: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.act = act
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul

    def effective_weight(self) -> torch.Tensor:
        """The weight as it acts (stored N(0, 1) times its gain), for the monitors."""
        return self.weight * self.weight_gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.bias_gain
        if self.act == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, self.act)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, act={self.act}, lr_mul={self.bias_gain}"


class EqualConv2d(nn.Module):
    """A convolution with an equalised learning rate (gain 1/sqrt(in k^2)), optionally followed
    by x2 FIR downsampling (the discriminator's), bias, activation and clamping."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True,
                 act: str = "linear", down: bool = False, clamp: float | None = None) -> None:
        super().__init__()
        self.act, self.down, self.clamp = act, down, clamp
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.register_buffer("fir", fir_filter(), persistent=False)

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.weight_gain

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        if self.down:
            x = conv_down2(x, w, self.fir)
        else:
            x = F.conv2d(x, w, padding=w.shape[-1] // 2)
        clamp = self.clamp * gain if self.clamp is not None else None
        return bias_act(x, self.bias, self.act, gain, clamp)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     demodulate: bool = True, up: bool = False, fir: torch.Tensor | None = None,
                     fused: bool = True) -> torch.Tensor:
    """StyleGAN2's modulated convolution: each sample's weight is W_oi * s_i, demodulated to unit
    norm per output channel, w' / sqrt(sum_{i,k} w'^2 + 1e-8) (which replaces AdaIN's instance
    normalisation and removes its droplet artefacts).

    fused: one grouped convolution with the N per-sample weights (what the official code does at
    inference); otherwise the input is scaled by s before and by the demodulation after an
    ordinary convolution (its training path; the same values up to float rounding).
    x: (N, I, H, W); weight: (O, I, k, k), already multiplied by its gain; styles: (N, I).
    """
    n, in_ch = styles.shape
    out_ch, _, k, _ = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)  # (N, O, I, k, k)
    dcoefs = (w.square().sum(dim=(2, 3, 4)) + 1e-8).rsqrt() if demodulate else None  # (N, O)
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, in_ch, 1, 1)
        w0 = weight.to(x.dtype)
        x = conv_up2(x, w0, fir) if up else F.conv2d(x, w0, padding=k // 2)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(n, out_ch, 1, 1)
        return x
    if dcoefs is not None:
        w = w * dcoefs.reshape(n, out_ch, 1, 1, 1)
    w = w.reshape(n * out_ch, in_ch, k, k).to(x.dtype)
    x = x.reshape(1, n * in_ch, *x.shape[2:])
    x = conv_up2(x, w, fir, groups=n) if up else F.conv2d(x, w, padding=k // 2, groups=n)
    return x.reshape(n, out_ch, *x.shape[2:])
