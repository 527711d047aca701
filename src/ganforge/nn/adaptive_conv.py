"""Sample-adaptive kernel selection (GigaGAN, Kang et al. 2023, Sec. 3.2): a layer holds a bank
of N filters; each sample's filter is their mix with softmax weights predicted from its style,
then modulated and demodulated as in StyleGAN2. Capacity grows with N at the cost of one conv.

For sample b: K_b = sum_n softmax(A w_b)_n K_n; K_b[o, i] *= s_b[i] (s = B w_b + 1);
K_b[o] /= sqrt(sum_{i,k,l} K_b[o, i, k, l]^2 + eps); y_b = conv(x_b, K_b). All samples run as
one grouped convolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-8


class AdaptiveKernelConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, style_dim: int, n_kernels: int = 4, kernel: int = 3,
                 demodulate: bool = True) -> None:
        super().__init__()
        self.bank = nn.Parameter(torch.randn(n_kernels, out_ch, in_ch, kernel, kernel) / math.sqrt(in_ch * kernel**2))
        self.select = nn.Linear(style_dim, n_kernels)
        self.modulate = nn.Linear(style_dim, in_ch)
        nn.init.zeros_(self.modulate.bias)
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.demodulate, self.padding = demodulate, kernel // 2

    def kernels(self, w: torch.Tensor) -> torch.Tensor:
        """The per-sample filters (B, out, in, k, k) for styles w (B, style_dim)."""
        mix = torch.softmax(self.select(w), dim=1)
        k = torch.einsum("bn,noikl->boikl", mix, self.bank)
        k = k * (self.modulate(w) + 1.0)[:, None, :, None, None]
        if self.demodulate:
            k = k * torch.rsqrt(k.pow(2).sum((2, 3, 4), keepdim=True) + EPS)
        return k

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, c, h, wd = x.shape
        k = self.kernels(w).to(x.dtype)
        y = F.conv2d(x.reshape(1, b * c, h, wd), k.reshape(-1, *k.shape[2:]), padding=self.padding, groups=b)
        return y.reshape(b, -1, h, wd) + self.bias.view(1, -1, 1, 1)
