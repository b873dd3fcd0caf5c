"""Wilson intervals, per-class precision/recall intervals, DeLong's AUC variance and test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from polyclass.metrics import (
    delong_test,
    precision_recall_intervals,
    roc_auc_ci,
    wilson_interval,
)


def statsmodels_wilson(count: float, nobs: float, alpha: float) -> tuple[float, float]:
    """statsmodels.stats.proportion.proportion_confint(method='wilson'), transcribed."""
    crit = norm.isf(alpha / 2.0)
    q_ = count / nobs
    crit2 = crit**2
    denom = 1 + crit2 / nobs
    center = (q_ + crit2 / (2 * nobs)) / denom
    dist = crit * np.sqrt(q_ * (1.0 - q_) / nobs + crit2 / (4.0 * nobs**2)) / denom
    return center - dist, center + dist


# ------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    ("k", "n", "level", "expected"),
    [
        (5, 10, 0.95, (0.2366, 0.7634)),
        (0, 10, 0.95, (0.0, 0.2775)),
        (10, 10, 0.95, (0.7225, 1.0)),
        (1, 20, 0.95, (0.0089, 0.2361)),
        (81, 263, 0.95, (0.2553, 0.3662)),
    ],
)
def test_wilson_known_values(k: int, n: int, level: float, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(k, n, level)
    assert isinstance(low, float) and isinstance(high, float)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_matches_statsmodels_formula_on_arrays() -> None:
    rng = np.random.default_rng(0)
    n = rng.integers(1, 500, size=200)
    k = rng.integers(0, n + 1)
    for level in (0.8, 0.95, 0.99):
        low, high = wilson_interval(k, n, level)
        ref_low, ref_high = statsmodels_wilson(k.astype(float), n.astype(float), 1 - level)
        np.testing.assert_allclose(low, np.clip(ref_low, 0, 1), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(high, np.clip(ref_high, 0, 1), rtol=1e-12, atol=1e-15)
        assert np.all(low <= k / n) and np.all(k / n <= high)


def test_wilson_zero_trials_is_nan_and_broadcasts() -> None:
    low, high = wilson_interval(np.array([0, 3]), np.array([0, 10]))
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert 0 < low[1] < 0.3 < high[1]
    low2, _ = wilson_interval(np.array([1, 2, 3]), 10)
    assert low2.shape == (3,)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((11, 10), "successes exceed trials"),
        ((-1, 10), "successes must be non-negative"),
        ((1, np.nan), "trials contains NaN"),
        ((1, 10, 1.0), "confidence_level"),
        ((1, 10, 0.0), "confidence_level"),
        ((np.ones(2), np.ones(3)), "do not broadcast"),
        (("a", 10), "numeric"),
    ],
)
def test_wilson_errors(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        wilson_interval(*args)  # type: ignore[arg-type]


# ------------------------------------------------------------ precision/recall intervals


@pytest.mark.parametrize("seed", range(5))
def test_precision_recall_intervals_against_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = np.array(["cat", "dog", "eel", "fox"])
    y_true = names[rng.integers(0, 4, 300)]
    y_pred = np.where(rng.random(300) < 0.6, y_true, names[rng.integers(0, 3, 300)])
    r = precision_recall_intervals(y_true, y_pred, confidence_level=0.9)
    p, rc, _, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=np.nan
    )
    assert r.labels.tolist() == names.tolist()
    np.testing.assert_allclose(r.precision, p, rtol=1e-12)
    np.testing.assert_allclose(r.recall, rc, rtol=1e-12)
    assert r.support.tolist() == support.tolist()
    for i, name in enumerate(names):
        tp = np.sum((y_true == name) & (y_pred == name))
        lo, hi = statsmodels_wilson(tp, np.sum(y_pred == name), 0.1)
        assert r.precision_low[i] == pytest.approx(max(lo, 0), abs=1e-12)
        assert r.precision_high[i] == pytest.approx(min(hi, 1), abs=1e-12)
        lo, hi = statsmodels_wilson(tp, np.sum(y_true == name), 0.1)
        assert r.recall_low[i] == pytest.approx(max(lo, 0), abs=1e-12)
        assert r.recall_high[i] == pytest.approx(min(hi, 1), abs=1e-12)


def test_precision_recall_intervals_labels_order_and_absent_class() -> None:
    y_true = ["a", "b", "c", "a", "b"]
    y_pred = ["a", "c", "c", "b", "b"]
    r = precision_recall_intervals(y_true, y_pred, labels=["c", "a", "z"])
    assert r.labels.tolist() == ["c", "a", "z"]
    p, rc, _, s = precision_recall_fscore_support(
        y_true, y_pred, labels=["c", "a", "z"], average=None, zero_division=np.nan
    )
    np.testing.assert_array_equal(r.precision, p)
    np.testing.assert_array_equal(r.recall, rc)
    assert r.support.tolist() == s.tolist()
    assert np.isnan(r.precision_low[2]) and np.isnan(r.recall_high[2])


def test_precision_recall_intervals_errors() -> None:
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        precision_recall_intervals([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="duplicates"):
        precision_recall_intervals([0, 1], [0, 1], labels=[0, 0])
    with pytest.raises(ValueError, match="empty"):
        precision_recall_intervals([], [])


# ------------------------------------------------------------------------- DeLong


def naive_delong(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and covariance from the O(m n) placement values (DeLong et al. 1988)."""
    pos = y == 1
    v10, v01, aucs = [], [], []
    for s in scores:
        x, z = s[pos], s[~pos]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    cov = np.cov(np.array(v10)) / pos.sum() + np.cov(np.array(v01)) / (~pos).sum()
    return np.array(aucs), np.atleast_2d(cov)


@pytest.mark.parametrize("seed", range(8))
def test_roc_auc_ci_matches_naive_delong_and_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 120))
    y = rng.integers(0, 2, n)
    y[:2], y[2:4] = 0, 1
    # Rounded scores: plenty of ties, inside and across classes.
    s = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), 1)
    ci = roc_auc_ci(y, s, confidence_level=0.9)
    auc, cov = naive_delong(y, [s])
    assert ci.estimate == pytest.approx(roc_auc_score(y, s), rel=1e-12)
    assert ci.estimate == pytest.approx(auc[0], rel=1e-12)
    assert ci.standard_error == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-10)
    z = norm.ppf(0.95)
    assert ci.low == pytest.approx(max(0.0, auc[0] - z * ci.standard_error), rel=1e-12)
    assert ci.high == pytest.approx(min(1.0, auc[0] + z * ci.standard_error), rel=1e-12)
    assert ci.method == "delong" and ci.level == 0.9 and ci.n_resamples is None


def test_roc_auc_ci_string_labels_and_pos_label() -> None:
    y = np.array(["no", "yes", "no", "yes", "yes", "no", "no"])
    s = np.array([0.2, 0.9, 0.4, 0.3, 0.8, 0.1, 0.5])
    yes = roc_auc_ci(y, s)
    assert yes.estimate == pytest.approx(roc_auc_score(y, s))
    no = roc_auc_ci(y, s, pos_label="no")
    assert no.estimate == pytest.approx(1 - yes.estimate)
    assert no.standard_error == pytest.approx(yes.standard_error)


def test_roc_auc_ci_integer_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 40)
    y[:2], y[2:4] = 0, 1
    s = np.round(rng.normal(size=40) + y, 1)
    w = rng.integers(1, 4, 40)
    weighted = roc_auc_ci(y, s, sample_weight=w)
    repeated = roc_auc_ci(np.repeat(y, w), np.repeat(s, w))
    assert weighted.estimate == pytest.approx(repeated.estimate, rel=1e-12)
    assert weighted.standard_error == pytest.approx(repeated.standard_error, rel=1e-10)
    assert weighted.estimate == pytest.approx(roc_auc_score(y, s, sample_weight=w), rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_delong_test_matches_naive_covariance(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(12, 100))
    y = rng.integers(0, 2, n)
    y[:2], y[2:4] = 0, 1
    a = np.round(rng.normal(size=n) + y, 1)
    b = np.round(0.5 * a + rng.normal(size=n), 1)
    res = delong_test(y, a, b)
    aucs, cov = naive_delong(y, [a, b])
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert res.auc_a == pytest.approx(aucs[0], rel=1e-12)
    assert res.auc_b == pytest.approx(aucs[1], rel=1e-12)
    assert res.var_diff == pytest.approx(var, rel=1e-9, abs=1e-15)
    assert res.z == pytest.approx((aucs[0] - aucs[1]) / np.sqrt(var), rel=1e-8)
    assert res.p_value == pytest.approx(2 * norm.sf(abs(res.z)), rel=1e-10)
    z, p_value, auc_a, auc_b, var_diff = res  # unpacks as a tuple
    assert (z, p_value, auc_a, auc_b, var_diff) == tuple(res)


def test_delong_test_identical_and_monotone_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    s = rng.normal(size=50) + y
    same = delong_test(y, s, s)
    assert (same.z, same.p_value, same.var_diff) == (0.0, 1.0, 0.0)
    # A monotone transform ranks identically: the same AUC, no difference.
    mono = delong_test(y, s, np.exp(s))
    assert mono.auc_a == mono.auc_b and mono.p_value == 1.0


def test_delong_test_detects_a_real_difference() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    good = y * 2.0 + rng.normal(size=400)
    weak = y * 0.3 + rng.normal(size=400)
    res = delong_test(y, good, weak)
    assert res.auc_a > res.auc_b and res.z > 3 and res.p_value < 1e-3


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 0, 1, 1], [0.1, np.nan, 0.3, 0.4], "NaN or inf"),
        ([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4], "at least two positive and two negative"),
        ([0, 1, 2, 1], [0.1, 0.2, 0.3, 0.4], "binary target"),
        ([0, 1, 1], [0.1, 0.2], "inconsistent numbers of samples"),
    ],
)
def test_roc_auc_ci_errors(y: list[int], s: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        roc_auc_ci(y, s)


def test_delong_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="y_score_b"):
        delong_test([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, np.inf, 0.4])
    with pytest.raises(ValueError, match="pos_label=2 is not a label"):
        roc_auc_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], pos_label=2)
