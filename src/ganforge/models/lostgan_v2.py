"""LostGAN v2 (Sun & Wu, "Learning Layout and Style Reconfigurable GANs for Controllable Image
Synthesis", TPAMI 2021): v1 with masks that the generator learns stage by stage from its features.

Same inputs as v1 (`ganforge.models.lostgan`): layouts (B, O, 5) and z = [z_im, one style code
per slot]. What v2 changes in G (the reference's model/resnet_generator_v2.py, ResnetGenerator128):
- the bbox mask regression (MaskRegressNetv2) is 256 wide with instance norm instead of batch norm;
- 256 px: a 7-block G (ResnetGenerator256, no PSP) and D (ResnetDiscriminator256);
- every ResBlock but the last also predicts per-class mask logits from its output features: a
  3x3 conv to 100, BN, ReLU, a 1x1 conv to n_classes (128 px: the block that makes 64x64 maps uses a
  PSP module (pooling at 1, 2, 3, 6) to 100 instead of the 3x3 conv);
- the next block's ISLA-Norm spreads the object codes over a refined mask per object,
      m_o = (1 - a_c) up(mask_o) + a_c sigmoid(logits[c]) box_o,    a_c = sigmoid(alpha[stage, c]),
  c the object's label, `mask_o` the regressed bbox mask (bilinear to the stage's size), `box_o` the
  object's hard box (drawn at half the image size, the last stage's, and nearest-resized to
  each stage; the reference's bbox_mask at 64 px for 128, 128 for 256), so the learned part is exactly zero
  outside the box. alpha is one learned gate per stage and class (the reference's alpha1..4,
  orthogonally initialised like its other parameters).
ISLA-Norm, the ResBlocks, the regression's layout and D up to 128 px are v1's (v2's train.py uses
the same CombineDiscriminator128), so they are imported, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_1
from ganforge.errors import GanforgeError
from ganforge.models.lostgan import (
    G_WIDTHS,
    DBlock,
    GBlock,
    LostGANDiscriminator,
    LostGANGenerator,
    LostGANModelConfig,
    MaskRegression,
    _factories,
    check_layout,
    latent_size,
    slot_boxes,
    zero_biases,
)
from ganforge.nn.layers import LayerFactory
from ganforge.nn.roi_align import roi_align

PSP_SIZES = (1, 2, 3, 6)  # the PSP module's pooled grids (Zhao et al. 2017; the reference's)
PSP_RESOLUTION = 128  # the reference's 128 px G puts PSP on the block that makes 64x64 maps
# G block widths: v1's (16-128 px) and the reference's 256 px v2 network
V2_WIDTHS = {**G_WIDTHS, 256: [16, 16, 8, 8, 4, 2, 1]}
LARGE_BOX_256 = 128  # 256 px D: boxes this many pixels wide and high read the coarser map


@register("lostgan-v2")
@dataclass
class LostGANV2ModelConfig(LostGANModelConfig):
    """`model.arch=lostgan-v2`: the reference's COCO 128 px settings (its v2 train.py's size)."""

    arch: str = "lostgan-v2"
    resolution: int = setting(128, bounds="[16, 256]")
    embed_dim: int = setting(180, bounds=AT_LEAST_1)  # label embedding (reference: 180)
    mask_ch: int = setting(256, bounds=AT_LEAST_1)  # bbox mask regression width (reference v2: 256)
    mask_head_ch: int = setting(100, bounds=AT_LEAST_1)  # each stage's mask head (reference: 100)

    def check(self, config: Any = None) -> None:
        if self.resolution not in V2_WIDTHS:
            raise GanforgeError(f"model.arch=lostgan-v2 supports model.resolution {sorted(V2_WIDTHS)}, "
                                f"got {self.resolution}")
        if self.mask_size not in (8, 16, 32, 64):
            raise GanforgeError(f"model.mask_size must be 8, 16, 32 or 64, got {self.mask_size}")


class MaskRegressionV2(MaskRegression):
    """v1's bbox mask regression with instance norm (no affine, no running statistics) in place
    of batch norm: the reference's MaskRegressNetv2."""

    def __init__(self, num_w: int, width: int, mask_size: int, map_size: int) -> None:
        super().__init__(num_w, width, mask_size, map_size)
        for stage in (self.conv1, self.conv2, self.conv3):
            stage[1] = nn.InstanceNorm2d(width)


class PSP(nn.Module):
    """Pyramid pooling to `out_ch`: average-pool to 1, 2, 3, 6 cells, 1x1 conv + BN + ReLU each,
    upsample (bilinear, align_corners), concatenate with the input, 3x3 conv + BN + ReLU + dropout 0.1."""

    def __init__(self, c_in: int, out_ch: int) -> None:
        super().__init__()
        convs = LayerFactory("ortho", False)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(s), convs.conv(c_in, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch),
                          nn.ReLU()) for s in PSP_SIZES)
        self.bottleneck = nn.Sequential(convs.conv(c_in + len(PSP_SIZES) * out_ch, out_ch, 3, bias=False),
                                        nn.BatchNorm2d(out_ch), nn.ReLU(), nn.Dropout2d(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(s(x), size=size, mode="bilinear", align_corners=True) for s in self.stages]
        return self.bottleneck(torch.cat([*pooled, x], 1))


def mask_head(c_in: int, width: int, n_classes: int, psp: bool) -> nn.Sequential:
    """Block features -> per-class mask logits (no spectral norm, as the reference's conv_mask)."""
    convs = LayerFactory("ortho", False)
    if psp:
        return nn.Sequential(PSP(c_in, width), convs.conv(width, n_classes, 1))
    return nn.Sequential(convs.conv(c_in, width, 3), nn.BatchNorm2d(width), nn.ReLU(), convs.conv(width, n_classes, 1))


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Hard box masks (B, O, size, size): 1 where x0 <= u <= x0 + w and y0 <= v <= y0 + h for the
    grid u, v = linspace(0, 1, size), as the reference's bbox_mask."""
    grid = torch.linspace(0, 1, size, device=boxes.device, dtype=boxes.dtype)
    x = (grid - boxes[..., 0:1]) / boxes[..., 2:3]  # (B, O, size)
    y = (grid - boxes[..., 1:2]) / boxes[..., 3:4]
    inside_x = ((x >= 0) & (x <= 1)).to(boxes.dtype)
    inside_y = ((y >= 0) & (y <= 1)).to(boxes.dtype)
    return inside_y.unsqueeze(-1) * inside_x.unsqueeze(-2)


class LostGANV2Generator(LostGANGenerator):
    """(z, layout) -> images; `stage_masks` gives the masks each block's ISLA-Norm used."""

    def __init__(self, cfg: LostGANV2ModelConfig) -> None:
        nn.Module.__init__(self)  # v1's layout at v2's widths (v1's __init__ has no 256 px)
        cfg.check()
        self.cfg, self.dim_z, self.n_classes = cfg, latent_size(cfg), cfg.n_classes
        convs, linears = _factories()
        num_w = cfg.obj_dim + cfg.embed_dim
        self.label_embedding = nn.Embedding(cfg.n_classes, cfg.embed_dim)
        if not self.label_embedding.weight.is_meta and cfg.embed_init == "ortho":
            nn.init.orthogonal_(self.label_embedding.weight)
        widths = [w * cfg.ch for w in V2_WIDTHS[cfg.resolution]]
        self.fc = linears.linear(cfg.dim_z, 4 * 4 * widths[0])
        self.blocks = nn.ModuleList(GBlock(a, b, num_w) for a, b in zip(widths, widths[1:], strict=False))
        self.final = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(), convs.conv(widths[-1], cfg.img_channels, 3),
                                   nn.Tanh())
        self.mask_regress = MaskRegressionV2(num_w, cfg.mask_ch, cfg.mask_size, cfg.mask_map)
        widths = widths[1:]  # block outputs
        last = len(widths) - 1  # the last block predicts no mask
        self.mask_heads = nn.ModuleList(
            mask_head(c, cfg.mask_head_ch, cfg.n_classes, cfg.resolution == PSP_RESOLUTION and i == last - 1)
            for i, c in enumerate(widths[:last]))
        self.alpha = nn.Parameter(torch.zeros(len(self.mask_heads), cfg.n_classes))
        if not self.alpha.is_meta:
            for row in self.alpha.data:  # the reference's orthogonal_ on each (1, classes, 1) alpha
                nn.init.orthogonal_(row.view(1, -1))
        zero_biases(self)

    def _draw(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        y = check_layout(y, self.cfg.max_objects)
        labels = y[..., 0].round().long()
        index = labels.clamp_min(0)
        valid = (labels >= 0).to(z.dtype)[..., None, None]
        z_im, z_obj = self.split(z)
        w = self.object_codes(z_obj, labels)
        boxes = slot_boxes(y)
        bmask = self.mask_regress(w, boxes) * valid
        hard = box_masks(boxes.to(z.dtype), self.cfg.resolution // 2) * valid  # the last stage's size
        x = self.fc(z_im).view(z.shape[0], -1, 4, 4)
        masks, used = bmask, []
        for i, block in enumerate(self.blocks):
            if i > 0:
                size = x.shape[-2:]
                logits = torch.gather(self.mask_heads[i - 1](x), 1, index[..., None, None].expand(-1, -1, *size))
                learned = torch.sigmoid(logits) * F.interpolate(hard, size=size, mode="nearest")
                gate = torch.sigmoid(self.alpha[i - 1])[index][..., None, None]
                masks = F.interpolate(bmask, size=size, mode="bilinear", align_corners=False) * (1 - gate) \
                    + learned * gate
            used.append(masks)
            x = block(x, w, masks)
        return self.final(x), used

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._draw(z, y)[0]

    def stage_masks(self, z: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per block, the masks (B, O, h, w) its ISLA-Norm spread the object codes with: the
        regressed bbox masks for the first, the refined (partly learned) masks after it."""
        return self._draw(z, y)[1]

    def object_masks(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The last block's refined masks (what the model draws where); empty slots 0."""
        return self.stage_masks(z, y)[-1]


class LostGANV2Discriminator(LostGANDiscriminator):
    """v1's D up to 128 px (the reference's v2 train.py trains with the same CombineDiscriminator128);
    at 256 px the reference's ResnetDiscriminator256: seven blocks, objects under 128 px read from
    the 32x32 map through two ResBlocks, larger ones from the 16x16 map through one, then a
    downsampling ResBlock."""

    def __init__(self, cfg: LostGANV2ModelConfig) -> None:
        if cfg.resolution != 256:
            super().__init__(cfg)
            return
        nn.Module.__init__(self)
        cfg.check()
        self.cfg, ch, self.large = cfg, cfg.ch, True
        _, linears = _factories()
        widths = [cfg.img_channels, ch, ch * 2, ch * 4, ch * 8, ch * 8, ch * 16, ch * 16]
        self.blocks = nn.ModuleList(DBlock(a, b, i < 6, first=i == 0)
                                    for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False)))
        self.block_obj4 = DBlock(ch * 4, ch * 8, False)
        self.block_obj5 = DBlock(ch * 8, ch * 8, False)
        self.block_obj6 = DBlock(ch * 8, ch * 16, True)
        self.l_im = linears.linear(ch * 16, 1)
        self.l_obj = linears.linear(ch * 16, 1)
        self.l_y = linears.embedding(cfg.n_classes, ch * 16)
        zero_biases(self)

    def object_features(self, feats: list[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        if self.cfg.resolution != 256:
            return super().object_features(feats, rois)
        small = ((rois[:, 3] - rois[:, 1]) < LARGE_BOX_256) & ((rois[:, 4] - rois[:, 2]) < LARGE_BOX_256)
        out_s = roi_align(self.block_obj5(self.block_obj4(feats[2])), rois[small], (8, 8), 1.0 / 8.0)
        out_l = roi_align(self.block_obj5(feats[3]), rois[~small], (8, 8), 1.0 / 16.0)
        merged = out_s.new_zeros(len(rois), *out_s.shape[1:])
        merged[small] = out_s
        merged[~small] = out_l
        return self.block_obj6(merged)
