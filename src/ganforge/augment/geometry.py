"""Geometric augmentations composed into one affine warp per sample (ADA's "blit" + "geom").

Every op draws its parameters per sample and contributes a 3x3 matrix in pixel units centred on
the image; the product maps output pixels to input pixels and one `grid_sample` (bilinear,
reflection padding) applies it. Samples whose warp lands every output pixel on an input pixel
centre (flips, quarter turns, whole-pixel shifts, no op at all) are resampled with "nearest"
instead, so their pixels move exactly rather than up to the rounding of the grid's coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

GEOMETRIC_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
XINT_MAX = 0.125  # integer translation, fraction of the image size
SCALE_STD = 0.2  # log2 standard deviation of isotropic scaling (lognormal, std 0.2 ln 2)
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


def op_matrix(op: str, n: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """Random (n, 3, 3) output-to-input matrices of one op, in centred pixel units."""

    def rand() -> torch.Tensor:
        return torch.rand(n, device=device)

    def randn() -> torch.Tensor:
        return torch.randn(n, device=device)

    if op == "xflip":  # an active xflip mirrors half of the time, as in ADA
        flip = 1.0 - 2.0 * torch.floor(rand() * 2)
        return _scale(flip, torch.ones_like(flip))
    if op == "rotate90":
        quarter = torch.floor(rand() * 4)
        return _rotate(quarter * (math.pi / 2)).round()  # exact 0/+-1 entries
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


def _maybe(op: str, prob: float, n: int, height: int, width: int,
           device: torch.device) -> torch.Tensor:
    """One op's matrices where a per-sample Bernoulli(prob) draw says so, identity elsewhere."""
    active = (torch.rand(n, device=device) < prob).view(-1, 1, 1)
    return torch.where(active, op_matrix(op, n, height, width, device), _eye(n, device))


def random_geometry(ops: Sequence[str], p: float, n: int, height: int, width: int,
                    device: torch.device) -> torch.Tensor:
    """The composed (n, 3, 3) matrix of the geometric ops in `ops`, each applied with prob p.

    As in ADA, `rotate` is two independent draws of prob 1 - sqrt(1 - p) (so a sample is rotated
    at all with prob p), the second placed after `aniso` when that follows, so that the
    anisotropic stretch acts along a random axis rather than always along the image's axes.
    """
    p_rot = 1.0 - math.sqrt(max(0.0, 1.0 - min(p, 1.0)))
    total = _eye(n, device)
    second_rotation_pending = False
    for i, op in enumerate(ops):
        if op == "rotate":
            total = total @ _maybe("rotate", p_rot, n, height, width, device)
            if "aniso" in ops[i + 1:]:
                second_rotation_pending = True
            else:
                total = total @ _maybe("rotate", p_rot, n, height, width, device)
            continue
        total = total @ _maybe(op, p, n, height, width, device)
        if op == "aniso" and second_rotation_pending:
            total = total @ _maybe("rotate", p_rot, n, height, width, device)
            second_rotation_pending = False
    return total


def warp(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Resample images through output-to-input pixel matrices (bilinear, reflected borders)."""
    n, _, height, width = images.shape
    device = images.device
    m = matrix.to(device=device, dtype=torch.float32)
    xs = (torch.arange(width, device=device, dtype=torch.float32) + (0.5 - width / 2)).view(1, 1, -1)
    ys = (torch.arange(height, device=device, dtype=torch.float32) + (0.5 - height / 2)).view(1, -1, 1)

    def entry(row: int, col: int) -> torch.Tensor:
        return m[:, row, col].view(-1, 1, 1)

    # input coordinates in pixel-index units (pixel i's centre is at i): exact for 0/+-1 linear
    # parts and whole-pixel shifts, since every term is a small half-integer
    src_x = entry(0, 0) * xs + entry(0, 1) * ys + entry(0, 2) + (width / 2 - 0.5)
    src_y = entry(1, 0) * xs + entry(1, 1) * ys + entry(1, 2) + (height / 2 - 0.5)
    on_centres = ((src_x == src_x.round()) & (src_y == src_y.round())).flatten(1).all(1)
    grid = torch.stack(((2 * src_x + 1) / width - 1, (2 * src_y + 1) / height - 1), dim=-1)
    if images.dtype not in (torch.float32, torch.float64):  # half-precision coordinates would
        images = images.float()  # misplace pixels by ~1/256 of the image; the caller casts back

    def sample(mode: str) -> torch.Tensor:
        return F.grid_sample(images, grid.to(images.dtype), mode=mode, padding_mode="reflection",
                             align_corners=False)

    # on pixel centres, "nearest" copies values exactly; bilinear would blend in ~1e-6 of the
    # neighbours, as the normalised coordinates are rounded
    every, some = torch.stack([on_centres.all(), on_centres.any()]).tolist()
    if every:
        return sample("nearest")
    if not some:
        return sample("bilinear")
    return torch.where(on_centres.view(-1, 1, 1, 1), sample("nearest"), sample("bilinear"))
