"""BigGAN generator and projection discriminator (Brock et al. 2019), after BigGAN-PyTorch.

Widths are multipliers of `ch`; see REFERENCE.md for the per-resolution tables that the
`biggan-*` recipes spell out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import ModelConfig, register, setting
from ganforge.config.sections import AT_LEAST_0, AT_LEAST_1, POSITIVE, Init
from ganforge.errors import GanforgeError
from ganforge.nn import ConditionalBatchNorm2d, LayerFactory, SelfAttention
from ganforge.nn.layers import embed_classes


@register("biggan")
@dataclass
class BigGANModelConfig(ModelConfig):
    """`model.arch=biggan`, also SNGAN and SAGAN (its ResNet ancestors) through these options.
    Channel lists are multipliers of `ch`, as in BigGAN-PyTorch."""

    arch: str = "biggan"
    ch: int = setting(64, bounds=AT_LEAST_1)
    # G: width entering the first block, then the width each block outputs (len = blocks + 1).
    g_channels: list[int] = setting(factory=lambda: [4, 4, 4, 4], each=AT_LEAST_1, nonempty=True)
    # D: width each block outputs; the first block reads the image.
    d_channels: list[int] = setting(factory=lambda: [4, 4, 4, 4], each=AT_LEAST_1, nonempty=True)
    d_downsample: list[bool] = setting(factory=lambda: [True, True, False, False], nonempty=True)
    g_attention: list[int] = setting(factory=list, each=AT_LEAST_1)  # resolutions with self-attention
    d_attention: list[int] = setting(factory=list, each=AT_LEAST_1)
    # 0: per-class gain/bias embeddings in each CBN (BGP's CIFAR setting)
    shared_dim: int = setting(0, bounds=AT_LEAST_0)
    hierarchical_z: bool = False
    sn_eps: float = setting(1e-6, bounds=POSITIVE)
    bn_eps: float = setting(1e-5, bounds=POSITIVE)
    init: Init = "ortho"
    g_spectral_norm: bool = True  # SN in G too (BigGAN, SAGAN) or D only (SNGAN)

    def check(self, config: Any = None) -> None:
        _check_arch(self)


def upsample_nearest(x: torch.Tensor) -> torch.Tensor:
    """x2 nearest-neighbour upsampling; same values as F.interpolate, about 5x faster on CPU."""
    b, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


class GBlock(nn.Module):
    """BN-ReLU-up-conv3-BN-ReLU-conv3, shortcut up-conv1x1 (learned when widths differ or up)."""

    def __init__(self, c_in: int, c_out: int, bn: callable, layers: LayerFactory) -> None:
        super().__init__()
        self.bn1 = bn(c_in)
        self.conv1 = layers.conv(c_in, c_out, 3)
        self.bn2 = bn(c_out)
        self.conv2 = layers.conv(c_out, c_out, 3)
        self.conv_sc = layers.conv(c_in, c_out, 1)  # always learned: every G block upsamples
        # conv1x1 then upsample: the same values as up-then-conv1x1 (nearest upsampling copies
        # pixels) for a quarter of the multiplications; set by train.conv_algorithm=winograd
        self.low_res_shortcut = False

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x, cond))
        h = upsample_nearest(h)
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h, cond)))
        if self.low_res_shortcut:
            return h + upsample_nearest(self.conv_sc(x))
        return h + self.conv_sc(upsample_nearest(x))


class DBlock(nn.Module):
    """(ReLU)-conv3-ReLU-conv3-(avgpool); shortcut conv1x1 + pool, learned when needed."""

    def __init__(
        self, c_in: int, c_out: int, layers: LayerFactory, preactivation: bool, downsample: bool
    ) -> None:
        super().__init__()
        self.preactivation = preactivation
        self.downsample = downsample
        self.conv1 = layers.conv(c_in, c_out, 3)
        self.conv2 = layers.conv(c_out, c_out, 3)
        self.conv_sc = layers.conv(c_in, c_out, 1) if (c_in != c_out or downsample) else None
        # pool then conv1x1 (both linear, so they commute) for a quarter of the multiplications;
        # set by train.conv_algorithm=winograd
        self.low_res_shortcut = False

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.preactivation and not self.low_res_shortcut:
            if self.conv_sc is not None:
                x = self.conv_sc(x)
            return F.avg_pool2d(x, 2) if self.downsample else x
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return self.conv_sc(x) if self.conv_sc is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return h + self._shortcut(x)


def g_resolutions(cfg: BigGANModelConfig) -> list[int]:
    """The size of the map each G block outputs (where g_attention can sit)."""
    return [4 * 2 ** (i + 1) for i in range(len(cfg.g_channels) - 1)]


def d_resolutions(cfg: BigGANModelConfig) -> list[int]:
    """The size of the map each D block outputs (where d_attention can sit)."""
    sizes, res = [], cfg.resolution
    for down in cfg.d_downsample:
        res = res // 2 if down else res
        sizes.append(res)
    return sizes


def _check_arch(cfg: BigGANModelConfig) -> None:
    blocks = len(cfg.g_channels) - 1
    if blocks < 1 or 4 * 2**blocks != cfg.resolution:
        raise GanforgeError(
            f"model.g_channels has {blocks} upsampling blocks, which makes "
            f"{4 * 2**max(blocks, 0)}px images, not model.resolution={cfg.resolution}"
        )
    if len(cfg.d_channels) != len(cfg.d_downsample):
        raise GanforgeError("model.d_channels and model.d_downsample must have the same length")
    for key, where, sizes in (("g_attention", "G", g_resolutions(cfg)),
                              ("d_attention", "D", d_resolutions(cfg))):
        missing = [r for r in getattr(cfg, key) if r not in sizes]
        if missing:
            raise GanforgeError(f"model.{key}={getattr(cfg, key)}: {where} has no block at {missing} px; "
                                f"its blocks output {sorted(set(sizes))} px")
    if not cfg.conditional and (cfg.hierarchical_z or cfg.shared_dim):
        raise GanforgeError("an unconditional model (model.conditional=false) has no class embedding: "
                            "set model.shared_dim=0 and model.hierarchical_z=false")
    if cfg.d_heads or cfg.codes_cat or cfg.codes_cont:
        raise GanforgeError("model.arch=biggan has no extra D heads or InfoGAN codes; use model.arch=dcgan")
    if cfg.hierarchical_z:
        if cfg.shared_dim <= 0:
            raise GanforgeError("model.hierarchical_z needs a shared class embedding (model.shared_dim > 0)")
        if cfg.dim_z % (blocks + 1):
            raise GanforgeError(
                f"model.dim_z={cfg.dim_z} must split evenly into {blocks + 1} chunks "
                "(one per G block plus the input) when model.hierarchical_z is true"
            )


class UnconditionalBatchNorm2d(nn.BatchNorm2d):
    """Plain affine BN with the conditional BN's call signature (unconditional SNGAN/SAGAN)."""

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


class Generator(nn.Module):
    """Class-conditional BigGAN generator with shared embedding and hierarchical z.

    With `model.conditional=false` and `model.g_spectral_norm=false` it is SNGAN's ResNet
    generator (plain BN, no SN); with attention and SN, SAGAN's.
    """

    def __init__(self, cfg: BigGANModelConfig) -> None:
        super().__init__()
        _check_arch(cfg)
        self.cfg = cfg
        layers = LayerFactory(init=cfg.init, spectral_norm=cfg.g_spectral_norm, sn_eps=cfg.sn_eps)
        widths = [m * cfg.ch for m in cfg.g_channels]
        n_blocks = len(widths) - 1
        self.dim_z = cfg.dim_z
        self.n_classes = cfg.n_classes
        self.chunk = cfg.dim_z // (n_blocks + 1) if cfg.hierarchical_z else 0
        z_in = self.chunk if cfg.hierarchical_z else cfg.dim_z
        if cfg.shared_dim > 0:
            self.shared = layers.embedding(cfg.n_classes, cfg.shared_dim, sn=False)
            cond_dim = cfg.shared_dim + self.chunk
        else:
            self.shared = None
            cond_dim = 0

        def bn(c: int) -> nn.Module:
            if not cfg.conditional:
                return UnconditionalBatchNorm2d(c, eps=cfg.bn_eps)
            return ConditionalBatchNorm2d(c, cond_dim, cfg.n_classes, layers, eps=cfg.bn_eps)

        self.start_width = widths[0]
        self.linear = layers.linear(z_in, widths[0] * 16)
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        res = 4
        for i in range(n_blocks):
            self.blocks.append(GBlock(widths[i], widths[i + 1], bn, layers))
            res *= 2
            if res in cfg.g_attention:
                self.attention[str(i)] = SelfAttention(widths[i + 1], layers)
        self.out_bn = nn.BatchNorm2d(widths[-1], eps=cfg.bn_eps)
        self.out_conv = layers.conv(widths[-1], cfg.img_channels, 3)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """y: class ids (N,), float class vectors (N, n_classes) such as a mix of two classes, or
        one class vector per G block (N, n_blocks, n_classes): the class enters each block's
        conditional BNs only, so a block-wise class swap edits coarse or fine blocks alone."""
        if y.ndim == 3:
            if y.shape[1] != len(self.blocks):
                raise GanforgeError(f"per-block class vectors need one per G block ({len(self.blocks)}), "
                                    f"got {y.shape[1]}")
            ys = list(y.unbind(1))
        else:
            ys = [y]
        classes = [embed_classes(self.shared, v) if self.shared is not None else v for v in ys]
        classes = classes * (len(self.blocks) // len(classes))
        if self.cfg.hierarchical_z:
            zs = torch.split(z, self.chunk, dim=1)
            z0 = zs[0]
            conds = [torch.cat([c, zc], dim=1) for c, zc in zip(classes, zs[1:], strict=True)]
        else:
            z0 = z
            conds = classes
        h = self.linear(z0).view(z.shape[0], self.start_width, 4, 4)
        for i, block in enumerate(self.blocks):
            h = block(h, conds[i])
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class Discriminator(nn.Module):
    """ResNet discriminator with a projection head: linear(h) + <embed(y), h>."""

    def __init__(self, cfg: BigGANModelConfig) -> None:
        super().__init__()
        _check_arch(cfg)
        layers = LayerFactory(init=cfg.init, spectral_norm=True, sn_eps=cfg.sn_eps)
        widths = [cfg.img_channels] + [m * cfg.ch for m in cfg.d_channels]
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        res = cfg.resolution
        for i, down in enumerate(cfg.d_downsample):
            self.blocks.append(DBlock(widths[i], widths[i + 1], layers, i > 0, down))
            res = res // 2 if down else res
            if res in cfg.d_attention:
                self.attention[str(i)] = SelfAttention(widths[i + 1], layers)
        self.linear = layers.linear(widths[-1], 1)
        self.embed = layers.embedding(cfg.n_classes, widths[-1]) if cfg.conditional else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.sum(F.relu(h), dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        logits = self.linear(h).squeeze(1)
        if self.embed is None:
            return logits
        return logits + torch.sum(self.embed(y) * h, dim=1)
