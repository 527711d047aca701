"""The metric mathematics (FID, IS, KID, PRDC) against closed forms and direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist
from scipy.special import softmax

from ganforge.metrics import prdc as prdc_module
from ganforge.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kernel_inception_distance
from ganforge.metrics.prdc import precision_recall_density_coverage


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    """A well-conditioned, non-diagonal symmetric positive-definite matrix."""
    b = rng.normal(size=(d, d))
    return b @ b.T / d + 0.1 * np.eye(d)


# --- FID ---------------------------------------------------------------------------------


def test_fid_diagonal_gaussians_closed_form() -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_fid_full_covariances_match_sqrtm() -> None:
    rng = np.random.default_rng(1)
    d = 10
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 16))
    b = rng.normal(loc=0.3, size=(300, 16)) @ random_spd(rng, 16)
    assert abs(fid_from_features(a, a)["fid"]) < 1e-6
    assert fid_from_features(a, b)["fid"] == pytest.approx(fid_from_features(b, a)["fid"], rel=1e-9)


def test_fid_from_large_samples_approaches_closed_form() -> None:
    rng = np.random.default_rng(3)
    d, n = 8, 40_000
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    exact = frechet_distance(mu1, s1, mu2, s2)
    a = rng.multivariate_normal(mu1, s1, size=n)
    b = rng.multivariate_normal(mu2, s2, size=n)
    result = fid_from_features(a, b)
    # Estimation error is O(d / sqrt(n)) relative to the unit-scale covariances: ~0.04 here.
    assert result["fid"] == pytest.approx(exact, abs=0.05)
    assert result["warnings"] == []


def test_feature_statistics_are_float64_and_unbiased() -> None:
    x = np.random.default_rng(4).normal(size=(50, 3)).astype(np.float32)
    mu, sigma = feature_statistics(x)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False, ddof=1))


def test_fid_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="sigma1"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="dimensions differ"):
        fid_from_features(np.zeros((10, 3)), np.zeros((10, 4)))


def test_fid_warns_when_samples_do_not_exceed_dimension() -> None:
    rng = np.random.default_rng(5)
    result = fid_from_features(rng.normal(size=(20, 64)), rng.normal(size=(200, 64)))
    assert np.isfinite(result["fid"])  # singular covariance: still a number, but flagged
    assert len(result["warnings"]) == 1 and "rank-deficient" in result["warnings"][0]


# --- Inception Score ---------------------------------------------------------------------


def balanced_one_hot(k: int, per_class_per_split: int, splits: int, seed: int = 0) -> np.ndarray:
    """One-hot predictions where every consecutive split holds each class equally often."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate(
        [rng.permutation(np.repeat(np.arange(k), per_class_per_split)) for _ in range(splits)]
    )
    return np.eye(k)[labels]


def test_is_of_uniform_confident_predictions_is_the_class_count() -> None:
    mean, std = inception_score(balanced_one_hot(10, 7, 10), splits=10, shuffle_seed=None)
    assert mean == pytest.approx(10.0, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_is_of_identical_predictions_is_one() -> None:
    probs = np.tile(softmax(np.arange(5.0)), (100, 1))
    mean, std = inception_score(probs, splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_splits_are_uneven_chunks_and_drop_nothing() -> None:
    diverse = balanced_one_hot(10, 10, 1)  # IS 10
    collapsed = np.eye(10)[np.zeros(101, dtype=int)]  # IS 1
    probs = np.concatenate([diverse, collapsed])  # 201 rows: chunks [0, 100) and [100, 201)
    mean, std = inception_score(probs, splits=2, shuffle_seed=None)
    assert mean == pytest.approx(5.5) and std == pytest.approx(4.5)  # ddof=0 over splits
    # 3 splits of 201 rows: [0, 67), [67, 134), [134, 201): the middle one mixes 33 + 34 rows
    mid = probs[67:134]
    marginal = mid.mean(axis=0)
    expected_mid = np.exp(-(marginal[marginal > 0] * np.log(marginal[marginal > 0])).sum())
    scores = [inception_score(probs[a:b], splits=1)[0] for a, b in ((0, 67), (67, 134), (134, 201))]
    assert scores[1] == pytest.approx(expected_mid, rel=1e-12)
    mean, std = inception_score(probs, splits=3, shuffle_seed=None)
    assert (mean, std) == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-12)
    with pytest.raises(ValueError, match="splits"):
        inception_score(probs[:5], splits=10)


def test_is_shuffles_like_torch_fidelity() -> None:
    """Class-sorted predictions: consecutive splits see one class each (IS ~1); torch-fidelity's
    RandomState(2020) permutation before splitting restores the true score."""
    sorted_probs = np.eye(10)[np.repeat(np.arange(10), 50)]  # 500 rows, class-sorted
    assert inception_score(sorted_probs, splits=10, shuffle_seed=None)[0] == pytest.approx(1.0)
    permuted = sorted_probs[np.random.RandomState(2020).permutation(500)]
    expected = inception_score(permuted, splits=10, shuffle_seed=None)
    assert inception_score(sorted_probs, splits=10) == expected  # the default seed is 2020
    assert expected[0] > 8.0


def test_is_from_logits_equals_softmax_path() -> None:
    logits = np.random.default_rng(6).normal(scale=3.0, size=(500, 20))
    from_logits = inception_score(logits, splits=5, from_logits=True)
    from_probs = inception_score(softmax(logits, axis=1), splits=5)
    np.testing.assert_allclose(from_logits, from_probs, rtol=1e-10)
    with pytest.raises(ValueError, match="from_logits"):
        inception_score(logits, splits=5)


# --- KID ---------------------------------------------------------------------------------


def direct_mmd2(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> float:
    """Unbiased MMD^2 by explicit O(m^2) loops, as written in Binkowski et al. 2018."""
    m = len(x)

    def k(u: np.ndarray, v: np.ndarray) -> float:
        return (gamma * float(np.dot(u, v)) + coef0) ** degree

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_direct_loop_on_a_tiny_example() -> None:
    x = np.array([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5], [2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    y = np.array([[1.0, 1.0, 1.0], [-1.0, 2.0, 0.0], [0.0, 0.0, 3.0], [2.0, 1.0, -2.0]])
    # A subset of all 4 rows is a permutation, to which the estimator is invariant.
    got = kernel_inception_distance(x, y, subsets=3, subset_size=4)
    assert got["mean"] == pytest.approx(direct_mmd2(x, y, 3, 1 / 3, 1.0), rel=1e-12)
    assert got["std"] == pytest.approx(0.0, abs=1e-12)
    custom = kernel_inception_distance(x, y, subsets=1, subset_size=4, degree=2, gamma=0.5, coef0=2)
    assert custom["mean"] == pytest.approx(direct_mmd2(x, y, 2, 0.5, 2.0), rel=1e-12)


def test_kid_same_distribution_near_zero_and_shifted_positive() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(1500, 32)), rng.normal(size=(1500, 32))
    same = kernel_inception_distance(a, b, subsets=20, subset_size=500)
    assert abs(same["mean"]) < max(3 * same["std"], 1e-3)
    shifted = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=500)
    assert shifted["mean"] > 0 and shifted["mean"] > 3 * shifted["std"]


def test_kid_is_reproducible_from_its_seed() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(300, 8)), rng.normal(loc=0.2, size=(300, 8))
    first = kernel_inception_distance(a, b, subsets=5, subset_size=100, seed=3)
    assert first == kernel_inception_distance(a, b, subsets=5, subset_size=100, seed=3)
    assert (
        first["mean"] != kernel_inception_distance(a, b, subsets=5, subset_size=100, seed=4)["mean"]
    )


def test_kid_notes_a_shrunk_subset_size() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(60, 4)), rng.normal(size=(80, 4))
    small = kernel_inception_distance(a, b, subsets=2, subset_size=1000)
    assert small["subset_size"] == 60 and small["subsets"] == 2
    assert "60" in small["note"] and small["warnings"] == [small["note"]]
    full = kernel_inception_distance(a, b, subsets=2, subset_size=50)
    assert full["subset_size"] == 50 and full["note"] == "" and full["warnings"] == []


# --- Precision, recall, density, coverage ------------------------------------------------


def brute_force_prdc(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict:
    """The PRDC definitions on full distance matrices (the reference ``prdc`` recipe)."""

    def radii(x: np.ndarray, k: int) -> np.ndarray:
        return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the sample itself

    d = cdist(real, fake)
    r_pr, r_dc, f_pr = radii(real, k_pr), radii(real, k_dc), radii(fake, k_pr)
    return {
        "precision": (d < r_pr[:, None]).any(0).mean(),
        "recall": (d < f_pr[None, :]).any(1).mean(),
        "density": (d < r_dc[:, None]).sum(0).mean() / k_dc,
        "coverage": (d.min(1) < r_dc).mean(),
    }


def test_prdc_matches_brute_force_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(230, 12)), rng.normal(loc=0.4, scale=1.2, size=(170, 12))
    monkeypatch.setattr(prdc_module, "CHUNK_ELEMENTS", 5000)  # ~25 rows per block
    got = precision_recall_density_coverage(real, fake, k_pr=3, k_dc=5)
    expected = brute_force_prdc(real, fake, 3, 5)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert got["warnings"] == []


def test_prdc_of_identical_sets() -> None:
    x = np.random.default_rng(11).normal(size=(400, 20))
    got = precision_recall_density_coverage(x, x.copy())
    assert got["precision"] == got["recall"] == got["coverage"] == 1.0
    # Each open ball B(x_i, NND_5) holds x_i and its 4 nearer neighbours: 5 = k points,
    # so density = N * k / (k * N) = 1 exactly (the strict '<' of the reference code).
    assert got["density"] == pytest.approx(1.0, abs=1e-12)


def test_prdc_of_far_apart_distributions_is_zero() -> None:
    rng = np.random.default_rng(12)
    got = precision_recall_density_coverage(
        rng.normal(size=(300, 10)), rng.normal(loc=50.0, size=(300, 10))
    )
    assert got["precision"] == got["recall"] == got["density"] == got["coverage"] == 0.0


def test_prdc_readme_setting_at_reduced_size() -> None:
    # Naeem et al.'s README setting (N(0, I) vs N(0, I), 1000-d, k=5 for all four) with
    # 3000 instead of 10000 samples each. Precision/recall grow as N shrinks, so the README's
    # numbers do not apply here. Over 12 seeds at this size we measured (mean, sd, range):
    # precision 0.537, 0.013, 0.507-0.549; recall 0.534, 0.014, 0.515-0.555; density 1.019,
    # 0.078, 0.917-1.159; coverage 0.971, 0.006, 0.961-0.981 (Naeem et al.'s Lemma 2 gives
    # E = 1 - 2^-5 ~= 0.969). The bands are about mean +- 3.5 sd.
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(3000, 1000)), rng.normal(size=(3000, 1000))
    got = precision_recall_density_coverage(real, fake, k_pr=5, k_dc=5)
    assert 0.48 < got["precision"] < 0.59
    assert 0.48 < got["recall"] < 0.59
    assert 0.80 < got["density"] < 1.25
    assert 0.95 < got["coverage"] < 0.99
    assert got["warnings"] == []


@pytest.mark.slow
def test_prdc_readme_example_full_size() -> None:
    # The README prints precision 0.4772, recall 0.4705, density 1.0555, coverage 0.9735
    # (unseeded). Over 9 seeds at the same size we measured (mean, sd): precision 0.477,
    # 0.012; recall 0.479, 0.011; density 0.991, 0.058; coverage 0.966, 0.006: the README
    # values lie within 1.2 sd of those means. Two independent draws differ with sd
    # sqrt(2) * sd, so the tolerances are 3 sqrt(2) sd.
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(10_000, 1000)), rng.normal(size=(10_000, 1000))
    got = precision_recall_density_coverage(real, fake, k_pr=5, k_dc=5)
    assert got["precision"] == pytest.approx(0.4772, abs=0.05)
    assert got["recall"] == pytest.approx(0.4705, abs=0.05)
    assert got["density"] == pytest.approx(1.0555, abs=0.25)
    assert got["coverage"] == pytest.approx(0.9735, abs=0.027)


def test_prdc_warns_with_fewer_samples_than_dimensions_and_rejects_too_few() -> None:
    rng = np.random.default_rng(13)
    got = precision_recall_density_coverage(rng.normal(size=(40, 64)), rng.normal(size=(80, 64)))
    assert len(got["warnings"]) == 1 and got["warnings"][0].startswith("real: 40 samples")
    with pytest.raises(ValueError, match="more than k=5"):
        precision_recall_density_coverage(rng.normal(size=(5, 3)), rng.normal(size=(50, 3)))
