"""SAGAN/BigGAN self-attention with spectrally-normalised 1x1 convolutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nn.layers import LayerFactory


class SelfAttention(nn.Module):
    """theta, phi: C -> C/8; g: C -> C/2; o: C/2 -> C; phi and g max-pooled 2x2.

    out = x + gamma * o(attention), gamma starting at 0 so the block begins as the identity.
    Softmax logits are the raw dot products (no 1/sqrt(d) scaling), as in SAGAN and BigGAN.
    """

    def __init__(self, channels: int, layers: LayerFactory) -> None:
        super().__init__()
        if channels % 8:
            raise ValueError(f"self-attention needs a channel count divisible by 8, got {channels}")
        self.theta = layers.conv(channels, channels // 8, 1, bias=False)
        self.phi = layers.conv(channels, channels // 8, 1, bias=False)
        self.g = layers.conv(channels, channels // 2, 1, bias=False)
        self.o = layers.conv(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        query = self.theta(x).flatten(2).transpose(1, 2)  # B, HW, C/8
        key = F.max_pool2d(self.phi(x), 2).flatten(2).transpose(1, 2)  # B, HW/4, C/8
        value = F.max_pool2d(self.g(x), 2).flatten(2).transpose(1, 2)  # B, HW/4, C/2
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        attended = attended.transpose(1, 2).reshape(b, c // 2, h, w)
        return x + self.gamma * self.o(attended)
