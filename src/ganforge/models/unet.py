"""pix2pix's U-Net generator (Isola et al. 2017): an encoder-decoder with skip connections.

Encoder: `downs` stride-2 4x4 convolutions C64-C128-C256-C512-C512..., each after a LeakyReLU(0.2)
and followed by a norm (none on the first and on the innermost one). Decoder: ReLU, stride-2 4x4
transposed convolution, norm, and for the 512->512 blocks between depth 5 and the bottleneck,
dropout 0.5 (pix2pix's only noise source); the last one ends in tanh. Every decoder stage reads
the concatenation [encoder output at that depth, previous decoder output]. `downs=8` is U-Net-256
(256x256 -> 1x1 at the bottleneck); an image side of 2^downs gives a 1x1 bottleneck, and any
side divisible by 2^downs works.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nn.norm import conv_bias, norm_layer

DROPOUT_FROM_DEPTH = 5  # the reference's (num_downs - 5) 512->512 blocks carry dropout


def unet_width(depth: int, ngf: int) -> int:
    """Channels out of encoder stage `depth` (1-based): ngf, 2 ngf, 4 ngf, then 8 ngf."""
    return ngf * min(2 ** (depth - 1), 8)


class UNetGenerator(nn.Module):
    """Image (N, in_channels, H, W) -> image (N, out_channels, H, W) in [-1, 1]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        downs: int,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = True,
    ) -> None:
        super().__init__()
        if downs < 2:
            raise ValueError(f"a U-Net needs at least 2 downsamplings, got {downs}")
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        self.downs = downs
        widths = [unet_width(d, ngf) for d in range(1, downs + 1)]
        self.encoder = nn.ModuleList()
        for depth in range(1, downs + 1):
            c_in = in_channels if depth == 1 else widths[depth - 2]
            layers: list[nn.Module] = [] if depth == 1 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(c_in, widths[depth - 1], 4, 2, 1, bias=bias))
            if 1 < depth < downs:
                layers.append(make_norm(widths[depth - 1]))
            self.encoder.append(nn.Sequential(*layers))
        # decoder[k] undoes encoder stage k + 1; it runs innermost first
        self.decoder = nn.ModuleList()
        for depth in range(1, downs + 1):
            c_in = widths[depth - 1] * (1 if depth == downs else 2)
            if depth == 1:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                c_out = widths[depth - 2]
                layers = [
                    nn.ReLU(),
                    nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias),
                    make_norm(c_out),
                ]
                if dropout and DROPOUT_FROM_DEPTH <= depth < downs:
                    layers.append(nn.Dropout(0.5))
            self.decoder.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = 2**self.downs
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(
                f"a U-Net with {self.downs} downsamplings needs image sides divisible by {side}, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        h = self.decoder[-1](skips[-1])
        for depth in range(self.downs - 1, 0, -1):
            h = self.decoder[depth - 1](torch.cat([skips[depth - 1], h], 1))
        return h
