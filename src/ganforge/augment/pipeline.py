"""ADA's augmentation pipeline: each op applied to each image with probability p.

Applied to every image D sees (real and generated, in D and G steps), with differentiable ops,
so that G learns the clean distribution while D never sees an un-augmented image (Karras et
al. 2020): "leaking" augmentations into G's samples is avoided as long as p stays below ~0.8.
Order, as in ADA: geometry (one warp), colour (one matrix), noise, cutout. Random draws use
torch's global generator of the images' device, so a checkpointed RNG state replays them.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.augment.color import COLOR_OPS, GREY_OPS, apply_color, random_color
from ganforge.augment.geometry import GEOMETRIC_OPS, random_geometry, warp
from ganforge.errors import GanforgeError

EXTRA_OPS = ("cutout", "noise")
ALL_OPS = GEOMETRIC_OPS + COLOR_OPS + EXTRA_OPS
ADA_DEFAULT_OPS = GEOMETRIC_OPS + COLOR_OPS  # stylegan2-ada's "bgc" pipeline
CUTOUT_SIZE = 0.5  # side of the square set to 0 (mid-grey in [-1, 1]), fraction of the image
NOISE_STD = 0.1  # the noise's standard deviation is |N(0, NOISE_STD)|, drawn per sample


def check_ops(ops: list[str]) -> list[str]:
    unknown = [op for op in ops if op not in ALL_OPS]
    if unknown:
        raise GanforgeError(
            f"unknown augment.ops {unknown}; valid ops: {', '.join(ALL_OPS)}"
        )
    return list(ops)


def cutout_mask(n: int, height: int, width: int, device: torch.device,
                size: float = CUTOUT_SIZE) -> torch.Tensor:
    """(n, 1, H, W) float masks, 0 inside a square of side `size` (fraction of the image) at a
    uniformly random centre, clipped by the borders, 1 elsewhere."""
    cy = torch.rand(n, 1, 1, device=device)
    cx = torch.rand(n, 1, 1, device=device)
    ys = (torch.arange(height, device=device).view(1, -1, 1) + 0.5) / height
    xs = (torch.arange(width, device=device).view(1, 1, -1) + 0.5) / width
    inside = ((ys - cy).abs() < size / 2) & ((xs - cx).abs() < size / 2)
    return (~inside).to(torch.float32).unsqueeze(1)


class AugmentPipe(nn.Module):
    """Differentiable per-sample augmentation of NCHW images in [-1, 1] with 1 or 3 channels.

    `p` (the probability of every op, per sample) may change at any time; at p = 0 the input
    comes back as it is. Cutout zeroes (mid-grey), it does not paint black.
    """

    def __init__(self, ops: list[str], p: float = 0.0) -> None:
        super().__init__()
        self.ops = check_ops(ops)
        self.p = float(p)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        p = float(self.p)
        if p <= 0 or not self.ops:
            return images
        n, channels, height, width = images.shape
        device = images.device
        out = images
        geometric = [op for op in self.ops if op in GEOMETRIC_OPS]
        if geometric:
            matrix = random_geometry(geometric, p, n, height, width, device)
            if not torch.equal(matrix, torch.eye(3, device=device).expand_as(matrix)):
                out = warp(out, matrix)
        color = [op for op in self.ops if op in COLOR_OPS]
        if color and channels not in (1, 3):
            raise GanforgeError(
                f"augment.ops colour ops ({', '.join(color)}) need 1- or 3-channel images, got "
                f"{channels} channels; drop them from augment.ops"
            )
        if channels == 1:
            color = [op for op in color if op in GREY_OPS]
        if color:
            out = apply_color(out, random_color(color, p, out.shape[0], out.device))
        if "noise" in self.ops:
            active = torch.rand(n, 1, 1, 1, device=device) < p
            sigma = torch.randn(n, 1, 1, 1, device=device).abs() * NOISE_STD
            out = out + torch.randn_like(out) * (sigma * active).to(out.dtype)
        if "cutout" in self.ops:
            active = torch.rand(n, 1, 1, 1, device=device) < p
            keep = torch.where(active, cutout_mask(n, height, width, device), 1.0)
            out = out * keep.to(out.dtype)
        return out.to(images.dtype)  # autocast may have widened it

    def extra_repr(self) -> str:
        return f"ops={self.ops}, p={self.p:.4f}"
