"""LostGAN v1 (Sun & Wu 2019, "Image Synthesis From Reconfigurable Layout and Style"): images
from a layout of labelled boxes, each object with its own style code.

The condition y is a layout tensor (B, O, 5): per object slot (label, x0, y0, w, h) with the box
in [0, 1] image coordinates and label -1 for an empty slot. z (B, dim_z + O * obj_dim) carries
the image latent z_im followed by one style code per slot, so every sampler (seeds, truncation)
draws object styles too and a seeded slot keeps its style when the layout is edited.

G (the reference's ResnetGenerator64/128): per object w = [z_obj, embedding(label)];
a mask regression net turns w into a 16x16 mask that is placed into the object's box on a
`mask_map` grid; every ResBlock's two norms are ISLA-Norm: batch norm without affine, then per
pixel a gain 1 + gamma and bias beta that are the objects' projections of w averaged with their
masks as weights,  gamma(p) = sum_o m_o(p) W_g w_o / (sum_o m_o(p) + 1e-6)  (same for beta).
D (the reference's ResnetDiscriminator64/128): an image path (ResBlocks, ReLU, pooled, linear)
and an object path: ROI-Align of 8x8 features in each box from an intermediate map (128 px: small
boxes from a finer map, boxes of 64 px or more from a coarser one), a ResBlock, ReLU, sum, then a
linear plus the projection of the label embedding. Widths, spectral norms (conv eps 1e-4),
orthogonal init and zero biases follow the reference code, so parameter counts equal it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import ModelConfig, register, setting
from ganforge.config.sections import AT_LEAST_1
from ganforge.errors import GanforgeError
from ganforge.nn.layers import LayerFactory
from ganforge.nn.roi_align import roi_align

# G block widths (multiples of ch) from 4x4 up, and D's layout, per resolution (the reference
# has 64 and 128; 32 and 16 drop the first G blocks and keep D64's shape, for the demo and tests)
G_WIDTHS = {16: [4, 2, 1], 32: [8, 4, 2, 1], 64: [16, 8, 4, 2, 1], 128: [16, 16, 8, 4, 2, 1]}
LARGE_BOX = 64  # 128 px D: boxes this many pixels wide and high read the coarser map


@register("lostgan")
@dataclass
class LostGANModelConfig(ModelConfig):
    """`model.arch=lostgan`: the reference's COCO settings at 64 px (128 px: embed_dim 180)."""

    arch: str = "lostgan"
    resolution: int = setting(64, bounds="[16, 128]")
    ch: int = setting(64, bounds=AT_LEAST_1)
    dim_z: int = setting(128, bounds=AT_LEAST_1)  # the image latent z_im
    obj_dim: int = setting(128, bounds=AT_LEAST_1)  # each object's style code z_obj
    embed_dim: int = setting(128, bounds=AT_LEAST_1)  # label embedding (reference: 128 at 64 px, 180 at 128)
    max_objects: int = setting(8, bounds="[1, 64]")  # object slots per layout (reference COCO: 8)
    mask_size: int = setting(16, bounds="[4, 64]")  # the regressed mask before it is placed in its box
    mask_map: int = setting(64, bounds="[4, 512]")  # the grid masks are placed on (reference: 64)
    mask_ch: int = setting(128, bounds=AT_LEAST_1)  # mask regression width (reference: 128)
    # G's label embedding at init: ortho (the reference's: orthonormal rows, norm 1) or normal
    # (torch's N(0, 1), norm sqrt(embed_dim)); the demo recipe's choice is explained there
    embed_init: Literal["ortho", "normal"] = "ortho"

    def check(self, config: Any = None) -> None:
        if self.resolution not in G_WIDTHS:
            raise GanforgeError(f"model.arch=lostgan supports model.resolution {sorted(G_WIDTHS)}, "
                                f"got {self.resolution}")
        if self.mask_size not in (8, 16, 32, 64) or self.mask_size < 8:
            raise GanforgeError(f"model.mask_size must be 8, 16, 32 or 64, got {self.mask_size}")


def latent_size(cfg: LostGANModelConfig) -> int:
    """G's z: the image latent then one style code per object slot."""
    return cfg.dim_z + cfg.max_objects * cfg.obj_dim


def _factories() -> tuple[LayerFactory, LayerFactory]:
    """(convs with SN eps 1e-4, linears with torch's default 1e-12), orthogonal init: the
    reference's conv2d() and nn.utils.spectral_norm(nn.Linear)."""
    return LayerFactory("ortho", True, 1e-4), LayerFactory("ortho", True, 1e-12)


def zero_biases(module: nn.Module) -> None:
    """The reference's init_parameter sets every bias to 0 (orthogonal weights come from the factory)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.zero_()


EMPTY_BOX = (-0.6, -0.6, 0.5, 0.5)  # where the reference's loader puts padding objects: off the image


def slot_boxes(y: torch.Tensor) -> torch.Tensor:
    """The boxes (B, O, 4) of a layout, empty slots moved off the image (their masks are 0 there
    and a zero-size box would divide by 0 when masks are placed)."""
    empty = torch.tensor(EMPTY_BOX, device=y.device, dtype=y.dtype)
    return torch.where((y[..., :1] >= 0), y[..., 1:], empty)


def check_layout(y: torch.Tensor, slots: int) -> torch.Tensor:
    if y.ndim != 3 or y.shape[2] != 5:
        raise ValueError(f"a layout is (N, objects, 5) = (label, x0, y0, w, h) per object, got {tuple(y.shape)}")
    if y.shape[1] != slots:
        raise ValueError(f"this generator has {slots} object slots, the layout {y.shape[1]}")
    return y


def masks_to_layout(boxes: torch.Tensor, masks: torch.Tensor, size: int) -> torch.Tensor:
    """masks (B, O, M, M) placed into boxes (B, O, 4) = (x0, y0, w, h) in [0, 1] on a size x size
    map by bilinear sampling (zero outside the box), as the reference (sg2im's) does; sampling
    uses align_corners=True, grid_sample's behaviour in the torch 1.0 the reference ran on."""
    b, o, m, _ = masks.shape
    flat = boxes.reshape(b * o, 4, 1, 1).to(masks.dtype)
    x0, y0, ww, hh = flat[:, 0], flat[:, 1], flat[:, 2], flat[:, 3]
    xs = torch.linspace(0, 1, size, device=masks.device, dtype=masks.dtype).view(1, 1, size)
    ys = torch.linspace(0, 1, size, device=masks.device, dtype=masks.dtype).view(1, size, 1)
    gx = ((xs - x0) / ww).expand(b * o, size, size)
    gy = ((ys - y0) / hh).expand(b * o, size, size)
    grid = torch.stack([gx, gy], 3).mul(2).sub(1)
    out = F.grid_sample(masks.reshape(b * o, 1, m, m), grid, mode="bilinear", align_corners=True)
    return out.view(b, o, size, size)


class MaskRegression(nn.Module):
    """w (B*O, num_w) -> a 16x16 mask in (0, 1) per object (fc to 4x4, 3 conv stages with BN and
    bilinear upsampling, sigmoid), placed into its box on the mask map."""

    def __init__(self, num_w: int, width: int, mask_size: int, map_size: int) -> None:
        super().__init__()
        convs, linears = _factories()
        self.width, self.mask_size, self.map_size = width, mask_size, map_size
        self.fc = linears.linear(num_w, width * 16)
        stages = []
        for _ in range(3):
            stages.append(nn.Sequential(convs.conv(width, width, 3), nn.BatchNorm2d(width), nn.ReLU()))
        self.conv1, self.conv2 = stages[0], stages[1]
        self.conv3 = nn.Sequential(*stages[2], convs.conv(width, 1, 1), nn.Sigmoid())

    def forward(self, w: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        b, o, _ = boxes.shape
        x = self.conv1(self.fc(w).view(b * o, self.width, 4, 4))
        size = 8
        x = self.conv2(F.interpolate(x, size=size, mode="bilinear", align_corners=False))
        while size < self.mask_size:
            size *= 2
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            if size < self.mask_size:
                x = self.conv2(x)
        x = self.conv3(x)
        return masks_to_layout(boxes, x.view(b, o, self.mask_size, self.mask_size), self.map_size)


def isla_affine(masks: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ISLA-Norm's per-pixel gain and bias: masks (B, O, H, W), per-object gamma/beta (B, O, C)
    -> (1 + sum_o m_o gamma_o / (sum_o m_o + 1e-6), sum_o m_o beta_o / (sum_o m_o + 1e-6))."""
    total = masks.sum(1, keepdim=True).unsqueeze(2) + 1e-6  # (B, 1, 1, H, W)
    m = masks.unsqueeze(2)
    gain = (m * gamma[..., None, None]).sum(1) / total.squeeze(1) + 1
    bias = (m * beta[..., None, None]).sum(1) / total.squeeze(1)
    return gain, bias


class ISLANorm(nn.Module):
    """Instance-sensitive, layout-aware norm: BN without affine, then `isla_affine` with gamma, beta
    projected (SN linears) from each object's w and spread over its mask."""

    def __init__(self, channels: int, num_w: int) -> None:
        super().__init__()
        _, linears = _factories()
        self.weight_proj = linears.linear(num_w, channels)
        self.bias_proj = linears.linear(num_w, channels)
        self.bn = nn.BatchNorm2d(channels, affine=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        out = self.bn(x)
        b, o = masks.shape[:2]
        if masks.shape[-2:] != x.shape[-2:]:
            masks = F.interpolate(masks, size=x.shape[-2:], mode="bilinear", align_corners=False)
        gain, bias = isla_affine(masks, self.weight_proj(w).view(b, o, -1), self.bias_proj(w).view(b, o, -1))
        return gain * out + bias


class GBlock(nn.Module):
    """ISLA-ReLU-up-conv3-ISLA-ReLU-conv3; shortcut up-conv1x1."""

    def __init__(self, c_in: int, c_out: int, num_w: int) -> None:
        super().__init__()
        convs, _ = _factories()
        self.conv1 = convs.conv(c_in, c_out, 3)
        self.conv2 = convs.conv(c_out, c_out, 3)
        self.b1 = ISLANorm(c_in, num_w)
        self.b2 = ISLANorm(c_out, num_w)
        self.c_sc = convs.conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, w: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.b1(x, w, masks)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.b2(self.conv1(h), w, masks)))
        return h + self.c_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class LostGANGenerator(nn.Module):
    """(z, layout) -> images; `object_masks` gives the regressed masks (what the model draws where)."""

    takes_layout = True

    def __init__(self, cfg: LostGANModelConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.dim_z = latent_size(cfg)
        self.n_classes = cfg.n_classes
        ch, widths = cfg.ch, G_WIDTHS[cfg.resolution]
        num_w = cfg.obj_dim + cfg.embed_dim
        convs, linears = _factories()
        self.label_embedding = nn.Embedding(cfg.n_classes, cfg.embed_dim)
        if not self.label_embedding.weight.is_meta and cfg.embed_init == "ortho":
            nn.init.orthogonal_(self.label_embedding.weight)
        self.fc = linears.linear(cfg.dim_z, 4 * 4 * widths[0] * ch)
        self.blocks = nn.ModuleList(GBlock(a * ch, b * ch, num_w) for a, b in zip(widths, widths[1:], strict=False))
        self.final = nn.Sequential(nn.BatchNorm2d(widths[-1] * ch), nn.ReLU(),
                                   convs.conv(widths[-1] * ch, cfg.img_channels, 3), nn.Tanh())
        self.mask_regress = MaskRegression(num_w, cfg.mask_ch, cfg.mask_size, cfg.mask_map)
        zero_biases(self)

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_im (B, dim_z), z_obj (B, O, obj_dim)) from G's flat z."""
        c = self.cfg
        return z[:, : c.dim_z], z[:, c.dim_z :].reshape(z.shape[0], c.max_objects, c.obj_dim)

    def object_codes(self, z_obj: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """w = [z_obj, embedding(label)] per slot, (B*O, obj_dim + embed_dim)."""
        emb = self.label_embedding(labels.clamp_min(0))
        return torch.cat([z_obj, emb.to(z_obj.dtype)], 2).flatten(0, 1)

    def object_masks(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The regressed masks placed in their boxes (B, O, mask_map, mask_map); empty slots 0."""
        y = check_layout(y, self.cfg.max_objects)
        labels = y[..., 0].round().long()
        _, z_obj = self.split(z)
        masks = self.mask_regress(self.object_codes(z_obj, labels), slot_boxes(y))
        return masks * (labels >= 0).to(masks.dtype)[..., None, None]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = check_layout(y, self.cfg.max_objects)
        labels = y[..., 0].round().long()
        z_im, z_obj = self.split(z)
        w = self.object_codes(z_obj, labels)
        masks = self.mask_regress(w, slot_boxes(y)) * (labels >= 0).to(z.dtype)[..., None, None]
        x = self.fc(z_im).view(z.shape[0], -1, 4, 4)
        for block in self.blocks:
            x = block(x, w, masks)
        return self.final(x)


class DBlock(nn.Module):
    """(ReLU)-conv3-ReLU-conv3-(avgpool); shortcut conv1x1-(avgpool) when widths differ or it pools
    (the first block, the reference's OptimizedBlock: no pre-activation, pool before its shortcut)."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        convs, _ = _factories()
        self.first, self.down = first, down
        self.conv1 = convs.conv(c_in, c_out, 3)
        self.conv2 = convs.conv(c_out, c_out, 3)
        self.c_sc = convs.conv(c_in, c_out, 1) if (first or c_in != c_out or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:
            s = self.c_sc(F.avg_pool2d(s, 2) if self.down else s)
        elif self.c_sc is not None:
            s = self.c_sc(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


def layout_rois(y: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rois (K, 5) = (image, x0, y0, x1, y1) in pixels, labels (K,), flat slot index (K,)) of the
    non-empty slots of layouts y (B, O, 5)."""
    b, o, _ = y.shape
    labels = y[..., 0].round().long().flatten()
    box = y[..., 1:].flatten(0, 1)
    image = torch.arange(b, device=y.device).repeat_interleave(o).to(y.dtype)
    rois = torch.stack([image, box[:, 0], box[:, 1], box[:, 0] + box[:, 2], box[:, 1] + box[:, 3]], 1)
    rois[:, 1:] = rois[:, 1:] * side
    keep = (labels >= 0).nonzero().flatten()
    return rois[keep], labels[keep], keep


class LostGANDiscriminator(nn.Module):
    """(images, layout) -> image logits (B,); with heads=True also {"objects": (K,) logits} of the
    layout's non-empty slots in slot order and {"object_labels": (K,)}."""

    def __init__(self, cfg: LostGANModelConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        ch = cfg.ch
        convs, linears = _factories()
        self.large = cfg.resolution >= 128
        if self.large:  # ResnetDiscriminator128
            self.blocks = nn.ModuleList([DBlock(cfg.img_channels, ch, True, first=True), DBlock(ch, ch * 2, True),
                                         DBlock(ch * 2, ch * 4, True), DBlock(ch * 4, ch * 8, True),
                                         DBlock(ch * 8, ch * 16, True), DBlock(ch * 16, ch * 16, False)])
            self.block_obj3 = DBlock(ch * 2, ch * 4, False)
            self.block_obj4 = DBlock(ch * 4, ch * 8, False)
            self.block_obj5 = DBlock(ch * 8, ch * 16, True)
            obj_width = ch * 16
        else:  # ResnetDiscriminator64
            self.blocks = nn.ModuleList([DBlock(cfg.img_channels, ch, False, first=True), DBlock(ch, ch * 2, False),
                                         DBlock(ch * 2, ch * 4, True), DBlock(ch * 4, ch * 8, True),
                                         DBlock(ch * 8, ch * 16, True)])
            self.block_obj4 = DBlock(ch * 4, ch * 8, True)
            obj_width = ch * 8
        self.l_im = linears.linear(ch * 16, 1)
        self.l_obj = linears.linear(obj_width, 1)
        self.l_y = linears.embedding(cfg.n_classes, obj_width)
        zero_biases(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor, heads: bool = False) -> Any:
        y = check_layout(y, self.cfg.max_objects)
        side = x.shape[-1]
        feats = []
        h = x
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        h = F.relu(h)
        pooled = h.sum((2, 3)) if self.large else h.mean((2, 3))
        out_im = self.l_im(pooled).flatten()
        if not heads:
            return out_im
        rois, labels, slots = layout_rois(y, side)
        obj = self.object_features(feats, rois)
        obj = F.relu(obj).sum((2, 3))
        out_obj = self.l_obj(obj).flatten() + (self.l_y(labels) * obj).sum(1)
        return out_im, {"objects": out_obj, "object_labels": labels, "object_slots": slots}

    def object_features(self, feats: list[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        if not self.large:
            return self.block_obj4(roi_align(feats[2], rois, (8, 8), 1.0 / 2.0))
        small = ((rois[:, 3] - rois[:, 1]) < LARGE_BOX) & ((rois[:, 4] - rois[:, 2]) < LARGE_BOX)
        fine = self.block_obj4(self.block_obj3(feats[1]))
        coarse = self.block_obj4(feats[2])
        out_s = roi_align(fine, rois[small], (8, 8), 1.0 / 4.0)
        out_l = roi_align(coarse, rois[~small], (8, 8), 1.0 / 8.0)
        merged = out_s.new_zeros(len(rois), *out_s.shape[1:])
        merged[small] = out_s
        merged[~small] = out_l
        return self.block_obj5(merged)
