"""GigaGAN's text-conditioned upsampler (Kang et al. 2023, Sec. 3.4), small: a GAN that maps a
low-resolution image and its caption to a higher-resolution image, trained on real images
downsampled, and chained after a base text-to-image generator at sampling time.

G is an asymmetric U-Net: the low-resolution image enters through a stem and strided blocks down
to 4x4 (the encoder; its features are kept as skips), then the base GigaGAN synthesis runs from
there instead of from a learned constant: per block x2 upsampling, two sample-adaptive kernel
selection convolutions styled by w = M(z, t_global), interleaved L2 self-attention and text
cross-attention at `attn_resolutions`, the encoder's skip added where the sizes meet, and an RGB
output per scale. Each RGB output is a residual on the low-resolution image resized (bicubic) to
its scale, and every RGB layer starts at zero, so an untrained G *is* bicubic upsampling, exactly,
and training only learns what bicubic misses (ganforge's choice, as residual super-resolution
networks do; the paper does not say). The attention blocks' residual branches (self-attention,
cross-attention and feed-forward outputs) start at zero too: at their default initialisation they
swamped the U-Net's image features, and a G trained on L1 alone stayed at bicubic (+0.00 dB after
100 steps at 8 -> 32 px, against +1.06 dB with these zeros, +0.65 dB with no attention at all). D is the base model's multi-scale input / output,
text-conditioned D on the high-resolution pyramid.

The network's condition y packs the caption's token ids and the low-resolution pixels in one
float row (`pack`), so the engine's one (z, y) path (training, progress grids, eval, export)
carries both; `unpack` splits them. Token ids are exact in float32 (below 2**24).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import TextConfig, register, setting
from ganforge.errors import GanforgeError
from ganforge.models.common import check_power_of_two
from ganforge.models.gigagan import GigaGANModelConfig, SynthesisBlock, TextLayers
from ganforge.models.gigagan_discriminator import GigaGANDiscriminator
from ganforge.text import FrozenText


@register("gigagan-upsampler")
@dataclass
class GigaGANUpsamplerModelConfig(GigaGANModelConfig):
    """`model.arch=gigagan-upsampler`: `low_resolution` -> `resolution` (both powers of two)."""

    arch: str = "gigagan-upsampler"
    low_resolution: int = setting(8, bounds="[4, 4096]")

    def check(self, config: Any = None) -> None:
        super().check(config)
        check_power_of_two(self.low_resolution)
        if self.channels:
            raise GanforgeError("model.channels (per-block widths) is for the base model; the upsampler's "
                                "U-Net uses model.ch in every block: set model.channels=[]")
        if self.pyramid_4px:
            raise GanforgeError("model.pyramid_4px (a 4 px level in G's outputs and D's inputs) is for the base "
                                "model; the upsampler's pyramid starts at 8 px: set model.pyramid_4px=false")
        if not self.low_resolution < self.resolution:
            raise GanforgeError(f"model.low_resolution={self.low_resolution} must be below "
                                f"model.resolution={self.resolution}")


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """The upsampler's input: images in [-1, 1] resized to size x size (bicubic, antialiased)."""
    return F.interpolate(images.float(), size=(size, size), mode="bicubic", align_corners=False,
                         antialias=True).clamp(-1, 1)


def pack(ids: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """(N, L) token ids and (N, C, r, r) images in [-1, 1] -> one float condition row each."""
    return torch.cat([ids.float(), low.float().flatten(1)], 1)


def unpack(y: torch.Tensor, max_len: int, channels: int, low_res: int) -> tuple[torch.Tensor, torch.Tensor]:
    want = max_len + channels * low_res * low_res
    if not y.is_floating_point() or y.ndim != 2 or y.shape[1] != want:
        raise ValueError(f"the upsampler takes packed (token ids, {channels}x{low_res}x{low_res} image) rows of "
                         f"{want} floats, got {y.dtype} {tuple(y.shape)}; use Generator.upsample")
    return y[:, :max_len].round().long(), y[:, max_len:].reshape(len(y), channels, low_res, low_res)


class GigaGANUpsampler(nn.Module):
    takes_text = True
    packs_low_res = True  # y = pack(ids, low-resolution image)

    def __init__(self, cfg: GigaGANUpsamplerModelConfig, text: TextConfig) -> None:
        super().__init__()
        stages = check_power_of_two(cfg.resolution)
        self.cfg, self.dim_z, self.max_len = cfg, cfg.dim_z, text.max_len
        self.low_resolution = cfg.low_resolution
        self.encoder = TextLayers(text, cfg.img_channels, cfg.text_layers, cfg.style_dim)
        layers: list[nn.Module] = []
        width = cfg.dim_z + cfg.style_dim
        for _ in range(cfg.mapping_layers):
            layers += [nn.Linear(width, cfg.style_dim), nn.LeakyReLU(0.2)]
            width = cfg.style_dim
        self.mapping = nn.Sequential(*layers)
        self.stem = nn.Conv2d(cfg.img_channels, cfg.ch, 3, 1, 1)
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cfg.ch, cfg.ch, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(cfg.ch, cfg.ch, 3, 2, 1),
                          nn.LeakyReLU(0.2))
            for _ in range(int(math.log2(cfg.low_resolution)) - 2)
        )
        self.blocks = nn.ModuleList(
            SynthesisBlock(cfg, self.encoder.width, 4 * 2 ** (i + 1) in cfg.attn_resolutions) for i in range(stages)
        )
        for block in self.blocks:  # residual starts at 0: step 0 is bicubic upsampling
            nn.init.zeros_(block.to_rgb.bank)
            for attention in block.attention:  # each attention branch starts as the identity
                for out in (attention.self_attn.to_out, attention.cross_attn.to_out, attention.ff[-1]):
                    nn.init.zeros_(out.weight)
                    nn.init.zeros_(out.bias)

    @property
    def text(self) -> FrozenText:
        return self.encoder.text

    def split(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return unpack(y, self.max_len, self.cfg.img_channels, self.low_resolution)

    def forward(self, z: torch.Tensor, y: torch.Tensor, pyramid: bool = False) -> torch.Tensor | list[torch.Tensor]:
        ids, low = self.split(y)
        low = low.to(z.dtype)
        tokens, mask, t_global = self.encoder(ids)
        w = self.mapping(torch.cat([z, t_global.to(z.dtype)], 1))
        h = self.stem(low)
        skips = [h]
        for block in self.down:
            h = block(h)
            skips.append(h)
        skips.pop()  # the 4x4 bottom is h itself
        images = []
        for block in self.blocks:
            h, rgb = block(h, w, tokens, mask)
            if skips and skips[-1].shape[-1] == h.shape[-1]:
                h = h + skips.pop()
            size = rgb.shape[-1]
            base = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False, antialias=size < low.shape[-1])
            images.append(rgb + base)
        return images if pyramid else images[-1]


class GigaGANUpsamplerDiscriminator(GigaGANDiscriminator):
    takes_text = True

    def __init__(self, cfg: GigaGANUpsamplerModelConfig, text: TextConfig) -> None:
        super().__init__(cfg, text)
        self.max_len, self.low_resolution = text.max_len, cfg.low_resolution

    def forward(self, x: torch.Tensor | list[torch.Tensor], y: torch.Tensor, per_scale: bool = False) -> torch.Tensor:
        ids = y if not y.is_floating_point() else unpack(y, self.max_len, self.cfg.img_channels, self.low_resolution)[0]
        return super().forward(x, ids, per_scale)


__all__ = ["GigaGANUpsampler", "GigaGANUpsamplerDiscriminator", "GigaGANUpsamplerModelConfig", "downsample", "pack",
           "unpack"]
