"""Bootstrap confidence intervals for any metric, vectorized over the resamples.

A resample draws ``n`` rows with replacement from all the rows (``stratify=False``,
the default), so the class prevalence varies between resamples as it does between
samples of the population; ``stratify=True`` draws within each true class instead and
keeps the class counts fixed, which understates the variance of any metric that
depends on the prevalence (it gave a constant classifier a zero-width interval).
The counting of resamples (atoms, multinomial draws) lives in ``_resampling``.

Resamples are evaluated in chunks, never one by one:

- label metrics: one ``np.bincount`` over (resample, true, predicted) codes gives a
  batch of confusion matrices ``(B, K, K)``, and one call of the batched metric
  (``CONFUSION_METRICS``) evaluates them all;
- ``roc_auc_score`` and ``average_precision_score`` (binary, or multiclass
  one-vs-rest): the scores are sorted once per class; each resample is a row of
  weights in that order (``_score_resampling``);
- any other callable is called once per resample (documented fallback).

When every resample gives the same value (a perfect classifier, say) the percentile
interval would have zero width although the quantity can vary; ``_boundary`` then
gives an interval built from Wilson intervals of the proportions behind the metric.

BCa needs the jackknife (leave-one-out) values. They are computed without n calls:
for a confusion metric removing a row changes one cell, so there are at most one
value per distinct (cell, weight); for ROC AUC the leave-one-out values follow from
DeLong's placement values.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

from ._boundary import confusion_rule
from ._decision import check_cost_matrix, confusion_expected_cost
from ._encode import encode, unique_labels
from ._intervals import ConfidenceInterval, binary_target
from ._resampling import (
    F64,
    _chunks,
    _ConfusionEvaluator,
    _draw_counts,
    _Evaluator,
    _LoopEvaluator,
)
from ._score_resampling import _OneVsRestEvaluator, _ScoreEvaluator
from ._validation import (
    check_choice,
    check_consistent_length,
    check_real,
    check_sample_weight,
    column_or_1d,
)

# Score metrics evaluated in batch, with the keyword arguments that path understands.
_SCORE_METRICS = {
    "roc_auc_score": {"max_fpr", "average", "multi_class", "labels"},
    "average_precision_score": {"pos_label", "average"},
}


# --------------------------------------------------------------------------- intervals


def _acceleration(values: F64, mult: F64) -> float:
    """BCa acceleration from jackknife values with multiplicities (Efron & Tibshirani 14.15)."""
    mean = float(values @ mult / mult.sum())
    d = mean - values
    den = float((mult * d * d).sum())
    if den == 0:
        return 0.0
    return float((mult * d**3).sum() / (6.0 * den**1.5))


def _interval(
    theta_b: F64, theta_hat: float, level: float, method: str, accel: float | None
) -> tuple[float, float, str]:
    alpha = (1.0 - level) / 2.0
    if method == "bca" and accel is not None:
        b = len(theta_b)
        share = np.count_nonzero(theta_b < theta_hat) + np.count_nonzero(theta_b <= theta_hat)
        z0 = float(ndtri(share / (2.0 * b)))
        if np.isfinite(z0):
            z_a = float(ndtri(alpha))
            n1, n2 = z0 + z_a, z0 - z_a
            q1 = float(ndtr(z0 + n1 / (1.0 - accel * n1)))
            q2 = float(ndtr(z0 + n2 / (1.0 - accel * n2)))
            low, high = np.quantile(theta_b, [q1, q2])
            return float(low), float(high), "bca"
        if np.ptp(theta_b) > 0:
            warnings.warn(
                "bootstrap_ci: the BCa bias correction is infinite (the estimate lies outside "
                "the bootstrap distribution); returning the percentile interval instead.",
                UserWarning,
                stacklevel=3,
            )
        method = "percentile"
    low, high = np.quantile(theta_b, [alpha, 1.0 - alpha])
    return float(low), float(high), method


# --------------------------------------------------------------------------- public API


def _metrics_module() -> Any:
    return importlib.import_module("polyclass.metrics")


def _confusion_registry() -> dict[str, Callable[..., Any]]:
    from ._registry import CONFUSION_METRICS

    return CONFUSION_METRICS


def _resolve(metric: Any) -> tuple[str | None, Callable[..., Any]]:
    """``(public name or None, function)`` for a metric name or function."""
    module = _metrics_module()
    if isinstance(metric, str):
        found = getattr(module, metric, None) if metric in module.__all__ else None
        if found is None or not callable(found):
            raise ValueError(
                f"bootstrap_ci: metric={metric!r} is not a metric of polyclass.metrics. Pass "
                "a metric name such as 'f1_score' or 'roc_auc_score', or a callable "
                "metric(y_true, y_pred, **kwargs) -> float."
            )
        resolved: Callable[..., Any] = found
        return metric, resolved
    if not callable(metric):
        raise ValueError(
            f"bootstrap_ci: metric must be a metric name or a callable, got "
            f"{type(metric).__name__}."
        )
    fn: Callable[..., Any] = metric
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and name in module.__all__ and getattr(module, name) is fn:
        return name, fn
    return None, fn


def _confusion_fn(
    name: str, classes: NDArray[Any], kwargs: dict[str, Any]
) -> Callable[[NDArray[Any]], NDArray[Any]] | None:
    if name == "expected_cost":
        if set(kwargs) - {"cost_matrix", "labels"}:
            return None
        labels = kwargs.get("labels")
        if labels is None:
            cost = check_cost_matrix("bootstrap_ci", kwargs["cost_matrix"], len(classes))
        else:
            lab = np.asarray(labels)
            full = check_cost_matrix("bootstrap_ci", kwargs["cost_matrix"], len(lab))
            # Rows/columns of the cost matrix for the classes of the confusion matrix.
            at = np.array([int(np.flatnonzero(lab == c)[0]) for c in classes], dtype=np.intp)
            cost = full[np.ix_(at, at)]
        return lambda cm: confusion_expected_cost(cm, cost)
    reg = _confusion_registry()
    fn = reg.get(name)
    if fn is None:
        return None
    return lambda cm: fn(cm, classes=classes, **kwargs)


def bootstrap_ci(
    metric: str | Callable[..., Any],
    y_true: ArrayLike,
    y_pred_or_score: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    method: str = "percentile",
    stratify: bool = False,
    random_state: int | np.random.Generator | None = None,
    **metric_kwargs: Any,
) -> ConfidenceInterval:
    """Bootstrap confidence interval of a metric, vectorized over the resamples.

    Parameters
    ----------
    metric : str or callable
        A metric of ``polyclass.metrics`` by name (``'f1_score'``) or as the function
        itself, or any callable ``metric(y_true, y_pred, **kwargs) -> float``.
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred_or_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Predicted labels for label metrics, scores or probabilities for score metrics.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights; each resampled row keeps its weight.
    n_resamples : int, default=2000
        Number of bootstrap resamples.
    confidence_level : float, default=0.95
        Two-sided confidence level in (0, 1).
    method : {'percentile', 'bca'}, default='percentile'
        Percentile interval, or bias-corrected and accelerated (BCa, Efron 1987), with
        the same definitions as ``scipy.stats.bootstrap``. When every resample gives
        the same value the result's ``method`` is ``'wilson'`` (see Notes).
    stratify : bool, default=False
        False draws rows from all the data, so the class prevalence varies between
        resamples as between samples of the population. True resamples within each
        class of ``y_true``, keeping its counts fixed: use it only when the class
        counts are fixed by design (the interval is otherwise too narrow).
    random_state : int, numpy Generator or None, default=None
        Seed of ``numpy.random.default_rng``, for reproducible intervals.
    **metric_kwargs
        Passed to the metric (e.g. ``average='macro'``, ``pos_label='yes'``).

    Returns
    -------
    ConfidenceInterval
        ``estimate`` (the metric on all the data), ``low``, ``high``, ``level``,
        ``method``, ``n_resamples`` and ``standard_error`` (standard deviation of the
        bootstrap distribution).

    Notes
    -----
    Label metrics (those with a batched confusion-matrix form, and
    :func:`expected_cost`) and binary ``roc_auc_score`` / ``average_precision_score``
    are evaluated in chunks of resamples with array operations. Each resample is
    evaluated as the public function would evaluate it: a class absent from a
    resample is left out of its averages, as scikit-learn does on such data (pass
    ``labels=`` to fix the classes). Any other metric
    or callable is called once per resample (and, for BCa, once per left-out row):
    correct but slow.

    Resamples whose metric is undefined (NaN, e.g. no positive in a resample for a
    binary ROC AUC) are left out, with a warning. Multiclass one-vs-rest ROC AUC and
    average precision (2-D scores) average over the classes present in each resample.

    When the percentile (or BCa) interval has zero width (a perfect classifier; a
    metric at 0 or 1; a value almost every resample repeats), the quantity may still
    vary in the population. Accuracy, balanced accuracy,
    precision, recall, F1 (binary, micro, macro, weighted), ROC AUC and average
    precision then get an interval from Wilson intervals of the proportions they are
    made of (``method='wilson'``); another metric keeps the zero-width interval,
    with a warning.

    Examples
    --------
    >>> from polyclass.metrics import bootstrap_ci
    >>> y_true = [0, 1, 1, 0, 1, 1, 0, 0, 1, 1] * 5
    >>> y_pred = [0, 1, 0, 0, 1, 1, 1, 0, 1, 1] * 5
    >>> ci = bootstrap_ci("accuracy_score", y_true, y_pred, random_state=0)
    >>> ci.estimate, ci.low < ci.estimate < ci.high
    (0.8, True)
    """
    func = "bootstrap_ci"
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise ValueError(
            f"The 'n_resamples' parameter of {func} must be an int >= 1. "
            f"Got {n_resamples!r} instead."
        )
    if n_resamples < 1:
        raise ValueError(
            f"The 'n_resamples' parameter of {func} must be an int >= 1. Got {n_resamples}."
        )
    level = check_real(func, "confidence_level", confidence_level, low=0, high=1, closed="neither")
    check_choice(func, "method", method, ("percentile", "bca"))
    if not isinstance(stratify, bool | np.bool_):
        raise ValueError(f"The 'stratify' parameter of {func} must be a bool. Got {stratify!r}.")
    name, fn = _resolve(metric)

    yt = column_or_1d(func, "y_true", y_true)
    yp = np.asarray(y_pred_or_score)
    if yp.ndim == 2 and yp.shape[1] == 1:
        yp = yp.ravel()
    n = check_consistent_length(func, y_true=yt, y_pred_or_score=yp)
    w = check_sample_weight(func, sample_weight, n)
    rng = np.random.default_rng(random_state)

    # The estimate is the public function on the whole data: it validates everything
    # and raises the metric's own errors.
    weight_kw = {} if w is None else {"sample_weight": w}
    raw = fn(yt, yp, **weight_kw, **metric_kwargs)
    if np.ndim(raw) != 0:
        raise ValueError(
            f"{func}: the metric returned an array of shape {np.shape(raw)}, not one number. "
            "Pass an averaging option (e.g. average='macro') or a callable that returns a "
            "single float."
        )
    estimate = float(raw)

    strata = (
        encode(func, "y_true", yt, unique_labels(yt)) if stratify else np.zeros(n, dtype=np.intp)
    )
    evaluator = _make_evaluator(name, fn, yt, yp, w, strata, metric_kwargs)
    if not isinstance(evaluator, _LoopEvaluator):
        # The batched route must reproduce the public function on the data itself.
        whole = evaluator.batch(evaluator.atoms.multiplicity[None, :])[0]
        if not np.isclose(whole, estimate, rtol=1e-9, atol=1e-12, equal_nan=True):
            evaluator = _LoopEvaluator(fn, yt, yp, w, np.asarray(strata), metric_kwargs)

    theta_b = _run(evaluator, int(n_resamples), rng)
    finite = np.isfinite(theta_b)
    if not finite.all():
        dropped = int((~finite).sum())
        if dropped == len(theta_b):
            raise ValueError(
                f"{func}: the metric is undefined on every resample. Check the metric's "
                "arguments, or use stratify=True if the class counts are fixed by design."
            )
        warnings.warn(
            f"{func}: the metric is undefined on {dropped} of {len(theta_b)} resamples (e.g. "
            "a class missing from them); they are left out, so the interval describes samples "
            "in which the metric is defined. A class this rare makes any interval fragile.",
            UserWarning,
            stacklevel=2,
        )
        theta_b = theta_b[finite]
    accel = None
    if method == "bca":
        try:
            jack, mult = evaluator.jackknife()
        except NotImplementedError:
            loop = _LoopEvaluator(fn, yt, yp, w, strata, metric_kwargs)
            jack, mult = loop.jackknife()
        if not np.isfinite(jack).all():
            raise ValueError(
                f"{func}: BCa needs the metric with any one sample left out, which is "
                "undefined here (a class has a single sample). Use method='percentile'."
            )
        accel = _acceleration(jack, mult)
    low, high, used = _interval(theta_b, estimate, level, method, accel)
    if low == high:
        label = name or getattr(fn, "__name__", None) or "the metric"
        low, high, used = _collapsed(evaluator, estimate, level, low, high, used, label)
    se = float(np.std(theta_b, ddof=1)) if len(theta_b) > 1 else 0.0
    return ConfidenceInterval(estimate, low, high, level, used, int(n_resamples), se)


def _collapsed(
    evaluator: _Evaluator,
    estimate: float,
    level: float,
    low: float,
    high: float,
    used: str,
    label: str,
) -> tuple[float, float, str]:
    """The interval when the resamples' quantiles coincide (see ``_boundary``)."""
    bounds = evaluator.boundary(level)
    if bounds is not None and np.isfinite(bounds).all():
        # The rule bounds the metric's population value; keep the estimate inside.
        return min(bounds[0], estimate), max(bounds[1], estimate), "wilson"
    warnings.warn(
        f"bootstrap_ci: every resample gives {label} = {low:.4g}, so its interval has zero "
        f"width, and {label} has no boundary-aware rule to widen it: read it as 'no "
        "interval'.",
        UserWarning,
        stacklevel=3,
    )
    return low, high, used


def _run(
    evaluator: _Evaluator,
    n_resamples: int,
    rng: np.random.Generator,
    record: list[NDArray[np.int64]] | None = None,
) -> F64:
    """Metric values on ``n_resamples`` resamples, drawn and evaluated chunk by chunk.

    ``record`` (tests) collects the count matrices of the chunks.
    """
    values = []
    for size in _chunks(n_resamples, len(evaluator.atoms.rows)):
        counts = _draw_counts(evaluator.atoms, rng, size)
        if record is not None:
            record.append(counts)
        values.append(evaluator.batch(counts))
    return np.concatenate(values)


def _make_evaluator(
    name: str | None,
    fn: Callable[..., Any],
    yt: NDArray[Any],
    yp: NDArray[Any],
    w: F64 | None,
    strata: NDArray[np.intp],
    kwargs: dict[str, Any],
) -> _Evaluator:
    func = "bootstrap_ci"
    if name is not None and name in _SCORE_METRICS and yp.ndim == 1:
        if set(kwargs) <= _SCORE_METRICS[name] and len(unique_labels(yt)) == 2:
            if name == "roc_auc_score":
                pos = binary_target(func, yt, None, default="greater")
            else:
                pos_label = kwargs.get("pos_label", 1)
                pos = np.asarray(yt == pos_label, dtype=bool)
            max_fpr = kwargs.get("max_fpr")
            return _ScoreEvaluator(
                name,
                pos,
                yp.astype(np.float64),
                w,
                strata,
                None if max_fpr is None else float(max_fpr),
            )
    if name is not None and name in _SCORE_METRICS and yp.ndim == 2:
        ovr = _one_vs_rest(name, yt, yp, w, strata, kwargs)
        if ovr is not None:
            return ovr
    if name is not None and yp.ndim == 1:
        classes = unique_labels(yt, yp)
        cfn = _confusion_fn(name, classes, kwargs)
        if cfn is not None:
            t = encode(func, "y_true", yt, classes)
            p = encode(func, "y_pred", yp, classes)
            rule = confusion_rule(name, classes, kwargs)
            return _ConfusionEvaluator(t, p, len(classes), w, strata, cfn, rule)
    return _LoopEvaluator(fn, yt, yp, w, strata, kwargs)


def _one_vs_rest(
    name: str,
    yt: NDArray[Any],
    yp: NDArray[Any],
    w: F64 | None,
    strata: NDArray[np.intp],
    kwargs: dict[str, Any],
) -> _Evaluator | None:
    """Batched one-vs-rest evaluator for 2-D scores, or None for options it lacks."""
    average = kwargs.get("average", "macro")
    if set(kwargs) - _SCORE_METRICS[name] - {"multi_class"}:
        return None
    if name == "roc_auc_score" and kwargs.get("multi_class", "raise") != "ovr":
        return None
    if average not in ("macro", "weighted") or kwargs.get("max_fpr") is not None:
        return None
    labels = kwargs.get("labels")
    classes = unique_labels(yt) if labels is None else np.asarray(labels)
    if len(classes) != yp.shape[1] or len(classes) < 3:
        return None
    onehot = yt[:, None] == classes[None, :]
    return _OneVsRestEvaluator(name, onehot, yp.astype(np.float64), w, strata, average)
