"""Colour augmentations as one 4x4 matrix per sample acting on (r, g, b, 1) (ADA's "color").

Brightness shifts, contrast scales about mid-grey (0 in [-1, 1]), luma flip mirrors along the
luma axis (1, 1, 1)/sqrt(3), hue rotates about it and saturation scales away from it. A grey
image is treated as r = g = b: brightness, contrast and luma flip act on it, hue and saturation
leave it unchanged, as they leave every grey pixel of a colour image unchanged.
"""

from __future__ import annotations

import math

import torch

COLOR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # log2
SATURATION_STD = 1.0  # log2


def _eye(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(4, device=device).repeat(n, 1, 1)


def _luma_projector(device: torch.device) -> torch.Tensor:
    v = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)
    return torch.outer(v, v)


def _rotation_about_luma(theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues' rotation about the unit luma axis, embedded in 4x4."""
    axis = torch.ones(3, device=theta.device) / math.sqrt(3)
    k = torch.zeros(3, 3, device=theta.device)
    k[0, 1], k[0, 2], k[1, 2] = -axis[2], axis[1], -axis[0]
    k = k - k.T
    c, s = torch.cos(theta).view(-1, 1, 1), torch.sin(theta).view(-1, 1, 1)
    r3 = torch.eye(3, device=theta.device) + s * k + (1 - c) * (k @ k)
    m = _eye(len(theta), theta.device)
    m[:, :3, :3] = r3
    return m


def color_op_matrix(op: str, n: int, device: torch.device) -> torch.Tensor:
    """Random (n, 4, 4) matrices of one colour op."""
    eye = _eye(n, device)
    luma = _luma_projector(device)
    if op == "brightness":
        m = eye.clone()
        m[:, :3, 3] = (torch.randn(n, device=device) * BRIGHTNESS_STD).view(-1, 1)
        return m
    if op == "contrast":
        c = torch.exp2(torch.randn(n, device=device) * CONTRAST_STD)
        m = eye.clone()
        m[:, :3, :3] *= c.view(-1, 1, 1)
        return m
    if op == "lumaflip":
        flip = torch.floor(torch.rand(n, device=device) * 2).view(-1, 1, 1)
        return eye - 2 * luma * flip
    if op == "hue":
        return _rotation_about_luma((torch.rand(n, device=device) * 2 - 1) * math.pi)
    if op == "saturation":
        s = torch.exp2(torch.randn(n, device=device) * SATURATION_STD).view(-1, 1, 1)
        keep = eye.clone()
        keep[:, :3, :3] = luma[:3, :3] + (torch.eye(3, device=device) - luma[:3, :3]) * s
        return keep
    raise KeyError(op)


def random_color(ops: list[str], p: float, n: int, device: torch.device) -> torch.Tensor:
    total = _eye(n, device)
    for op in ops:
        active = (torch.rand(n, device=device) < p).view(-1, 1, 1)
        total = torch.where(active, color_op_matrix(op, n, device), _eye(n, device)) @ total
    return total


def apply_color(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply (n, 4, 4) matrices to RGB or grey (as r = g = b, read back as the channel mean)."""
    m = matrix.to(images.dtype)
    n, c, h, w = images.shape
    rgb = images if c == 3 else images.expand(n, 3, h, w)
    flat = rgb.reshape(n, 3, h * w)
    out = m[:, :3, :3] @ flat + m[:, :3, 3:]
    out = out.reshape(n, 3, h, w)
    return out if c == 3 else out.mean(1, keepdim=True)
