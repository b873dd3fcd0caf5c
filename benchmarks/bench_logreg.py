"""polyclass logistic regression against scikit-learn's, side by side in one run.

Usage: ``python benchmarks/bench_logreg.py [--quick] [--only SUBSTRING] [--repeat R]``.
``--quick`` shrinks every problem about 30-fold so the script finishes in seconds.
Every fit is timed ``R`` times (default 3), ours and the baseline's alternating, and
the fastest of each is kept (as ``timeit`` does): on this shared machine one slow
repetition, on either side, otherwise decides the ratio.

For every problem and every strategy it prints the fit time of each library, the
speed-up, the objective each fit reached (scikit-learn's objective, evaluated on both
fitted models by the same code), and the peak memory of our fit beyond X, as a multiple
of X's size (measured with ``tracemalloc``, which NumPy reports its buffers to).

A strategy is one entry of ``STRATEGIES``: how to build ours, how to build the
baseline, and how to compute the objective a fitted model reached.

BLAS threads: polyclass's solvers run BLAS on one thread (their products are
memory-bound, and BLAS threads spinning on a shared machine cost up to 10x), so the
baseline is timed under one BLAS thread too. With its default threads on this busy
2-core machine scikit-learn was 10-30x slower, which would flatter the ratio. Both wall
time and CPU time are printed; CPU time is the steadier one on a loaded machine.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.multiclass import OneVsOneClassifier as SkOneVsOne
from sklearn.multiclass import OneVsRestClassifier as SkOneVsRest
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from polyclass import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier

# --- objectives -----------------------------------------------------------------------


def logistic_objective(
    coef: np.ndarray, intercept: np.ndarray, X: Any, y01_or_codes: np.ndarray, C: float = 1.0
) -> float:
    """scikit-learn's objective ``C * sum(loss) + ||coef||^2 / 2`` (binary if one row)."""
    coef = np.asarray(coef, dtype=np.float64)
    Z = np.asarray(X @ coef.T, dtype=np.float64) + np.asarray(intercept, dtype=np.float64)
    if coef.shape[0] == 1:
        z = Z[:, 0]
        data = float(np.sum(np.logaddexp(0.0, z) - y01_or_codes * z))
    else:
        m = Z.max(axis=1)
        lse = np.log(np.exp(Z - m[:, None]).sum(axis=1)) + m
        data = float(np.sum(lse - Z[np.arange(Z.shape[0]), y01_or_codes]))
    return C * data + 0.5 * float(np.sum(coef * coef))


def multinomial_objective(model: Any, X: Any, y: np.ndarray) -> float:
    codes = np.searchsorted(model.classes_, y)
    target = codes if len(model.classes_) > 2 else codes.astype(np.float64)
    return logistic_objective(model.coef_, model.intercept_, X, target, float(model.C))


def wrapper_objective(model: Any, X: Any, y: np.ndarray) -> float:
    """Sum of the binary sub-problems' objectives of a one-vs-rest or one-vs-one wrapper."""
    codes = np.searchsorted(model.classes_, y)
    k = len(model.classes_)
    if isinstance(model, OneVsRestClassifier | SkOneVsRest):
        problems = [(slice(None), codes == c) for c in ([1] if k == 2 else range(k))]
    else:
        problems = []
        for i, j in zip(*np.triu_indices(k, 1), strict=True):
            rows = np.flatnonzero((codes == i) | (codes == j))
            problems.append((rows, codes[rows] == j))
    return sum(
        logistic_objective(e.coef_, e.intercept_, X[rows], y01.astype(np.float64), float(e.C))
        for e, (rows, y01) in zip(model.estimators_, problems, strict=True)
    )


# --- strategies: adding one is adding one entry ---------------------------------------


@dataclass
class Strategy:
    name: str
    ours: Callable[[], Any]
    baseline: Callable[[], Any]
    objective: Callable[[Any, Any, np.ndarray], float]
    target: float = 3.0


#: Peak memory of our fit beyond X, as a multiple of X's size, at most.
PEAK_TARGET = 2.0


STRATEGIES: list[Strategy] = [
    Strategy(
        "multinomial",
        ours=lambda: LogisticRegression(),
        baseline=lambda: SkLogisticRegression(),
        objective=multinomial_objective,
    ),
    Strategy(
        "one-vs-rest",
        ours=lambda: OneVsRestClassifier(LogisticRegression()),
        baseline=lambda: SkOneVsRest(SkLogisticRegression()),
        objective=wrapper_objective,
    ),
    Strategy(
        "one-vs-rest, ours n_jobs=-1",
        ours=lambda: OneVsRestClassifier(LogisticRegression(), n_jobs=-1),
        baseline=lambda: SkOneVsRest(SkLogisticRegression()),
        objective=wrapper_objective,
    ),
    Strategy(
        "one-vs-one",
        ours=lambda: OneVsOneClassifier(LogisticRegression()),
        baseline=lambda: SkOneVsOne(SkLogisticRegression()),
        objective=wrapper_objective,
    ),
    Strategy(
        "one-vs-one, ours n_jobs=-1",
        ours=lambda: OneVsOneClassifier(LogisticRegression(), n_jobs=-1),
        baseline=lambda: SkOneVsOne(SkLogisticRegression()),
        objective=wrapper_objective,
    ),
]

# --- problems ---------------------------------------------------------------------------


@dataclass
class Problem:
    name: str
    make: Callable[[bool], tuple[Any, np.ndarray]]


def dense(standardise: bool) -> Callable[[bool], tuple[Any, np.ndarray]]:
    def make(quick: bool) -> tuple[Any, np.ndarray]:
        X, y = make_classification(
            n_samples=10_000 if quick else 300_000,
            n_features=50,
            n_informative=30,
            n_classes=7,
            n_clusters_per_class=1,
            random_state=0,
        )
        if standardise:
            X = StandardScaler().fit_transform(X)
        return np.ascontiguousarray(X), y

    return make


def sparse_text(quick: bool) -> tuple[Any, np.ndarray]:
    """Bag-of-words-like CSR: Zipf-distributed columns, ~0.5% non-zeros, tf-idf-ish."""
    rng = np.random.default_rng(0)
    n, p, k = (3_000, 5_000, 5) if quick else (100_000, 20_000, 5)
    nnz_row = rng.poisson(0.005 * p, size=n) + 1
    col_p = 1.0 / (np.arange(p) + 20.0)
    col_p /= col_p.sum()
    cols = rng.choice(p, size=int(nnz_row.sum()), p=col_p)
    rows = np.repeat(np.arange(n), nnz_row)
    X = sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(n, p))
    X.sum_duplicates()
    X.data = np.log1p(X.data) * np.log(n / (1.0 + np.bincount(X.indices, minlength=p)))[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X)
    W = rng.normal(size=(k, p)) * (rng.random((k, p)) < 0.05) * 8.0
    scores = np.asarray(X @ W.T) + rng.gumbel(size=(n, k))
    return X, np.argmax(scores, axis=1)


PROBLEMS = [
    Problem("dense 300k x 50, 7 classes, standardised", dense(True)),
    Problem("dense 300k x 50, 7 classes, raw (ill-conditioned)", dense(False)),
    Problem("sparse 100k x 20k CSR (~0.5% nnz), 5 classes", sparse_text),
]

# --- running ----------------------------------------------------------------------------


def nbytes(X: Any) -> int:
    if sp.issparse(X):
        return int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)
    return int(X.nbytes)


def timed_fit(make: Callable[[], Any], X: Any, y: np.ndarray) -> tuple[Any, float, float, bool]:
    """Fitted model, wall seconds, CPU seconds, whether it warned ConvergenceWarning."""
    gc.collect()
    with (
        warnings.catch_warnings(record=True) as caught,
        threadpool_limits(limits=1, user_api="blas"),
    ):
        warnings.simplefilter("always", ConvergenceWarning)
        t0, c0 = time.perf_counter(), time.process_time()
        model = make().fit(X, y)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, elapsed, cpu, warned


def peak_ratio(make: Callable[[], Any], X: Any, y: np.ndarray) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            make().fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / nbytes(X)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    only = argv[argv.index("--only") + 1] if "--only" in argv else ""
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    print(
        f"{'problem / strategy':<62} {'ours s':>7} {'sk s':>7} {'speed-up':>8} "
        f"{'cpu x':>6} {'objective ours':>16} {'objective sk':>16} {'peak/X':>6}"
    )
    for problem in PROBLEMS:
        X, y = problem.make(quick)
        for strategy in STRATEGIES:
            label = f"{problem.name} / {strategy.name}"
            if only and only not in label:
                continue
            t_ours = c_ours = t_base = c_base = float("inf")
            for _ in range(repeat):
                ours, t, c, w_ours = timed_fit(strategy.ours, X, y)
                t_ours, c_ours = min(t_ours, t), min(c_ours, c)
                base, t, c, w_base = timed_fit(strategy.baseline, X, y)
                t_base, c_base = min(t_base, t), min(c_base, c)
            f_ours = strategy.objective(ours, X, y)
            f_base = strategy.objective(base, X, y)
            peak = peak_ratio(strategy.ours, X, y)
            speed = t_base / t_ours
            met = speed >= strategy.target and f_ours <= f_base and peak <= PEAK_TARGET
            flag = "ok" if met else "MISS"
            notes = (" (ours did not converge)" if w_ours else "") + (
                " (sk did not converge)" if w_base else ""
            )
            print(
                f"{label:<62} {t_ours:7.2f} {t_base:7.2f} {speed:7.1f}x "
                f"{c_base / c_ours:5.1f}x {f_ours:16.6f} {f_base:16.6f} {peak:5.2f}x "
                f"{flag}{notes}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
