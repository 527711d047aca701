"""GigaGAN's multi-scale input, multi-scale output (MS-I/O) discriminator (Kang et al. 2023,
Sec. 3.3 "Discriminator", Eq. 6-7), conditioned on text.

The image pyramid {x_i} (G's RGB outputs, or a real image average-pooled) has one level per D
level, largest first. Level i's image enters the trunk at the depth of its own resolution
(phi_{i->j}: a 1x1 stem at level i, then the shared down-sampling blocks i..j) and is judged
after every block it passes through:
    D_ij(x_i, c) = psi_j(phi_{i->j}(x_i), t_D) + Conv1x1(phi_{i->j}(x_i)),
psi_j being `d_predictor_layers` 1x1 convolutions modulated by D's own text code t_D (its frozen
encoder + learned text layers), Conv1x1 an unconditional skip. Every pair (i, j >= i) gives one
logit (the mean over its positions): L(L+1)/2 logits for L levels, `pairs` names them. The
streams that start at different levels never mix: they share weights, not features (they run as
one batch, the new level's stream joining at its depth). The losses (training/methods/gigagan.py)
take the GAN and matching-aware terms over every pair, averaged (the paper's V_MS-I/O sums them:
a constant factor), and R1 on the sum of the pairs' logits.

With `model.pyramid_4px` the pyramid has a 4 px level too: its 1x1 stem joins the trunk after
the last down-sampling block (where the other streams are 4x4), before that level's attention,
and the last predictor judges it with them: one more pair, (4, 4).

The trunk's blocks are StyleGAN2's residual D blocks (conv3-conv3-avgpool, 1x1 skip, summed and
scaled by 1/sqrt 2), with L2 self-attention on a block's output where its resolution is in
`d_attn_resolutions`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import TextConfig
from ganforge.models.common import check_power_of_two
from ganforge.models.gigagan import GigaGANModelConfig, TextLayers
from ganforge.nn.adaptive_conv import AdaptiveKernelConv
from ganforge.nn.l2_attention import L2SelfAttention
from ganforge.text import FrozenText


class DownBlock(nn.Module):
    """Residual: (conv3, lrelu, conv3, lrelu, avgpool) + (avgpool, conv1x1), scaled 1/sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, in_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(h), 0.2)
        x = F.avg_pool2d(F.leaky_relu(self.conv2(x), 0.2), 2)
        return (x + self.skip(F.avg_pool2d(h, 2))) / math.sqrt(2)


class SelfAttentionBlock(nn.Module):
    """D's attention: L2 self-attention and a feed-forward layer, pre-norm residuals."""

    def __init__(self, ch: int, heads: int, ff_mult: int) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(ch) for _ in range(2))
        self.attn = L2SelfAttention(ch, heads)
        self.ff = nn.Sequential(nn.Linear(ch, ff_mult * ch), nn.GELU(), nn.Linear(ff_mult * ch, ch))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = h.shape
        x = h.flatten(2).transpose(1, 2)
        x = x + self.attn(self.norms[0](x))
        x = x + self.ff(self.norms[1](x))
        return x.transpose(1, 2).reshape(b, c, hh, ww)


class ScalePredictor(nn.Module):
    """psi_j (1x1 convolutions modulated by t_D) + an unconditional 1x1 skip -> one logit per image."""

    def __init__(self, ch: int, text_dim: int, layers: int) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(AdaptiveKernelConv(ch, ch, text_dim, 1, kernel=1) for _ in range(layers - 1))
        self.out = AdaptiveKernelConv(ch, 1, text_dim, 1, kernel=1, demodulate=False)
        self.skip = nn.Conv2d(ch, 1, 1)

    def forward(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = h
        for conv in self.hidden:
            x = F.leaky_relu(conv(x, t), 0.2)
        return (self.out(x, t) + self.skip(h)).mean((1, 2, 3))


class GigaGANDiscriminator(nn.Module):
    takes_text = True

    def __init__(self, cfg: GigaGANModelConfig, text: TextConfig) -> None:
        super().__init__()
        levels = check_power_of_two(cfg.resolution)
        widths = cfg.d_widths()
        self.cfg = cfg
        self.encoder = TextLayers(text, cfg.img_channels, cfg.d_text_layers, cfg.style_dim)
        self.resolutions = [cfg.resolution // 2**k for k in range(levels)]
        self.stems = nn.ModuleList(nn.Conv2d(cfg.img_channels, widths[k], 1) for k in range(levels))
        self.down = nn.ModuleList(DownBlock(widths[k], widths[k + 1]) for k in range(levels))
        self.attention = nn.ModuleList(
            SelfAttentionBlock(widths[k + 1], cfg.heads, cfg.ff_mult) if r // 2 in cfg.d_attn_resolutions
            else nn.Identity()
            for k, r in enumerate(self.resolutions)
        )
        self.predictors = nn.ModuleList(
            ScalePredictor(widths[k + 1], cfg.style_dim, cfg.d_predictor_layers) for k in range(levels)
        )
        # the 4 px input level: a stem into the features after the last block (no block of its own)
        self.stem_4px = nn.Conv2d(cfg.img_channels, widths[levels], 1) if cfg.pyramid_4px else None
        # column order of per_scale logits: (input resolution, resolution judged at), by input level
        self.pairs = [(self.resolutions[i], self.resolutions[j] // 2) for i in range(levels) for j in range(i, levels)]
        if cfg.pyramid_4px:
            self.pairs.append((4, 4))

    @property
    def text(self) -> FrozenText:
        return self.encoder.text

    def pyramid(self, x: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
        """Images from the largest scale down to 8 px (4 px with `pyramid_4px`): G's outputs
        reversed, or x average-pooled."""
        if isinstance(x, (list, tuple)):
            return list(reversed(x))
        out = [x]
        for _ in range(len(self.stems) - 1 + (self.stem_4px is not None)):
            out.append(F.avg_pool2d(out[-1], 2))
        return out

    def forward(self, x: torch.Tensor | list[torch.Tensor], y: torch.Tensor, per_scale: bool = False) -> torch.Tensor:
        """Logits (N, len(pairs)) with `per_scale`, else their mean (N,)."""
        _, _, t = self.encoder(y)
        scales = self.pyramid(x)
        if len(scales) != len(self.stems) + (self.stem_4px is not None):
            raise ValueError(f"D takes a pyramid of {len(self.stems) + (self.stem_4px is not None)} images "
                             f"(model.pyramid_4px={self.stem_4px is not None}), got {len(scales)}")
        n, last = scales[0].shape[0], len(self.stems) - 1
        h: torch.Tensor | None = None
        judged: list[torch.Tensor] = []  # level j: (streams i <= j, N)
        for k, (stem, down, attention, predictor, image) in enumerate(
                zip(self.stems, self.down, self.attention, self.predictors, scales[: last + 1], strict=True)):
            new = stem(image)
            h = new if h is None else torch.cat([h, new.to(h.dtype)], 0)
            h = down(h)
            if k == last and self.stem_4px is not None:  # the 4 px level joins the 4x4 features
                h = torch.cat([h, self.stem_4px(scales[-1]).to(h.dtype)], 0)
            h = attention(h)
            judged.append(predictor(h, t.to(h.dtype).repeat(len(h) // n, 1)).view(len(h) // n, n))
        streams = len(judged[-1])  # input levels
        out = torch.stack([judged[j][i] for i in range(streams) for j in range(min(i, last), len(judged))], 1)
        return out if per_scale else out.mean(1)


__all__ = ["GigaGANDiscriminator"]
