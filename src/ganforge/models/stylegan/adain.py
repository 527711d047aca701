"""StyleGAN (v1)'s style layer, for the `model.style=adain` variant of the StyleGAN2 model.

Karras, Laine & Aila, "A Style-Based Generator Architecture for GANs", CVPR 2019
(NVlabs/stylegan networks_stylegan.py): each layer's output gets per-pixel noise (a learned
strength per channel), bias and leaky ReLU, then adaptive instance normalisation: instance-
normalised, scaled by (1 + y_s) and shifted by y_b with y = affine(w). StyleGAN2 replaced this
normalisation of the activations by demodulation of the weights (its droplet artefacts came
from AdaIN's normalisation); kept here so that the two can be compared on one engine.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models.stylegan.layers import EqualLinear, bias_act
from ganforge.models.stylegan.resample import conv_up2, fir_filter


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) over each sample's and channel's pixels."""
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x * (x.square().mean(dim=(2, 3), keepdim=True) + eps).rsqrt()


class AdaINLayer(nn.Module):
    """[equalised 3x3 conv, x2 up when `up`] -> noise -> bias -> lrelu -> AdaIN(w). Without
    `conv` it is v1's epilogue of the learned constant."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, up: bool = False,
                 conv: bool = True, clamp: float | None = None) -> None:
        super().__init__()
        self.resolution, self.up, self.clamp = resolution, up, clamp
        if conv:
            self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
            self.weight_gain = 1.0 / math.sqrt(in_ch * 9)
        self.conv = conv
        self.affine = EqualLinear(w_dim, 2 * out_ch)
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros(out_ch))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("fir", fir_filter(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, fused: bool = False,
                gain: float = 1.0) -> torch.Tensor:
        if self.conv:
            weight = (self.weight * self.weight_gain).to(x.dtype)
            x = conv_up2(x, weight, self.fir) if self.up else F.conv2d(x, weight, padding=1)
        strength = self.noise_strength.view(1, -1, 1, 1)
        if noise_mode == "random":
            r = self.resolution
            x = x + torch.randn(x.shape[0], 1, r, r, device=x.device, dtype=x.dtype) * strength
        elif noise_mode == "const":
            x = x + (self.noise_const * strength).to(x.dtype)
        clamp = self.clamp * gain if self.clamp is not None else None
        x = instance_norm(bias_act(x, self.bias, "lrelu", gain, clamp))
        scale, shift = self.affine(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * (scale + 1) + shift
