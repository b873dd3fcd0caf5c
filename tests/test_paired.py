"""Paired comparison statistics: each tested for what it claims.

McNemar against SciPy's exact binomial test and for its size under the null;
the paired bootstrap for agreement with the unpaired estimates, its interval/p-value
duality and its size under the null; DeLong's one-vs-rest test against a brute-force
pairwise computation, against the binary DeLong test with two classes, and its
variance against the spread of the statistic over simulated samples.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from polyclass.metrics import (
    delong_ovr_test,
    delong_test,
    mcnemar_test,
    paired_bootstrap,
)


@pytest.mark.parametrize("seed", range(5))
def test_mcnemar_matches_scipy_exact_binomial(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 80)
    a = np.where(rng.random(80) < 0.8, y, (y + 1) % 3)
    b = np.where(rng.random(80) < 0.7, y, (y + 2) % 3)
    res = mcnemar_test(y, a, b)
    only_a = int(np.sum((a == y) & (b != y)))
    only_b = int(np.sum((b == y) & (a != y)))
    assert (res.only_a_correct, res.only_b_correct, res.n_samples) == (only_a, only_b, 80)
    expected = binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert res.p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_identical_models_p_is_one() -> None:
    assert mcnemar_test([0, 1, 1], [0, 1, 0], [0, 1, 0]).p_value == 1.0


def _null_pairs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Two models with the same 75% accuracy, errors independent: the null is true."""
    y = rng.integers(0, 3, n)
    a = np.where(rng.random(n) < 0.75, y, (y + 1) % 3)
    b = np.where(rng.random(n) < 0.75, y, (y + 1) % 3)
    return y, a, b


def test_mcnemar_size_under_the_null() -> None:
    rng = np.random.default_rng(1)
    p = np.array([mcnemar_test(*_null_pairs(rng, 120)).p_value for _ in range(2000)])
    # The exact test is conservative: the rejection rate is at most alpha (with the
    # simulation's own binomial noise, sd ~0.005 at 2000 runs).
    assert np.mean(p < 0.05) <= 0.05 + 0.012
    assert np.mean(p < 0.05) >= 0.02  # and not degenerate


def test_paired_bootstrap_scores_match_sklearn_and_interval_holds_estimate() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    a = np.where(rng.random(300) < 0.9, y, (y + 1) % 3)
    b = np.where(rng.random(300) < 0.7, y, (y + 1) % 3)
    d = paired_bootstrap("f1_score", y, a, b, average="macro", random_state=0)
    assert d.score_a == pytest.approx(f1_score(y, a, average="macro"))
    assert d.score_b == pytest.approx(f1_score(y, b, average="macro"))
    assert d.low < d.difference < d.high and d.low > 0 and d.p_value < 0.001
    assert d.n_resamples == 2000 and d.level == 0.95


def test_paired_bootstrap_pairing_narrows_the_interval() -> None:
    # B differs from A on 10 rows only: unpaired intervals overlap widely, the paired
    # one is as narrow as those few discordant rows allow.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    a = np.where(rng.random(400) < 0.8, y, 1 - y)
    b = a.copy()
    wrong = np.flatnonzero(a == y)[:10]
    b[wrong] = 1 - y[wrong]
    d = paired_bootstrap(accuracy_score, y, a, b, n_resamples=200, random_state=1)
    assert d.difference == pytest.approx(10 / 400)
    assert d.standard_error < 0.012  # unpaired sd of one accuracy alone is ~0.02
    assert d.low > 0


def test_paired_bootstrap_interval_and_p_value_agree() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        y, a, b = _null_pairs(rng, 100)
        d = paired_bootstrap("accuracy_score", y, a, b, n_resamples=400, random_state=rng)
        excludes_zero = d.low > 0 or d.high < 0
        if excludes_zero:
            assert d.p_value <= 0.05 + 1 / 400
        else:
            assert d.p_value >= 0.05 - 2 / 400


def test_paired_bootstrap_size_under_the_null() -> None:
    rng = np.random.default_rng(7)
    p = np.array(
        [
            paired_bootstrap(
                "accuracy_score", *_null_pairs(rng, 150), n_resamples=400, random_state=rng
            ).p_value
            for _ in range(300)
        ]
    )
    # Nominal 5%; 300 runs give a binomial sd of ~1.3 points.
    assert 0.015 <= np.mean(p < 0.05) <= 0.095


def test_paired_bootstrap_score_metric_ovr_auc() -> None:
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 50)
    good = _softmax(np.eye(3)[y] + rng.normal(0, 0.7, (150, 3)))
    bad = _softmax(np.eye(3)[y] + rng.normal(0, 2.0, (150, 3)))
    d = paired_bootstrap(
        "roc_auc_score", y, good, bad, multi_class="ovr", n_resamples=300, random_state=0
    )
    assert d.score_a == pytest.approx(roc_auc_score(y, good, multi_class="ovr"))
    assert d.low > 0


def test_paired_bootstrap_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same form"):
        paired_bootstrap("roc_auc_score", [0, 1, 0], np.zeros((3, 2)), [0.1, 0.2, 0.3])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _ovr_macro_auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean([roc_auc_score(y == c, p[:, c]) for c in range(p.shape[1])]))


def _brute_force_ovr(y: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> tuple[float, float]:
    """Macro OvR AUC difference and its DeLong variance by pairwise comparisons."""
    n, k = pa.shape
    comp = np.zeros(n)
    diff = 0.0
    for c in range(k):
        pos, neg = np.flatnonzero(y == c), np.flatnonzero(y != c)
        for m, p in ((1.0, pa), (-1.0, pb)):
            s = p[:, c]
            psi = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
            diff += m * psi.mean() / k
            comp[pos] += m * psi.mean(axis=1) / len(pos) / k
            comp[neg] += m * psi.mean(axis=0) / len(neg) / k
    var = sum(np.sum(y == c) * np.var(comp[y == c], ddof=1) for c in range(k))
    return diff, var


@pytest.mark.parametrize("seed", range(4))
def test_delong_ovr_matches_brute_force_and_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 90)
    pa = np.round(np.eye(4)[y] + rng.normal(0, 1, (90, 4)), 1)  # rounding makes ties
    pb = np.round(np.eye(4)[y] + rng.normal(0, 1.3, (90, 4)), 1)
    res = delong_ovr_test(y, pa, pb)
    diff, var = _brute_force_ovr(y, pa, pb)
    assert res.auc_a == pytest.approx(_ovr_macro_auc(y, pa), rel=1e-12)
    assert res.auc_b == pytest.approx(_ovr_macro_auc(y, pb), rel=1e-12)
    soft = _softmax(pa)
    same = delong_ovr_test(y, soft, pb)
    assert same.auc_a == pytest.approx(roc_auc_score(y, soft, multi_class="ovr"), rel=1e-12)
    assert res.auc_a - res.auc_b == pytest.approx(diff, rel=1e-10)
    assert res.var_diff == pytest.approx(var, rel=1e-10)


def test_delong_ovr_with_two_classes_is_binary_delong() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 70)
    sa, sb = rng.random(70) + 0.4 * y, rng.random(70) + 0.2 * y
    res = delong_ovr_test(y, np.c_[1 - sa, sa], np.c_[1 - sb, sb])
    ref = delong_test(y, sa, sb)
    assert res.var_diff == pytest.approx(ref.var_diff, rel=1e-10)
    assert res.p_value == pytest.approx(ref.p_value, rel=1e-10)


def test_delong_ovr_variance_matches_simulated_spread_and_size() -> None:
    rng = np.random.default_rng(11)
    y = np.repeat([0, 1, 2], 60)
    stats, variances, p = [], [], []
    for _ in range(400):
        # Correlated models with the same noise level: equal expected macro AUC (the null).
        noise_a, noise_b = rng.normal(0, 1.2, (2, 180, 3))
        pa = np.eye(3)[y] + noise_a
        pb = np.eye(3)[y] + 0.6 * noise_a + 0.8 * noise_b
        res = delong_ovr_test(y, pa, pb)
        stats.append(res.auc_a - res.auc_b)
        variances.append(res.var_diff)
        p.append(res.p_value)
    ratio = np.mean(variances) / np.var(stats, ddof=1)
    assert 0.8 < ratio < 1.25
    assert np.mean(np.array(p) < 0.05) < 0.09


def test_delong_ovr_rejects_a_class_with_one_row() -> None:
    with pytest.raises(ValueError, match="at least two rows"):
        delong_ovr_test([0, 0, 1, 2, 2], np.eye(3)[[0, 0, 1, 2, 2]], np.eye(3)[[0, 0, 1, 2, 2]])
