"""Precision, recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

With NND_k(x) the distance from x to its k-th nearest neighbour in its own set (the sample
itself excluded) and B(x, r) the open ball {z : ||z - x|| < r}, for real X_1..X_N and fake
Y_1..Y_M:

    precision = 1/M sum_j 1[ Y_j in U_i B(X_i, NND_k(X_i)) ]           (k = k_pr)
    recall    = 1/N sum_i 1[ X_i in U_j B(Y_j, NND_k(Y_j)) ]           (k = k_pr)
    density   = 1/(kM) sum_j sum_i 1[ Y_j in B(X_i, NND_k(X_i)) ]      (k = k_dc)
    coverage  = 1/N sum_i 1[ exists j: Y_j in B(X_i, NND_k(X_i)) ]     (k = k_dc)

The strict inequality matches the reference ``prdc`` package; with it, identical real and
fake sets (without duplicate points) give precision = recall = coverage = 1 and density
exactly 1 (each ball holds its centre and its k-1 nearer neighbours: k points).

Euclidean distances are computed in float64 as sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0)) by torch
matmul over row chunks, so memory stays bounded (about ``CHUNK_ELEMENTS`` doubles per
block) and 10000 x 10000 samples in 1000-d take seconds, not an N x M matrix in memory.

Returns a dict like the other metrics: the four values and a ``"warnings"`` list.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ganforge.metrics.fid import as_feature_matrix

CHUNK_ELEMENTS = 1 << 23  # 64 MiB of float64 per distance block


def _features(values: object, name: str) -> torch.Tensor:
    """A 2-D float64 (N, D) tensor, or a clear ValueError."""
    return torch.from_numpy(np.ascontiguousarray(as_feature_matrix(values, name)))


def distance_blocks(
    x: torch.Tensor, y: torch.Tensor, exclude_self: bool = False
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (rows, D) with D[r, j] = ||x[rows][r] - y[j]||, a block of rows at a time.

    ``exclude_self`` (x is y) sets each row's own distance to +inf, so k-th-NN radii skip it.
    """
    x_sq, y_sq = (x * x).sum(1), (y * y).sum(1)
    step = max(1, CHUNK_ELEMENTS // max(1, y.shape[0]))
    for start in range(0, x.shape[0], step):
        rows = slice(start, min(start + step, x.shape[0]))
        sq = x_sq[rows, None] + y_sq[None, :] - 2.0 * (x[rows] @ y.T)
        dist = sq.clamp_(min=0.0).sqrt_()
        if exclude_self:
            idx = torch.arange(rows.stop - rows.start)
            dist[idx, idx + rows.start] = float("inf")
        yield rows, dist


def nearest_neighbour_radii(x: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """NND_k(x_i) for each k in ``ks``: distance to the k-th nearest other sample of x."""
    k_max = max(ks)
    if x.shape[0] <= k_max:
        raise ValueError(f"need more than k={k_max} samples for k-NN radii, got {x.shape[0]}")
    radii = {k: torch.empty(x.shape[0], dtype=torch.float64) for k in ks}
    for rows, dist in distance_blocks(x, x, exclude_self=True):
        nearest = torch.topk(dist, k_max, dim=1, largest=False, sorted=True).values
        for k in ks:
            radii[k][rows] = nearest[:, k - 1]
    return radii


def _sample_warnings(n: int, dim: int, name: str) -> list[str]:
    """k-NN balls from fewer samples than dimensions are very coarse manifold estimates."""
    if n < dim:
        return [
            f"{name}: {n} samples < feature dimension {dim}; k-NN manifold estimates are "
            "unreliable and precision/recall/density/coverage may mislead"
        ]
    return []


def precision_recall_density_coverage(
    real: object, fake: object, k_pr: int = 3, k_dc: int = 5
) -> dict[str, object]:
    """PRDC of ``fake`` (M, D) against ``real`` (N, D); see the module docstring.

    ``k_pr`` is the k of precision/recall (3, Kynkaanniemi et al.), ``k_dc`` that of
    density/coverage (5, Naeem et al.; their README example uses k=5 for all four).
    Returns ``{"precision", "recall", "density", "coverage": float, "warnings": list[str]}``.
    """
    x, y = _features(real, "real"), _features(fake, "fake")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: real {x.shape[1]}, fake {y.shape[1]}")
    if min(k_pr, k_dc) < 1:
        raise ValueError("k_pr and k_dc must be >= 1")
    real_r = nearest_neighbour_radii(x, (k_pr, k_dc))
    fake_r = nearest_neighbour_radii(y, (k_pr,))[k_pr]
    fake_in_real = torch.zeros(y.shape[0], dtype=torch.bool)
    density_hits = torch.zeros(y.shape[0], dtype=torch.float64)
    real_in_fake = torch.empty(x.shape[0], dtype=torch.bool)
    covered = torch.empty(x.shape[0], dtype=torch.bool)
    for rows, dist in distance_blocks(x, y):
        fake_in_real |= (dist < real_r[k_pr][rows, None]).any(0)
        density_hits += (dist < real_r[k_dc][rows, None]).sum(0)
        real_in_fake[rows] = (dist < fake_r[None, :]).any(1)
        covered[rows] = dist.min(1).values < real_r[k_dc][rows]
    warnings = _sample_warnings(x.shape[0], x.shape[1], "real")
    warnings += _sample_warnings(y.shape[0], y.shape[1], "fake")
    return {
        "precision": fake_in_real.double().mean().item(),
        "recall": real_in_fake.double().mean().item(),
        "density": density_hits.sum().item() / (k_dc * y.shape[0]),
        "coverage": covered.double().mean().item(),
        "warnings": warnings,
    }
