"""Geometric augmentations composed into one affine warp per sample (ADA's "blit" + "geom").

Every op draws its parameters per sample and contributes a 3x3 matrix in pixel units centred on
the image; the product maps output pixels to input pixels and one `grid_sample` (bilinear,
reflection padding) applies it. Flips, quarter turns and integer shifts land exactly on pixel
centres, so they move pixels without interpolating them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GEOMETRIC_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
XINT_MAX = 0.125  # integer translation, fraction of the image size
SCALE_STD = 0.2  # log2 standard deviation of isotropic scaling
ANISO_STD = 0.2  # log2 standard deviation of anisotropic scaling
XFRAC_STD = 0.125  # fractional translation, fraction of the image size


def _eye(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(3, device=device).repeat(n, 1, 1)


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(len(tx), tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(len(sx), sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate(theta: torch.Tensor) -> torch.Tensor:
    m = _eye(len(theta), theta.device)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _where(active: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return torch.where(active.view(-1, 1, 1), m, _eye(len(m), m.device))


def op_matrix(op: str, n: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """Random (n, 3, 3) output-to-input matrices of one op, in centred pixel units."""
    def rand() -> torch.Tensor:
        return torch.rand(n, device=device)

    def randn() -> torch.Tensor:
        return torch.randn(n, device=device)

    if op == "xflip":
        flip = 1.0 - 2.0 * torch.floor(rand() * 2)
        return _scale(flip, torch.ones_like(flip))
    if op == "rotate90":
        quarter = torch.floor(rand() * 4)
        m = _rotate(quarter * (math.pi / 2))
        return m.round()  # exact 0/1 entries: a pure permutation of pixels
    if op == "xint":
        tx = torch.round((rand() * 2 - 1) * XINT_MAX * width)
        ty = torch.round((rand() * 2 - 1) * XINT_MAX * height)
        return _translate(tx, ty)
    if op == "scale":
        s = torch.exp2(randn() * SCALE_STD)
        return _scale(s, s)
    if op == "rotate":
        return _rotate((rand() * 2 - 1) * math.pi)
    if op == "aniso":
        s = torch.exp2(randn() * ANISO_STD)
        return _scale(s, 1 / s)
    if op == "xfrac":
        return _translate(randn() * XFRAC_STD * width, randn() * XFRAC_STD * height)
    raise KeyError(op)


def random_geometry(ops: list[str], p: float, n: int, height: int, width: int,
                    device: torch.device) -> torch.Tensor:
    """The composed (n, 3, 3) matrix of the geometric ops in `ops`, each applied with prob p."""
    total = _eye(n, device)
    for op in ops:
        active = torch.rand(n, device=device) < p
        total = total @ _where(active, op_matrix(op, n, height, width, device))
    return total


def warp(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Resample images through output-to-input pixel matrices (bilinear, reflected borders)."""
    n, _, height, width = images.shape
    to_pixels = torch.diag(torch.tensor([width / 2, height / 2, 1.0], device=images.device))
    to_normalised = torch.diag(torch.tensor([2 / width, 2 / height, 1.0], device=images.device))
    theta = (to_normalised @ matrix.to(images.device) @ to_pixels)[:, :2, :]
    grid = F.affine_grid(theta.to(images.dtype), [n, 1, height, width], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection",
                         align_corners=False)
