"""BicycleGAN's generator (Zhu et al. 2017): pix2pix's U-Net that also takes a latent code z,
replicated over the image and concatenated either to the input only (`inject="input"`) or to
the input of every encoder stage (`inject="all"`, the authors' default `where_add=all`).

The layout is `models.unet`'s (C64-C128-C256-C512..., skips, dropout 0.5 in the 512->512
decoder blocks from depth 5) with the authors' BicycleGAN details: every convolution keeps its
bias whatever the norm, and the decoder's transposed convolutions are 4x4 stride 2.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.unet import DROPOUT_FROM_DEPTH, unet_width
from ganforge.nn.norm import norm_layer

INJECTIONS = ("all", "input")


def with_code(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """[x, z replicated over x's pixels] along the channels."""
    code = z.reshape(z.shape[0], z.shape[1], 1, 1).expand(-1, -1, x.shape[-2], x.shape[-1])
    return torch.cat([x, code.to(x.dtype)], 1)


class UNetWithCode(nn.Module):
    """(image (N, in_channels, H, W), code (N, nz)) -> image (N, out_channels, H, W) in [-1, 1]."""

    def __init__(self, in_channels: int, out_channels: int, nz: int, downs: int, ngf: int = 64,
                 norm: str = "instance", dropout: bool = False, inject: str = "all") -> None:
        super().__init__()
        if downs < 2:
            raise ValueError(f"a U-Net needs at least 2 downsamplings, got {downs}")
        if inject not in INJECTIONS:
            raise ValueError(f"unknown z injection '{inject}'; use {' or '.join(INJECTIONS)}")
        make_norm = norm_layer(norm)
        self.downs, self.nz, self.inject = downs, nz, inject
        widths = [unet_width(d, ngf) for d in range(1, downs + 1)]
        self.encoder = nn.ModuleList()
        for depth in range(1, downs + 1):
            c_in = in_channels if depth == 1 else widths[depth - 2]
            c_in += nz if (depth == 1 or inject == "all") else 0
            layers: list[nn.Module] = [] if depth == 1 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(c_in, widths[depth - 1], 4, 2, 1))
            if 1 < depth < downs:
                layers.append(make_norm(widths[depth - 1]))
            self.encoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList()  # decoder[k] undoes encoder stage k + 1
        for depth in range(1, downs + 1):
            c_in = widths[depth - 1] * (1 if depth == downs else 2)
            if depth == 1:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, widths[depth - 2], 4, 2, 1),
                          make_norm(widths[depth - 2])]
                if dropout and DROPOUT_FROM_DEPTH <= depth < downs:
                    layers.append(nn.Dropout(0.5))
            self.decoder.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        side = 2**self.downs
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(f"a U-Net with {self.downs} downsamplings needs image sides divisible "
                             f"by {side}, got {x.shape[-2]}x{x.shape[-1]}")
        if z.shape != (x.shape[0], self.nz):
            raise ValueError(f"the generator takes codes ({x.shape[0]}, {self.nz}), got {tuple(z.shape)}")
        skips = []
        for depth, stage in enumerate(self.encoder, start=1):
            x = stage(with_code(x, z) if (depth == 1 or self.inject == "all") else x)
            skips.append(x)
        h = self.decoder[-1](skips[-1])
        for depth in range(self.downs - 1, 0, -1):
            h = self.decoder[depth - 1](torch.cat([skips[depth - 1], h], 1))
        return h
