"""Paired comparisons of two models scored on the same rows.

Three tests, each using the pairing (the same rows seen by both models), which is what
makes them far more sensitive than comparing two independent intervals:

- :func:`mcnemar_test`: McNemar's exact test on the rows one model gets right and the
  other wrong (a two-sided binomial test of the discordant counts against 1/2).
- :func:`paired_bootstrap`: the difference of any metric of ``polyclass.metrics``,
  with a percentile interval from resampling the rows jointly and the p-value that
  inverts that interval (the interval excludes zero exactly when ``p < 1 - level``).
- :func:`delong_ovr_test`: DeLong's test for the macro one-vs-rest ROC AUC of
  probabilities over K classes; with two classes it is DeLong's binary test.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr
from scipy.stats import binom

from ._bootstrap import _confusion_fn, _make_evaluator, _resolve
from ._encode import encode, unique_labels
from ._intervals import DelongTest, _placements
from ._resampling import _Atoms, _chunks, _draw_counts, _LoopEvaluator, _row_atoms
from ._validation import (
    check_consistent_length,
    check_finite_scores,
    check_real,
    column_or_1d,
)

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class McNemarTest:
    """Result of :func:`mcnemar_test`.

    Attributes
    ----------
    only_a_correct, only_b_correct : int
        Rows model A classifies correctly and B does not, and the reverse.
    n_samples : int
        Rows compared.
    p_value : float
        Two-sided exact p-value (1.0 when no row is discordant).
    """

    only_a_correct: int
    only_b_correct: int
    n_samples: int
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference:
    """Result of :func:`paired_bootstrap`: ``score_a - score_b`` with its interval.

    Attributes
    ----------
    score_a, score_b : float
        The metric of each model on all rows.
    difference : float
        ``score_a - score_b``.
    low, high : float
        Percentile interval of the difference at ``level``.
    level : float
        Confidence level.
    p_value : float
        Two-sided bootstrap p-value of "no difference": twice the smaller share of
        resamples on either side of zero, so ``p < 1 - level`` exactly when the
        interval excludes zero (up to the discreteness of the resamples).
    n_resamples : int
        Resamples on which both metrics are defined.
    standard_error : float
        Standard deviation of the bootstrap differences.
    """

    score_a: float
    score_b: float
    difference: float
    low: float
    high: float
    level: float
    p_value: float
    n_resamples: int
    standard_error: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def mcnemar_test(y_true: ArrayLike, y_pred_a: ArrayLike, y_pred_b: ArrayLike) -> McNemarTest:
    """McNemar's exact test that two classifiers have the same error rate on paired rows.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred_a, y_pred_b : array-like of shape (n_samples,)
        Labels predicted by model A and model B for the same rows.

    Returns
    -------
    McNemarTest
        Discordant counts and the two-sided exact p-value
        ``min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)])``.

    Examples
    --------
    >>> from polyclass.metrics import mcnemar_test
    >>> y = [0, 1, 1, 0, 1, 0, 1, 1, 0, 1]
    >>> a = [0, 1, 1, 0, 1, 0, 1, 1, 0, 1]
    >>> b = [1, 0, 1, 0, 0, 1, 0, 1, 1, 0]
    >>> res = mcnemar_test(y, a, b)
    >>> res.only_a_correct, res.only_b_correct, round(res.p_value, 4)
    (7, 0, 0.0156)
    """
    func = "mcnemar_test"
    yt = column_or_1d(func, "y_true", y_true)
    pa = column_or_1d(func, "y_pred_a", y_pred_a)
    pb = column_or_1d(func, "y_pred_b", y_pred_b)
    n = check_consistent_length(func, y_true=yt, y_pred_a=pa, y_pred_b=pb)
    right_a, right_b = pa == yt, pb == yt
    b = int(np.count_nonzero(right_a & ~right_b))
    c = int(np.count_nonzero(right_b & ~right_a))
    p = 1.0 if b + c == 0 else min(1.0, 2.0 * float(binom.cdf(min(b, c), b + c, 0.5)))
    return McNemarTest(b, c, n, p)


def paired_bootstrap(
    metric: Any,
    y_true: ArrayLike,
    y_a: ArrayLike,
    y_b: ArrayLike,
    *,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
    **metric_kwargs: Any,
) -> PairedDifference:
    """Paired bootstrap of the difference of a metric between two models on the same rows.

    Each resample draws rows with replacement once and scores both models on those
    same rows, so the spread of the difference reflects only the disagreement of the
    models, not the sampling of the rows each sees.

    Parameters
    ----------
    metric : str or callable
        A metric of ``polyclass.metrics`` by name or function, or any callable
        ``metric(y_true, y, **kwargs) -> float`` (slower: called per resample).
    y_true : array-like of shape (n_samples,)
        True labels.
    y_a, y_b : array-like of shape (n_samples,) or (n_samples, n_classes)
        Predicted labels (label metrics) or scores (score metrics) of model A and B.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence_level : float, default=0.95
        Two-sided level of the percentile interval.
    random_state : int, numpy Generator or None, default=None
        Seed, for reproducible results.
    **metric_kwargs
        Passed to the metric (e.g. ``average='macro'``).

    Returns
    -------
    PairedDifference
        Both scores, ``difference = score_a - score_b``, its interval and p-value.

    Examples
    --------
    >>> from polyclass.metrics import paired_bootstrap
    >>> y = [0, 1, 2, 0, 1, 2, 0, 1, 2, 1] * 10
    >>> a = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0] * 10
    >>> b = [0, 1, 1, 0, 2, 2, 0, 1, 2, 0] * 10
    >>> d = paired_bootstrap("accuracy_score", y, a, b, random_state=0)
    >>> round(d.difference, 2), d.low > 0, d.p_value < 0.05
    (0.2, True, True)
    """
    func = "paired_bootstrap"
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(
            f"The 'n_resamples' parameter of {func} must be an int >= 1. Got {n_resamples!r}."
        )
    level = check_real(func, "confidence_level", confidence_level, low=0, high=1, closed="neither")
    name, fn = _resolve(metric)
    yt = column_or_1d(func, "y_true", y_true)
    ya, yb = _squeeze(np.asarray(y_a)), _squeeze(np.asarray(y_b))
    n = check_consistent_length(func, y_true=yt, y_a=ya, y_b=yb)
    if ya.shape != yb.shape:
        raise ValueError(
            f"{func}: y_a has shape {ya.shape} and y_b {yb.shape}; pass the two models' "
            "predictions (or scores) in the same form."
        )
    score_a = float(fn(yt, ya, **metric_kwargs))
    score_b = float(fn(yt, yb, **metric_kwargs))
    diffs = _resampled_differences(
        name, fn, yt, ya, yb, n, n_resamples, random_state, metric_kwargs
    )
    finite = np.isfinite(diffs)
    if not finite.any():
        raise ValueError(
            f"{func}: the metric is undefined on every resample; check the metric's arguments."
        )
    if not finite.all():
        warnings.warn(
            f"{func}: the metric is undefined on {int((~finite).sum())} of {len(diffs)} "
            "resamples (e.g. a class missing from them); they are left out.",
            UserWarning,
            stacklevel=2,
        )
        diffs = diffs[finite]
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    below, above = np.count_nonzero(diffs <= 0), np.count_nonzero(diffs >= 0)
    p = min(1.0, 2.0 * min(below, above) / len(diffs))
    se = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
    return PairedDifference(
        score_a, score_b, score_a - score_b, float(low), float(high), level, p, len(diffs), se
    )


def _squeeze(y: NDArray[Any]) -> NDArray[Any]:
    return y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y


def _resampled_differences(
    name: str | None,
    fn: Any,
    yt: NDArray[Any],
    ya: NDArray[Any],
    yb: NDArray[Any],
    n: int,
    n_resamples: int,
    random_state: int | np.random.Generator | None,
    kwargs: dict[str, Any],
) -> F64:
    """``metric(a) - metric(b)`` on ``n_resamples`` joint resamples of the rows."""
    rng = np.random.default_rng(random_state)
    strata = np.zeros(n, dtype=np.intp)
    if name is not None and ya.ndim == 1:
        classes = unique_labels(yt, ya, yb)
        cfn = _confusion_fn(name, classes, kwargs)
        if cfn is not None:
            return _label_differences(cfn, yt, ya, yb, classes, n_resamples, rng)
    eval_a = _make_evaluator(name, fn, yt, ya, None, strata, kwargs)
    eval_b = _make_evaluator(name, fn, yt, yb, None, strata, kwargs)
    if not (eval_a.atoms.by_row and eval_b.atoms.by_row):
        eval_a = _LoopEvaluator(fn, yt, ya, None, strata, kwargs)
        eval_b = _LoopEvaluator(fn, yt, yb, None, strata, kwargs)
    atoms = _row_atoms(strata)
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for size in _chunks(n_resamples, n):
            counts = _draw_counts(atoms, rng, size)
            out.append(eval_a.batch(counts) - eval_b.batch(counts))
    return np.concatenate(out)


def _label_differences(
    cfn: Any,
    yt: NDArray[Any],
    ya: NDArray[Any],
    yb: NDArray[Any],
    classes: NDArray[Any],
    n_resamples: int,
    rng: np.random.Generator,
) -> F64:
    """Label metrics: rows with the same (true, a, b) are interchangeable, so resample those."""
    func = "paired_bootstrap"
    k = len(classes)
    t = encode(func, "y_true", yt, classes)
    a = encode(func, "y_a", ya, classes)
    b = encode(func, "y_b", yb, classes)
    joint = (t * k + a) * k + b
    key, first, mult = np.unique(joint, return_index=True, return_counts=True)
    atoms = _Atoms(
        first.astype(np.intp), np.zeros(len(key), dtype=np.intp), mult.astype(np.int64), False
    )
    cell_a = t[first] * k + a[first]
    cell_b = t[first] * k + b[first]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size in _chunks(n_resamples, len(key)):
            counts = _draw_counts(atoms, rng, size)
            va = np.asarray(cfn(_matrices(cell_a, k, counts)), dtype=np.float64)
            vb = np.asarray(cfn(_matrices(cell_b, k, counts)), dtype=np.float64)
            out.append(va - vb)
    return np.concatenate(out)


def _matrices(cell: NDArray[np.intp], k: int, counts: NDArray[np.int64]) -> NDArray[np.int64]:
    size, kk = counts.shape[0], k * k
    codes = (np.arange(size, dtype=np.intp)[:, None] * kk + cell[None, :]).ravel()
    flat = np.bincount(codes, weights=counts.ravel(), minlength=size * kk)
    return np.rint(flat).astype(np.int64).reshape(size, k, k)


def delong_ovr_test(
    y_true: ArrayLike,
    proba_a: ArrayLike,
    proba_b: ArrayLike,
    *,
    labels: ArrayLike | None = None,
) -> DelongTest:
    """DeLong's test that two models have the same macro one-vs-rest ROC AUC.

    The statistic is ``T = mean_c AUC_c(a) - mean_c AUC_c(b)``, where ``AUC_c`` is the
    AUC of class ``c`` against the rest from column ``c`` of the probabilities (the
    value of ``roc_auc_score(y, proba, multi_class='ovr', average='macro')``). Its
    variance follows DeLong: every row has a structural component, its placement in
    each class's comparison (for class ``c`` a row of class ``c`` contributes its
    share of other rows scored below it over ``n_c``; any other row its share of
    class-``c`` rows scored above it over ``n - n_c``), averaged over the classes and
    differenced between the models. Rows of one true class are treated as one sample,
    so ``var(T) = sum_k n_k * var_k(component)`` with the variance within class ``k``
    (``ddof=1``). With two classes and ``proba[:, 0] = 1 - proba[:, 1]`` this is
    exactly DeLong's binary variance.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba_a, proba_b : array-like of shape (n_samples, n_classes)
        Probabilities (or any scores) of model A and B, columns in the order of
        ``labels``.
    labels : array-like of shape (n_classes,), default=None
        The classes of the columns; default the sorted labels of ``y_true``.

    Returns
    -------
    DelongTest
        ``(z, p_value, auc_a, auc_b, var_diff)`` for the macro AUCs.

    Examples
    --------
    >>> import numpy as np
    >>> from polyclass.metrics import delong_ovr_test
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 40)
    >>> good = np.eye(3)[y] + rng.normal(0, 0.6, (120, 3))
    >>> bad = np.eye(3)[y] + rng.normal(0, 1.5, (120, 3))
    >>> res = delong_ovr_test(y, good, bad)
    >>> res.auc_a > res.auc_b, res.p_value < 0.01
    (True, True)
    """
    func = "delong_ovr_test"
    yt = column_or_1d(func, "y_true", y_true)
    classes = unique_labels(yt) if labels is None else np.asarray(labels)
    pa = check_finite_scores(func, "proba_a", np.asarray(proba_a, dtype=np.float64))
    pb = check_finite_scores(func, "proba_b", np.asarray(proba_b, dtype=np.float64))
    for name, p in (("proba_a", pa), ("proba_b", pb)):
        if p.ndim != 2 or p.shape[1] != len(classes):
            raise ValueError(
                f"{func}: {name} has shape {p.shape} but {len(classes)} classes were given; "
                "pass one column per class, in the order of labels."
            )
    n = check_consistent_length(func, y_true=yt, proba_a=pa, proba_b=pb)
    codes = encode(func, "y_true", yt, classes)
    sizes = np.bincount(codes, minlength=len(classes))
    if sizes.min() < 2:
        raise ValueError(
            f"{func}: every class needs at least two rows (counts: "
            f"{dict(zip(classes.tolist(), sizes.tolist(), strict=True))}); collect more rows of "
            "the rarest class or leave it out with labels=."
        )
    component, auc_a, auc_b = _components(codes, pa, pb, sizes, n)
    var = sum(sizes[k] * float(np.var(component[codes == k], ddof=1)) for k in range(len(classes)))
    diff = auc_a - auc_b
    if var <= 1e-24:
        z = 0.0 if abs(diff) <= 1e-12 else float(np.sign(diff) * np.inf)
    else:
        z = diff / float(np.sqrt(var))
    return DelongTest(z, float(2.0 * ndtr(-abs(z))), auc_a, auc_b, float(var))


def _components(
    codes: NDArray[np.intp], pa: F64, pb: F64, sizes: NDArray[np.int64], n: int
) -> tuple[F64, float, float]:
    """Per-row structural component of ``T`` and the two macro AUCs."""
    k = len(sizes)
    component = np.zeros(n)
    aucs = np.zeros((2, k))
    ones = np.ones(n)
    for c in range(k):
        pos = codes == c
        for m, proba in enumerate((pa, pb)):
            v10, v01 = _placements(pos, proba[:, c], ones)
            aucs[m, c] = v10[pos].mean()
            share = np.where(pos, v10 / sizes[c], v01 / (n - sizes[c]))
            component += share if m == 0 else -share
    return component / k, float(aucs[0].mean()), float(aucs[1].mean())
