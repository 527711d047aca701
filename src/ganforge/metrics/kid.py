"""Kernel Inception Distance (Binkowski et al. 2018) between two feature sets, in float64.

Protocol (as torch-fidelity / the paper): with the polynomial kernel
k(x, y) = (gamma <x, y> + coef0)^degree, gamma = 1/D by default, draw ``subsets`` random
subsets of m = min(subset_size, N_a, N_b) rows from each set (without replacement inside a
subset, independently across subsets, from ``numpy.random.default_rng(seed)``), compute the
unbiased MMD^2 on each,

    MMD^2_u = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
              - 2 sum_{i,j} k(x_i, y_j) / m^2,

and report their mean and population std (ddof=0). The estimator is unbiased, so it can be
slightly negative when the distributions match.

Returns a dict like the other metrics: ``mean``, ``std``, ``subsets``, ``subset_size`` (the
m actually used), ``note`` (non-empty when m < the requested subset_size) and ``warnings``.
"""

from __future__ import annotations

import numpy as np

from ganforge.metrics.fid import as_feature_matrix


def polynomial_kernel(
    x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1
) -> np.ndarray:
    """(gamma <x, y> + coef0)^degree for all row pairs; gamma = 1 / D when None."""
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    return (g * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 from the three m x m kernel matrices (diagonals of K_xx, K_yy left out)."""
    m = k_xx.shape[0]
    off_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    off_yy = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(off_xx + off_yy - 2.0 * k_xy.mean())


def _subset_size_note(m: int, requested: int, n_a: int, n_b: int) -> str:
    """Explain a shrunk subset: the spread of KID over subsets depends on m."""
    if m >= requested:
        return ""
    return (
        f"subset_size reduced from {requested} to {m} (only {n_a} and {n_b} samples); "
        "KID values computed with different subset sizes are not directly comparable"
    )


def kernel_inception_distance(
    a: object,
    b: object,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1,
    seed: int = 0,
) -> dict[str, object]:
    """KID between feature sets ``a`` (N_a, D) and ``b`` (N_b, D); see the module docstring.

    Returns ``{"mean", "std", "subsets", "subset_size", "note", "warnings"}``.
    """
    x, y = as_feature_matrix(a, "a"), as_feature_matrix(b, "b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: a has {x.shape[1]}, b has {y.shape[1]}")
    if subsets < 1 or subset_size < 2:
        raise ValueError("need subsets >= 1 and subset_size >= 2")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError(f"need at least 2 samples in each set, got {x.shape[0]} and {y.shape[0]}")
    rng = np.random.default_rng(seed % (1 << 64))  # any int seed (train.seed may be negative)
    values = np.empty(subsets, dtype=np.float64)
    for s in range(subsets):
        xs = x[rng.choice(x.shape[0], m, replace=False)]
        ys = y[rng.choice(y.shape[0], m, replace=False)]
        values[s] = mmd2_unbiased(
            polynomial_kernel(xs, xs, degree, gamma, coef0),
            polynomial_kernel(ys, ys, degree, gamma, coef0),
            polynomial_kernel(xs, ys, degree, gamma, coef0),
        )
    note = _subset_size_note(m, subset_size, x.shape[0], y.shape[0])
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=0)),
        "subsets": subsets,
        "subset_size": m,
        "note": note,
        "warnings": [note] if note else [],
    }
