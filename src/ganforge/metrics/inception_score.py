"""Inception Score (Salimans et al. 2016) from class probabilities or logits, in float64.

Protocol (torch-fidelity's `isc_features_to_metric`): permute the N predictions with
``numpy.random.RandomState(shuffle_seed).permutation(N)`` (seed 2020 as torch-fidelity; None
keeps the given order), cut them into ``splits`` chunks ``[i N // splits, (i+1) N // splits)``
(uneven when N is not divisible: nothing is dropped), in each chunk compute

    IS_s = exp( mean_i KL(p(y|x_i) || p(y)) ),   p(y) = mean_i p(y|x_i) over the chunk,

and report the mean and the population std (ddof=0) of IS_s over the splits. The permutation
acts on positions, so the score still depends on the input order: `ganforge eval` first puts the
images in content order (`metrics.order`), which makes it independent of the order.

Unlike the covariance/distance metrics, this returns a plain ``(mean, std)`` tuple: it has
no sample-size caveat of the singular-covariance kind to attach.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, rel_entr

PROBABILITY_TOLERANCE = 1e-3
SHUFFLE_SEED = 2020  # torch-fidelity's isc_rng_seed


def _probabilities(values: object, from_logits: bool) -> np.ndarray:
    """(N, K) float64 class probabilities; logits go through a float64 softmax.

    Probability rows must sum to 1 within 1e-3 (float32 softmax outputs do) and are then
    renormalised, so round-off in the input cannot push the score past its bounds.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"expected an (N, K) array of predictions, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("predictions contain NaN or infinite values")
    if from_logits:
        return np.exp(log_softmax(x, axis=1))
    if x.min() < 0 or np.abs(x.sum(axis=1) - 1.0).max() > PROBABILITY_TOLERANCE:
        raise ValueError(
            "rows are not probability vectors (negative or not summing to 1); "
            "pass from_logits=True for logits"
        )
    return x / x.sum(axis=1, keepdims=True)


def split_score(probs: np.ndarray) -> float:
    """exp(mean_i KL(p(y|x_i) || p(y))) for one chunk; 0 log 0 taken as 0."""
    marginal = probs.mean(axis=0, keepdims=True)
    kl = rel_entr(probs, marginal).sum(axis=1)
    return float(np.exp(kl.mean()))


def split_bounds(n: int, splits: int) -> list[tuple[int, int]]:
    """torch-fidelity's uneven chunks: [i n // splits, (i + 1) n // splits) for i < splits."""
    return [(i * n // splits, (i + 1) * n // splits) for i in range(splits)]


def inception_score(
    probs_or_logits: object, splits: int = 10, from_logits: bool = False,
    shuffle_seed: int | None = SHUFFLE_SEED,
) -> tuple[float, float]:
    """Inception Score ``(mean, std)`` over ``splits`` chunks of the (shuffled) predictions.

    ``probs_or_logits`` is (N, K): softmax outputs, or logits with ``from_logits=True``.
    Bounds: 1 (all predictions identical) <= IS <= K (confident and class-balanced).
    """
    probs = _probabilities(probs_or_logits, from_logits)
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    n = probs.shape[0]
    if n < splits:
        raise ValueError(f"{n} predictions cannot fill {splits} splits")
    if shuffle_seed is not None:
        probs = probs[np.random.RandomState(shuffle_seed).permutation(n)]
    scores = np.array([split_score(probs[a:b]) for a, b in split_bounds(n, splits)])
    return float(scores.mean()), float(scores.std(ddof=0))
