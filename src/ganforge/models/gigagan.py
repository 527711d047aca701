"""GigaGAN (Kang et al. 2023, "Scaling up GANs for Text-to-Image Synthesis"), a small faithful
version of its base generator and discriminator.

G: the frozen text encoder's token features go through learned transformer layers T (t_local);
their masked mean, projected, is the global text code t_global. The style mapping M maps
[z, t_global] to w. Synthesis starts from a learned 4x4 constant; every block doubles the size and
applies two sample-adaptive kernel-selection convolutions (a bank of filters mixed by softmax
weights from w, modulated and demodulated: `nn.adaptive_conv`) and, at `attn_resolutions`,
interleaved attention: self-attention with L2-distance logits, cross-attention to t_local with
padding masked (`nn.l2_attention`) and a feed-forward layer. Every block has its own RGB output:
G returns the pyramid of images (multi-scale outputs) with `pyramid=True`, else the largest.

The multi-scale input / multi-scale output D is in `models/gigagan_discriminator.py`.

Widths: `ch` in every block, or `channels` (one width per synthesis block, 8 px first) for the
64 px base configuration (recipe gigagan-64); `attn_depth` attention blocks at each of
`attn_resolutions`.

t_global (`text.global_pool`): the paper's end-of-text token of T's output (eot; with CLIP the
EOT position also leaves t_local, as the paper's t_local = t without EOT; the built-in encoder
has no EOT token, so its last word is read and stays in t_local), or the masked mean of T's
outputs (mean, what configs without the key ran with).

The pyramid: with `pyramid_4px` (the paper's: G outputs every scale from 4 px up) a synthesis
block without up-sampling and with one convolution (StyleGAN2's 4x4 layer) works on the learned
4x4 constant (the 8 px block's width) and gives the 4 px RGB output, and D takes a 4 px input level (a 1x1 stem joining the trunk where its
features are 4x4, judged there); without it (configs written before the key) the pyramid starts
at 8 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import ModelConfig, TextConfig, register, setting
from ganforge.config.sections import AT_LEAST_1
from ganforge.errors import GanforgeError
from ganforge.models.common import check_power_of_two
from ganforge.nn.adaptive_conv import AdaptiveKernelConv
from ganforge.nn.l2_attention import CrossAttention, L2SelfAttention
from ganforge.text import FrozenText, build_text_encoder


@register("gigagan")
@dataclass
class GigaGANModelConfig(ModelConfig):
    """`model.arch=gigagan`: `ch` channels in every block (the demo is small)."""

    arch: str = "gigagan"
    ch: int = setting(64, bounds=AT_LEAST_1)
    dim_z: int = setting(64, bounds=AT_LEAST_1)
    style_dim: int = setting(128, bounds="[1, 8192]")  # w and t_global
    n_kernels: int = setting(4, bounds="[1, 64]")  # the filter bank of each adaptive convolution
    mapping_layers: int = setting(2, bounds="[1, 32]")  # M (the paper: 4)
    text_layers: int = setting(2, bounds="[1, 32]")  # G's learned layers T on the token features
    heads: int = setting(4, bounds="[1, 64]")
    attn_resolutions: list[int] = setting(factory=lambda: [8, 16], each="[4, 4096]")
    attn_depth: int = setting(1, bounds="[1, 64]")  # attention blocks at each attention resolution
    ff_mult: int = setting(2, bounds="[1, 16]")  # feed-forward width of attention blocks, x channels
    channels: list[int] = setting(factory=list, each="[1, 65536]")  # G: per block, 8 px first ([]: ch)
    d_channels: list[int] = setting(factory=list, each="[1, 65536]")  # D: per level, largest first, + 4 px
    d_attn_resolutions: list[int] = setting(factory=list, each="[4, 4096]")  # D: L2 self-attn on block outputs
    d_text_layers: int = setting(1, bounds="[1, 32]")  # D's own learned text layers
    d_predictor_layers: int = setting(4, bounds="[1, 16]")  # psi: 1x1 convs modulated by D's text code
    pyramid_4px: bool = False  # G's outputs and D's input levels go down to 4 px (the paper's), else 8 px

    def g_widths(self) -> list[int]:
        """One width per synthesis block (8 px, 16 px, ..., resolution)."""
        return list(self.channels) or [self.ch] * (check_power_of_two(self.resolution))

    def d_widths(self) -> list[int]:
        """D's widths at resolution, resolution/2, ..., 8 px and after the last block (4 px)."""
        return list(self.d_channels) or [self.ch] * (check_power_of_two(self.resolution) + 1)

    def check(self, config: Any = None) -> None:
        stages = check_power_of_two(self.resolution)
        if self.channels and len(self.channels) != stages:
            raise GanforgeError(f"model.channels has {len(self.channels)} widths; resolution {self.resolution} "
                                f"needs {stages} (one per synthesis block, 8 px first), or [] for model.ch")
        if self.d_channels and len(self.d_channels) != stages + 1:
            raise GanforgeError(f"model.d_channels has {len(self.d_channels)} widths; resolution {self.resolution} "
                                f"needs {stages + 1} (one per D level, largest first, then 4 px), or []")
        attn_widths = [w for i, w in enumerate(self.g_widths()) if 8 * 2**i in self.attn_resolutions]
        attn_widths += self.g_widths()[:1] if self.pyramid_4px and 4 in self.attn_resolutions else []
        attn_widths += [w for i, w in enumerate(self.d_widths()[1:])
                        if self.resolution // 2 ** (i + 1) in self.d_attn_resolutions]
        for width in [self.ch, *attn_widths]:
            if width % self.heads:
                raise GanforgeError(f"attention width {width} (model.ch/channels/d_channels) must be divisible "
                                    f"by model.heads={self.heads}")


GLOBAL_POOLS = ("mean", "eot")  # text.global_pool


class TextLayers(nn.Module):
    """Learned layers on a frozen encoder: token features -> (t_local, mask, t_global)."""

    def __init__(self, text: TextConfig, channels: int, layers: int, out_dim: int) -> None:
        super().__init__()
        self.text = build_text_encoder(text, channels)
        width = self.text.width
        heads = next(h for h in (4, 2, 1) if width % h == 0)
        block = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.to_global = nn.Linear(width, out_dim)
        self.width, self.pool = width, text.global_pool

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if ids.is_floating_point() or ids.ndim != 2:
            raise ValueError(f"GigaGAN takes caption token ids (N, L), got {ids.dtype} {tuple(ids.shape)}")
        feats = self.text(ids)
        local = self.layers(feats.tokens, src_key_padding_mask=~feats.mask)
        mask = feats.mask
        if self.pool == "eot":
            eot = self.text.eot_index(ids, mask)
            rows = torch.arange(len(ids), device=ids.device)
            pooled = local[rows, eot]
            if self.text.eot_is_token:  # t_local = T's output without the EOT token
                mask = mask.clone()
                mask[rows, eot] = False
        else:
            weights = mask.unsqueeze(-1).to(local.dtype)
            pooled = (local * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return local, mask, self.to_global(pooled)


class AttentionBlock(nn.Module):
    """Self-attention (L2), cross-attention to the text tokens, feed-forward; pre-norm residuals."""

    def __init__(self, ch: int, text_width: int, heads: int, ff_mult: int = 2) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(ch) for _ in range(3))
        self.self_attn = L2SelfAttention(ch, heads)
        self.cross_attn = CrossAttention(ch, text_width, heads)
        self.ff = nn.Sequential(nn.Linear(ch, ff_mult * ch), nn.GELU(), nn.Linear(ff_mult * ch, ch))

    def forward(self, h: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = h.shape
        x = h.flatten(2).transpose(1, 2)
        x = x + self.self_attn(self.norms[0](x))
        x = x + self.cross_attn(self.norms[1](x), tokens, mask)
        x = x + self.ff(self.norms[2](x))
        return x.transpose(1, 2).reshape(b, c, hh, ww)


class SynthesisBlock(nn.Module):
    def __init__(self, cfg: GigaGANModelConfig, text_width: int, attention: bool, in_ch: int | None = None,
                 out_ch: int | None = None, upsample: bool = True) -> None:
        super().__init__()
        in_ch, out_ch = in_ch or cfg.ch, out_ch or cfg.ch
        self.upsample = upsample  # False: the 4 px block, one convolution on the constant (StyleGAN2's 4x4 layer)
        self.conv1 = AdaptiveKernelConv(in_ch, out_ch, cfg.style_dim, cfg.n_kernels)
        self.conv2 = AdaptiveKernelConv(out_ch, out_ch, cfg.style_dim, cfg.n_kernels) if upsample else None
        self.attention = nn.ModuleList(
            AttentionBlock(out_ch, text_width, cfg.heads, cfg.ff_mult) for _ in range(cfg.attn_depth if attention else 0)
        )
        self.to_rgb = AdaptiveKernelConv(out_ch, cfg.img_channels, cfg.style_dim, 1, kernel=1, demodulate=False)

    def forward(self, h: torch.Tensor, w: torch.Tensor, tokens: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        h = F.leaky_relu(self.conv1(h, w), 0.2)
        if self.conv2 is not None:
            h = F.leaky_relu(self.conv2(h, w), 0.2)
        for attention in self.attention:
            h = attention(h, tokens, mask)
        return h, self.to_rgb(h, w)


class GigaGANGenerator(nn.Module):
    takes_text = True

    def __init__(self, cfg: GigaGANModelConfig, text: TextConfig) -> None:
        super().__init__()
        stages = check_power_of_two(cfg.resolution)
        self.cfg, self.dim_z = cfg, cfg.dim_z
        self.encoder = TextLayers(text, cfg.img_channels, cfg.text_layers, cfg.style_dim)
        layers: list[nn.Module] = []
        width = cfg.dim_z + cfg.style_dim
        for _ in range(cfg.mapping_layers):
            layers += [nn.Linear(width, cfg.style_dim), nn.LeakyReLU(0.2)]
            width = cfg.style_dim
        self.mapping = nn.Sequential(*layers)
        widths = cfg.g_widths()
        self.const = nn.Parameter(torch.randn(1, widths[0], 4, 4))
        base = [SynthesisBlock(cfg, self.encoder.width, 4 in cfg.attn_resolutions, widths[0], widths[0],
                               upsample=False)] if cfg.pyramid_4px else []
        self.blocks = nn.ModuleList(base + [
            SynthesisBlock(cfg, self.encoder.width, 4 * 2 ** (i + 1) in cfg.attn_resolutions,
                           widths[max(i - 1, 0)], widths[i])
            for i in range(stages)
        ])

    @property
    def text(self) -> FrozenText:
        """The frozen encoder (where the training task and metrics look for it)."""
        return self.encoder.text

    def forward(self, z: torch.Tensor, y: torch.Tensor, pyramid: bool = False) -> torch.Tensor | list[torch.Tensor]:
        tokens, mask, t_global = self.encoder(y)
        w = self.mapping(torch.cat([z, t_global.to(z.dtype)], 1))
        h = self.const.expand(z.shape[0], -1, -1, -1)
        images = []
        for block in self.blocks:
            h, rgb = block(h, w, tokens, mask)
            images.append(rgb)
        return images if pyramid else images[-1]


__all__ = ["AttentionBlock", "GigaGANGenerator", "GigaGANModelConfig", "SynthesisBlock", "TextLayers"]
