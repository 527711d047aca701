"""Colour augmentations as one 4x4 matrix per sample acting on (r, g, b, 1) (ADA's "color").

Brightness shifts every channel, contrast scales about mid-grey (0 in [-1, 1], ADA's
`scale3d`), luma flip mirrors along the luma axis (1, 1, 1)/sqrt(3),
hue rotates about that axis and saturation scales away from it. Every op maps grey to grey, so a
1-channel image is the grey line r = g = b: brightness, contrast and luma flip (v -> -v) act on
it, hue and saturation are skipped, as they leave every grey pixel of a colour image unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

COLOR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")
GREY_OPS = ("brightness", "contrast", "lumaflip")  # the rest are the identity on grey
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # log2 standard deviation (lognormal, std 0.5 ln 2)
SATURATION_STD = 1.0  # log2 standard deviation (lognormal, std ln 2)


def _eye(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(4, device=device).repeat(n, 1, 1)


def _affine(linear: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(n, 4, 4) from (n, 3, 3) linear parts and (n, 3) shifts."""
    top = torch.cat([linear, shift.unsqueeze(-1)], dim=-1)
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], device=linear.device).expand(len(linear), 1, 4)
    return torch.cat([top, bottom.to(top.dtype)], dim=1)


def _luma_projector(device: torch.device) -> torch.Tensor:
    v = torch.ones(3, device=device) / math.sqrt(3)
    return torch.outer(v, v)


def _rotation_about_luma(theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, I + sin(t) K + (1 - cos(t)) K^2, about the unit luma axis."""
    a = 1 / math.sqrt(3)
    k = torch.tensor([[0.0, -a, a], [a, 0.0, -a], [-a, a, 0.0]], device=theta.device)
    c, s = torch.cos(theta).view(-1, 1, 1), torch.sin(theta).view(-1, 1, 1)
    return torch.eye(3, device=theta.device) + s * k + (1 - c) * (k @ k)


def color_op_matrix(op: str, n: int, device: torch.device) -> torch.Tensor:
    """Random (n, 4, 4) matrices of one colour op."""
    eye3 = torch.eye(3, device=device).expand(n, 3, 3)
    no_shift = torch.zeros(n, 3, device=device)
    if op == "brightness":
        shift = (torch.randn(n, device=device) * BRIGHTNESS_STD).view(-1, 1).expand(n, 3)
        return _affine(eye3, shift)
    if op == "contrast":
        c = torch.exp2(torch.randn(n, device=device) * CONTRAST_STD)
        return _affine(eye3 * c.view(-1, 1, 1), no_shift)
    if op == "lumaflip":  # an active lumaflip flips half of the time, as in ADA
        flip = torch.floor(torch.rand(n, device=device) * 2).view(-1, 1, 1)
        return _affine(eye3 - 2 * flip * _luma_projector(device), no_shift)
    if op == "hue":
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi
        return _affine(_rotation_about_luma(theta), no_shift)
    if op == "saturation":
        s = torch.exp2(torch.randn(n, device=device) * SATURATION_STD).view(-1, 1, 1)
        luma = _luma_projector(device)
        return _affine(luma + (torch.eye(3, device=device) - luma) * s, no_shift)
    raise KeyError(op)


def random_color(ops: Sequence[str], p: float, n: int, device: torch.device) -> torch.Tensor:
    """The composed (n, 4, 4) matrix of `ops`, each applied with probability p."""
    total = _eye(n, device)
    for op in ops:
        active = (torch.rand(n, device=device) < p).view(-1, 1, 1)
        m = color_op_matrix(op, n, device)
        total = torch.where(active, m, _eye(n, device)) @ total
    return total


def apply_color(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply (n, 4, 4) matrices to RGB, or to grey as the line r = g = b (v -> a v + t)."""
    m = matrix.to(images.dtype)
    n, c, h, w = images.shape
    if c == 1:  # every op keeps the grey line: (v, v, v) -> (a v + t) (1, 1, 1)
        a = m[:, :3, :3].sum(-1).mean(-1).view(n, 1, 1, 1)
        t = m[:, :3, 3].mean(-1).view(n, 1, 1, 1)
        return images * a + t
    out = m[:, :3, :3] @ images.reshape(n, 3, h * w) + m[:, :3, 3:]
    return out.reshape(n, 3, h, w)
