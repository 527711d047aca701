"""PatchGAN discriminators (Isola et al. 2017): a fully convolutional D that scores every
overlapping patch of its input as real or fake, so it models high frequencies only and leaves
low frequencies to the L1 term (pix2pix) or the cycle loss (CycleGAN).

`n_layers=3` is the 70x70 PatchGAN: C64 (no norm) - C128 - C256 (stride 2) - C512 (stride 1) -
a 1-channel conv, all 4x4 with LeakyReLU 0.2; a 256x256 input gives a 30x30 map of logits.
`pixel` is the 1x1 PixelGAN. Outputs are raw logits: the losses in `ganforge.objectives` take
logits (no sigmoid in the network).
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nn.norm import conv_bias, norm_layer

KERNEL = 4


class PatchDiscriminator(nn.Module):
    """Image (N, in_channels, H, W) -> logits (N, 1, h, w), one per receptive-field patch."""

    def __init__(
        self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"a PatchGAN needs n_layers >= 1, got {n_layers}")
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, KERNEL, 2, 1), nn.LeakyReLU(0.2)]
        width = ndf
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1
            out = ndf * min(2**n, 8)
            layers += [
                nn.Conv2d(width, out, KERNEL, stride, 1, bias=bias),
                make_norm(out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        layers.append(nn.Conv2d(width, 1, KERNEL, 1, 1))
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """The 1x1 PixelGAN: every pixel judged on its own (colour statistics, no structure)."""

    def __init__(self, in_channels: int, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        self.model = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, 2 * ndf, 1, bias=bias),
            make_norm(2 * ndf),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ndf, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MultiScaleDiscriminator(nn.Module):
    """`num_d` PatchGANs on the image and on successively 2x average-pooled copies (3x3, stride
    2, padding not counted), so coarse scales judge global structure: BicycleGAN's D (each
    scale at half the previous width, `halve_width`) and pix2pixHD/SPADE's (the same width).
    Returns the list of logit maps, finest first."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 num_d: int = 2, halve_width: bool = True) -> None:
        super().__init__()
        if num_d < 1:
            raise ValueError(f"a multi-scale D needs num_d >= 1, got {num_d}")
        self.scales = nn.ModuleList(
            PatchDiscriminator(in_channels, int(round(ndf / 2**i)) if halve_width else ndf, n_layers, norm)
            for i in range(num_d)
        )
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for i, scale in enumerate(self.scales):
            if i:
                x = self.down(x)
            outputs.append(scale(x))
        return outputs


def receptive_field(model: nn.Module) -> int:
    """Side of the input patch one output logit sees, from the conv kernels and strides."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    field = 1
    for conv in reversed(convs):
        field = (field - 1) * conv.stride[0] + conv.kernel_size[0]
    return field


def patch_output_size(side: int, n_layers: int) -> int:
    """Side of the logit map for an input of `side` pixels (4x4 convs, padding 1)."""
    for _ in range(n_layers):
        side = (side + 2 - KERNEL) // 2 + 1
    for _ in range(2):  # the stride-1 conv and the 1-channel conv each lose one pixel
        side = side + 2 - KERNEL + 1
    return side
