"""CycleGAN's ResNet generator (Zhu et al. 2017, after Johnson et al. 2016):
c7s1-64, d128, d256, n residual blocks R256, u128, u64, c7s1-3 with reflection padding.

`c7s1-k` is a 7x7 stride-1 conv with k filters + norm + ReLU; `dk` a 3x3 stride-2 conv; `Rk` two
3x3 convs with a skip; `uk` a 3x3 stride-1/2 (transposed) conv. 6 blocks for 128x128 training
images, 9 for 256x256 and above. Image sides must be divisible by 4.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nn.norm import conv_bias, norm_layer

SAMPLINGS = 2  # stride-2 stages down (and up)


class ResidualBlock(nn.Module):
    """x + [reflect pad, conv3, norm, ReLU, (dropout), reflect pad, conv3, norm](x)."""

    def __init__(self, channels: int, norm: str, dropout: bool) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(channels),
            nn.ReLU(),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(channels),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetTranslator(nn.Module):
    """Image (N, in_channels, H, W) -> image (N, out_channels, H, W) in [-1, 1]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        blocks: int = 9,
        ngf: int = 64,
        norm: str = "instance",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        if blocks < 0:
            raise ValueError(f"a ResNet generator needs blocks >= 0, got {blocks}")
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            make_norm(ngf),
            nn.ReLU(),
        ]
        width = ngf
        for _ in range(SAMPLINGS):
            layers += [
                nn.Conv2d(width, 2 * width, 3, 2, 1, bias=bias),
                make_norm(2 * width),
                nn.ReLU(),
            ]
            width *= 2
        layers += [ResidualBlock(width, norm, dropout) for _ in range(blocks)]
        for _ in range(SAMPLINGS):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=bias),
                make_norm(width // 2),
                nn.ReLU(),
            ]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = 2**SAMPLINGS
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(
                f"the ResNet generator needs image sides divisible by {side}, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )
        return self.model(x)
