"""Uncertainty tools against the plain way of doing the same thing, in one run.

- ``bootstrap_ci`` (vectorized) against a Python loop over the same number of resamples
  that calls scikit-learn's metric on each resample;
- DeLong's variance by midranks, ``O(n log n)``, against the direct ``O(m n)``
  placement-value computation.

Usage: ``python benchmarks/bench_uncertainty.py [--quick]``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm

sys.path.insert(0, str(Path(__file__).parent))

from _harness import Case, run_all
from polyclass.metrics import bootstrap_ci, delong_test, roc_auc_ci


def loop_bootstrap(
    metric: Any, y: np.ndarray, p: np.ndarray, n_resamples: int, seed: int, **kw: Any
) -> tuple[float, float]:
    """The baseline: draw indices, call the metric, B times; percentile interval."""
    rng = np.random.default_rng(seed)
    n = len(y)
    values = np.empty(n_resamples)
    w = kw.pop("sample_weight", None)
    for b in range(n_resamples):
        idx = rng.integers(0, n, n)
        extra = {} if w is None else {"sample_weight": w[idx]}
        values[b] = metric(y[idx], p[idx], **extra, **kw)
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def naive_delong(y: np.ndarray, scores: list[np.ndarray]) -> np.ndarray:
    """O(m n) placement values (DeLong et al. 1988): AUCs and covariance."""
    pos = y == 1
    v10, v01 = [], []
    for s in scores:
        x, z = s[pos], s[~pos]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    return np.atleast_2d(np.cov(np.array(v10)) / pos.sum() + np.cov(np.array(v01)) / (~pos).sum())


def cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(0)
    n_lab = 10_000 if quick else 100_000
    b_lab = 50 if quick else 200
    k = 5
    y = rng.integers(0, k, n_lab)
    p = np.where(rng.random(n_lab) < 0.7, y, rng.integers(0, k, n_lab))
    w = rng.uniform(0.5, 2.0, n_lab)
    lab_bytes = y.nbytes + p.nbytes

    n_sc = 2_000 if quick else 10_000
    b_sc = 100 if quick else 500
    yb = (rng.random(n_sc) < 0.3).astype(int)
    s = np.round(rng.normal(size=n_sc) + yb, 3)
    s2 = np.round(0.7 * s + rng.normal(size=n_sc), 3)
    sc_bytes = yb.nbytes + s.nbytes

    n_dl = 4_000 if quick else 20_000
    yd = (rng.random(n_dl) < 0.4).astype(int)
    sd = rng.normal(size=n_dl) + yd
    sd2 = 0.5 * sd + rng.normal(size=n_dl)

    return [
        Case(
            f"bootstrap f1 macro n={n_lab:.0e} K={k} B={b_lab}",
            lambda: bootstrap_ci(
                "f1_score", y, p, average="macro", n_resamples=b_lab, stratify=False, random_state=0
            ),
            lambda: loop_bootstrap(skm.f1_score, y, p, b_lab, 0, average="macro"),
            lab_bytes,
            repeat=1,
        ),
        Case(
            f"bootstrap BCa f1 macro n={n_lab:.0e} B={b_lab}",
            lambda: bootstrap_ci(
                "f1_score", y, p, average="macro", n_resamples=b_lab, method="bca", random_state=0
            ),
            lambda: loop_bootstrap(skm.f1_score, y, p, b_lab, 0, average="macro"),
            lab_bytes,
            repeat=1,
        ),
        Case(
            f"bootstrap weighted accuracy n={n_lab:.0e} B={b_lab}",
            lambda: bootstrap_ci(
                "accuracy_score",
                y,
                p,
                sample_weight=w,
                n_resamples=b_lab,
                stratify=False,
                random_state=0,
            ),
            lambda: loop_bootstrap(skm.accuracy_score, y, p, b_lab, 0, sample_weight=w),
            lab_bytes + w.nbytes,
            repeat=1,
        ),
        Case(
            f"bootstrap roc_auc n={n_sc:.0e} B={b_sc}",
            lambda: bootstrap_ci(
                "roc_auc_score", yb, s, n_resamples=b_sc, stratify=False, random_state=0
            ),
            lambda: loop_bootstrap(skm.roc_auc_score, yb, s, b_sc, 0),
            sc_bytes,
            repeat=1,
        ),
        Case(
            f"bootstrap BCa average_precision n={n_sc:.0e} B={b_sc}",
            lambda: bootstrap_ci(
                "average_precision_score", yb, s, n_resamples=b_sc, method="bca", random_state=0
            ),
            lambda: loop_bootstrap(skm.average_precision_score, yb, s, b_sc, 0),
            sc_bytes,
            repeat=1,
        ),
        Case(
            f"roc_auc_ci (DeLong) n={n_dl:.0e}",
            lambda: roc_auc_ci(yd, sd),
            lambda: naive_delong(yd, [sd]),
            yd.nbytes + sd.nbytes,
        ),
        Case(
            f"delong_test n={n_dl:.0e}",
            lambda: delong_test(yd, sd, sd2),
            lambda: naive_delong(yd, [sd, sd2]),
            yd.nbytes + sd.nbytes + sd2.nbytes,
        ),
        Case(
            f"delong_test n={n_sc:.0e} (ties)",
            lambda: delong_test(yb, s, s2),
            lambda: naive_delong(yb, [s, s2]),
            sc_bytes + s2.nbytes,
        ),
    ]


def main(argv: list[str]) -> None:
    run_all("uncertainty: polyclass vs loop / naive baselines", cases("--quick" in argv))


if __name__ == "__main__":
    main(sys.argv[1:])
