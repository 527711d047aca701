"""Frechet Inception Distance (FID) between two sets of features, in float64.

Protocol (Heusel et al. 2017, as in pytorch-fid): fit a Gaussian to each feature set
(mean, unbiased covariance with ddof=1) and report the Frechet distance between them,

    FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)).

Design shared by the metrics package: every top-level metric that estimates a covariance or
distances returns a dict holding its values and a ``"warnings"`` list of strings (empty when
nothing looks wrong), so a misleading number never travels without its caveat. The building
blocks (``feature_statistics``, ``frechet_distance``) return plain arrays / floats.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def sample_size_warnings(n: int, dim: int, name: str = "features") -> list[str]:
    """Warnings for a covariance estimated from ``n`` samples of dimension ``dim``.

    With n <= dim the sample covariance has rank <= n - 1 < dim (singular), so a Frechet
    distance computed from it is biased and unstable.
    """
    if n <= dim:
        return [
            f"{name}: {n} samples <= feature dimension {dim}; the covariance estimate is "
            f"rank-deficient (rank <= {max(n - 1, 0)}) and the metric is unreliable"
        ]
    return []


def as_feature_matrix(features: object, name: str = "features") -> np.ndarray:
    """A 2-D float64 (N, D) array, or a clear ValueError."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def feature_statistics(features: object) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D), float64, of an (N, D) feature array.

    ddof=1 as pytorch-fid's ``np.cov(rowvar=False)``; needs N >= 2.
    """
    x = as_feature_matrix(features)
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {x.shape[0]}")
    mu = x.mean(axis=0)
    sigma = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    return mu, sigma


def _check_gaussian(mu: np.ndarray, sigma: np.ndarray, name: str) -> None:
    """Mean must be (D,) and covariance (D, D)."""
    if mu.ndim != 1:
        raise ValueError(f"mu{name} must be 1-D (D,), got shape {mu.shape}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"sigma{name} must be ({d}, {d}) to match mu{name}, got {sigma.shape}")


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr(sqrt(S1 S2)) as the sum of square roots of the eigenvalues of S1 S2.

    S1 S2 is similar to S1^(1/2) S2 S1^(1/2), so for PSD inputs its eigenvalues are real and
    >= 0 in exact arithmetic; round-off imaginary parts are dropped and tiny negatives clipped.
    Unlike ``scipy.linalg.sqrtm`` this needs no regularising offset for singular covariances.
    """
    eig = scipy.linalg.eigvals(sigma1 @ sigma2)
    return float(np.sqrt(np.clip(eig.real, 0.0, None)).sum())


def frechet_distance(mu1: object, sigma1: object, mu2: object, sigma2: object) -> float:
    """Frechet distance between N(mu1, S1) and N(mu2, S2), float64.

    ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)); clipped at 0 against round-off.
    """
    m1, m2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
    _check_gaussian(m1, s1, "1")
    _check_gaussian(m2, s2, "2")
    if m1.shape != m2.shape:
        raise ValueError(f"feature dimensions differ: mu1 {m1.shape} vs mu2 {m2.shape}")
    diff = m1 - m2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2)
    return max(float(value), 0.0)


def fid_from_features(a: object, b: object) -> dict[str, object]:
    """FID between feature sets ``a`` (N1, D) and ``b`` (N2, D).

    Returns ``{"fid": float, "warnings": list[str]}``; a warning is attached when either set
    has fewer samples than dimensions (singular covariance: the FID is biased and unstable).
    FID is also biased upward for small N, so only compare values computed with equal N.
    """
    x, y = as_feature_matrix(a, "a"), as_feature_matrix(b, "b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: a has {x.shape[1]}, b has {y.shape[1]}")
    warnings = sample_size_warnings(x.shape[0], x.shape[1], "a")
    warnings += sample_size_warnings(y.shape[0], y.shape[1], "b")
    fid = frechet_distance(*feature_statistics(x), *feature_statistics(y))
    return {"fid": fid, "warnings": warnings}
