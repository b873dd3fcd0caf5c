"""``roc_auc_score`` and ``average_precision_score``: binary, multiclass and multilabel.

Binary scores go through the counts of :mod:`polyclass.metrics._ranking`; multiclass
ROC AUC without weights goes through the per-class sorted blocks of
:mod:`polyclass.metrics._multiclass_auc`; multilabel (and one-vs-rest with weights)
averages the binary metric over columns (or rows for ``average='samples'``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import UndefinedMetricWarning

from polyclass.metrics._encode import encode, unique_labels
from polyclass.metrics._multiclass_auc import (
    area2_table,
    ovo_from_table,
    ovr_from_table,
    sorted_blocks,
)
from polyclass.metrics._ranking import (
    auc_from_counts,
    auc_from_sorted,
    average_precision_from_counts,
    binary_counts,
)
from polyclass.metrics._score_inputs import (
    binary_inputs,
    check_labels,
    check_positive_total,
    classes_of,
    positives,
)
from polyclass.metrics._validation import (
    check_choice,
    check_consistent_length,
    check_finite_scores,
    check_real,
    check_sample_weight,
    column_or_1d,
)

F64 = NDArray[np.float64]
BinaryMetric = Callable[[NDArray[np.bool_], F64, "F64 | None"], float]

_ONE_CLASS_AUC = "Only one class is present in y_true. ROC AUC score is not defined in that case."
_NO_POSITIVE_AP = "No positive class found in y_true, recall is set to one for all thresholds."


# --- binary metrics on validated arrays -------------------------------------------------


def _binary_auc(
    y_bool: NDArray[np.bool_], y_score: F64, w: F64 | None, max_fpr: float | None = None
) -> float:
    n_pos = int(np.count_nonzero(y_bool))
    if n_pos == 0 or n_pos == y_bool.shape[0]:
        warnings.warn(_ONE_CLASS_AUC, UndefinedMetricWarning, stacklevel=4)
        return float("nan")
    if w is None and (max_fpr is None or max_fpr == 1):
        pos = np.sort(np.compress(y_bool, y_score))
        neg = np.sort(np.compress(~y_bool, y_score))
        return auc_from_sorted(pos, neg)
    tps, fps = binary_counts(y_bool, y_score, w)[:2]  # the thresholds are freed
    if fps[-1] <= 0 or tps[-1] <= 0:
        side = "negative" if fps[-1] <= 0 else "positive"
        warnings.warn(
            f"No {side} samples of positive weight in y_true; ROC AUC is undefined.",
            UndefinedMetricWarning,
            stacklevel=4,
        )
        return float("nan")
    return float(auc_from_counts(fps, tps, max_fpr))


def _binary_ap(y_bool: NDArray[np.bool_], y_score: F64, w: F64 | None) -> float:
    if w is not None:
        keep = w != 0
        if not keep.all():
            y_bool, y_score, w = y_bool[keep], y_score[keep], w[keep]
    if not y_bool.any():
        warnings.warn(_NO_POSITIVE_AP, UserWarning, stacklevel=4)
        return 0.0
    tps, fps = binary_counts(y_bool, y_score, w)[:2]  # the thresholds are freed
    return float(average_precision_from_counts(fps, tps))


# --- averaging over columns or rows of an indicator matrix ------------------------------


def _rowwise_counts(y_bool: NDArray[np.bool_], y_score: F64, w: F64 | None) -> tuple[F64, F64]:
    """Per-row counts at every position, constant within a tie group (batched curves)."""
    order = np.argsort(-y_score, axis=1, kind="stable")
    scores = np.take_along_axis(y_score, order, axis=1)
    is_pos = np.take_along_axis(y_bool, order, axis=1)
    weight = np.ones(scores.shape) if w is None else np.take_along_axis(w, order, axis=1)
    tps = np.cumsum(np.where(is_pos, weight, 0.0), axis=1)
    fps = np.cumsum(np.where(is_pos, 0.0, weight), axis=1)
    end = np.ones(scores.shape, dtype=bool)
    end[:, :-1] = scores[:, 1:] != scores[:, :-1]

    def fill(c: F64) -> F64:
        masked = np.where(end, c, np.inf)[:, ::-1]
        return np.asarray(np.minimum.accumulate(masked, axis=1)[:, ::-1], dtype=np.float64)

    return fill(tps), fill(fps)


def _samples_average(kind: str, y_bool: NDArray[np.bool_], y_score: F64, w: F64 | None) -> float:
    tps, fps = _rowwise_counts(y_bool, y_score, None)
    n_pos = y_bool.sum(axis=1)
    if kind == "auc":
        scores = auc_from_counts(fps, tps)
        one_class = (n_pos == 0) | (n_pos == y_bool.shape[1])
        if one_class.any():
            warnings.warn(_ONE_CLASS_AUC, UndefinedMetricWarning, stacklevel=4)
            scores = np.where(one_class, np.nan, scores)
    else:
        scores = average_precision_from_counts(fps, tps)
        if (n_pos == 0).any():
            warnings.warn(_NO_POSITIVE_AP, UserWarning, stacklevel=4)
    if w is not None:
        scores = np.where(w == 0, 0.0, scores)
    return float(np.average(scores, weights=w))


def _average_columns(
    kind: str,
    metric: BinaryMetric,
    y_bool: NDArray[np.bool_],
    y_score: F64,
    average: str | None,
    w: F64 | None,
) -> float | F64:
    if average == "micro":
        wr = None if w is None else np.repeat(w, y_bool.shape[1])
        return metric(y_bool.ravel(), y_score.ravel(), wr)
    if average == "samples":
        return _samples_average(kind, y_bool, y_score, w)
    avg_weight: F64 | None = None
    if average == "weighted":
        avg_weight = (
            y_bool.sum(axis=0).astype(np.float64) if w is None else w @ y_bool.astype(np.float64)
        )
        if np.isclose(avg_weight.sum(), 0.0):
            return 0.0
    scores = np.array(
        [
            metric(y_bool[:, j], np.ascontiguousarray(y_score[:, j]), w)
            for j in range(y_bool.shape[1])
        ]
    )
    if average is None:
        return scores
    if avg_weight is not None:
        scores[avg_weight == 0] = 0
    return float(np.average(scores, weights=avg_weight))


# --- input helpers -----------------------------------------------------------------------


def _scores_2d(func: str, y_score: Any) -> F64:
    ys = np.asarray(y_score)
    if ys.ndim != 2:
        raise ValueError(
            f"`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` "
            f"contains multiple classes. Got `y_score.shape={ys.shape}`. Pass one column "
            "of scores per class."
        )
    return check_finite_scores(func, "y_score", ys).astype(np.float64, copy=False)


def _indicator(func: str, y_true: NDArray[Any]) -> NDArray[np.bool_]:
    if y_true.dtype.kind not in "biuf" or not np.isin(y_true, (0, 1)).all():
        raise ValueError(
            f"{func}: a 2-D y_true must be a multilabel indicator matrix of 0s and 1s. "
            "Pass 1-D labels for binary or multiclass targets."
        )
    return np.asarray(y_true == 1, dtype=bool)


def _multilabel(
    func: str,
    kind: str,
    metric: BinaryMetric,
    y_true: NDArray[Any],
    y_score: Any,
    average: str | None,
    sample_weight: Any,
) -> float | F64:
    y_bool = _indicator(func, y_true)
    ys = _scores_2d(func, y_score)
    if ys.shape != y_bool.shape:
        raise ValueError(
            f"{func}: y_true has shape {y_bool.shape} but y_score has shape {ys.shape}; "
            "pass one score per label column."
        )
    n = check_consistent_length(func, y_true=y_bool, y_score=ys, sample_weight=sample_weight)
    w = check_sample_weight(func, sample_weight, n)
    check_positive_total(func, w)
    return _average_columns(kind, metric, y_bool, ys, average, w)


# --- public functions -------------------------------------------------------------------


def roc_auc_score(
    y_true: Any,
    y_score: Any,
    *,
    average: str | None = "macro",
    sample_weight: Any = None,
    max_fpr: float | None = None,
    multi_class: str = "raise",
    labels: Any = None,
) -> float | F64:
    """Area under the ROC curve, as :func:`sklearn.metrics.roc_auc_score`.

    Binary (with the standardized partial AUC ``max_fpr``), multiclass one-vs-rest
    (``average`` macro, weighted, micro or None) and one-vs-one (Hand & Till, macro or
    weighted), and multilabel indicator targets.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
        Labels (ints, strings or bools) or a multilabel indicator matrix.
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Binary: the score of the greater label. Multiclass: probabilities summing to 1
        over columns ordered as ``labels`` (default: the sorted labels of ``y_true``).
    average : {'micro', 'macro', 'samples', 'weighted'} or None, default='macro'
        Averaging over classes; ignored for binary targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights (not supported with ``multi_class='ovo'``).
    max_fpr : float in (0, 1], default=None
        Binary only: McClish-standardized partial AUC over FPR in ``[0, max_fpr]``.
    multi_class : {'raise', 'ovr', 'ovo'}, default='raise'
        Multiclass only: one-vs-rest or one-vs-one; 'raise' asks you to choose.
    labels : array-like of shape (n_classes,), default=None
        Multiclass only: the labels indexing the columns of ``y_score``, sorted.

    Returns
    -------
    float, or ndarray of per-class scores when ``average=None``.

    Examples
    --------
    >>> from polyclass.metrics import roc_auc_score
    >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> p = [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]]
    >>> round(roc_auc_score([0, 1, 2, 1], p, multi_class="ovr"), 4)
    1.0
    """
    func = "roc_auc_score"
    check_choice(func, "average", average, ["micro", "macro", "samples", "weighted", None])
    check_choice(func, "multi_class", multi_class, ["raise", "ovr", "ovo"])
    if max_fpr is not None:
        max_fpr = check_real(func, "max_fpr", max_fpr, low=0.0, high=1.0, closed="right")
    yt_raw = np.asarray(y_true)
    if yt_raw.ndim == 2 and yt_raw.shape[1] > 1:
        partial_auc: BinaryMetric = lambda y, s, w: _binary_auc(y, s, w, max_fpr)  # noqa: E731
        return _multilabel(func, "auc", partial_auc, yt_raw, y_score, average, sample_weight)
    yt = column_or_1d(func, "y_true", yt_raw)
    check_consistent_length(func, y_true=yt, y_score=np.asarray(y_score))
    check_labels(func, "y_true", yt)
    ys_raw = np.asarray(y_score)
    classes = classes_of(yt)
    if classes.shape[0] > 2 or (ys_raw.ndim == 2 and ys_raw.shape[1] > 2):
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError(
                "Partial AUC computation not available in multiclass setting, 'max_fpr' "
                f"must be set to `None`, received `max_fpr={max_fpr}` instead."
            )
        if multi_class == "raise":
            raise ValueError(
                "multi_class must be in ('ovo', 'ovr'): y_true is multiclass. Pass "
                "multi_class='ovr' (one-vs-rest) or multi_class='ovo' (one-vs-one)."
            )
        return _multiclass_auc(yt, ys_raw, labels, multi_class, average, sample_weight)
    yt, ys, w = binary_inputs(func, yt, ys_raw, sample_weight)
    if classes.shape[0] < 2:
        warnings.warn(_ONE_CLASS_AUC, UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    return _binary_auc(positives(yt, classes[-1].item()), ys, w, max_fpr)


def _check_probabilities(func: str, ys: F64) -> None:
    sums = ys.sum(axis=1)
    bad = np.abs(1.0 - sums) > 1e-8 + 1e-5 * np.abs(sums)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            "Target scores need to be probabilities for multiclass roc_auc, i.e. they "
            f"should sum up to 1.0 over classes; row {row} of y_score sums to "
            f"{sums[row]!r}. Pass predict_proba output or normalize each row "
            "(y_score / y_score.sum(axis=1, keepdims=True))."
        )


def _multiclass_auc(
    yt: NDArray[Any],
    y_score: Any,
    labels: Any,
    multi_class: str,
    average: str | None,
    sample_weight: Any,
) -> float | F64:
    func = "roc_auc_score"
    ys = _scores_2d(func, y_score)
    n = check_consistent_length(func, y_true=yt, y_score=ys, sample_weight=sample_weight)
    w = check_sample_weight(func, sample_weight, n)
    check_positive_total(func, w)
    _check_probabilities(func, ys)
    options: list[str | None] = ["macro", "weighted", None]
    if multi_class == "ovr":
        options = ["micro", *options]
    if average not in options:
        raise ValueError(
            f"average must be one of {tuple(options)} for multiclass problems; got "
            f"{average!r}. Choose one of those."
        )
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    if labels is not None:
        lab = column_or_1d(func, "labels", labels)
        classes = unique_labels(lab)
        if classes.shape[0] != lab.shape[0]:
            raise ValueError("Parameter 'labels' must be unique; remove the repeated labels.")
        if not np.array_equal(classes, lab):
            raise ValueError(
                f"Parameter 'labels' must be ordered; pass them sorted: {classes.tolist()}."
            )
        if classes.shape[0] != ys.shape[1]:
            raise ValueError(
                f"Number of given labels, {classes.shape[0]}, not equal to the number of "
                f"columns in 'y_score', {ys.shape[1]}. Pass one label per column."
            )
    else:
        classes = unique_labels(yt)
        if classes.shape[0] != ys.shape[1]:
            raise ValueError(
                "Number of classes in y_true not equal to the number of columns in "
                f"'y_score': {classes.shape[0]} != {ys.shape[1]}. Pass labels= naming "
                "the class of each column."
            )
    codes = encode(func, "y_true", yt, classes)
    n_classes = classes.shape[0]
    if multi_class == "ovo":
        if w is not None:
            raise ValueError(
                "sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                "'sample_weight' must be None in this case. Use multi_class='ovr'."
            )
        blocks, counts = sorted_blocks(codes, n_classes, ys)
        table = area2_table(blocks, counts)
        return ovo_from_table(table, counts, str(average))
    y_bool = codes[:, None] == np.arange(n_classes)
    if w is not None or average == "micro":
        return _average_columns("auc", _binary_auc, y_bool, ys, average, w)
    blocks, counts = sorted_blocks(codes, n_classes, ys)
    scores = ovr_from_table(area2_table(blocks, counts), counts)
    if np.isnan(scores).any():
        warnings.warn(_ONE_CLASS_AUC, UndefinedMetricWarning, stacklevel=3)
    if average is None:
        return scores
    if average == "weighted":
        support = counts.astype(np.float64)
        if np.isclose(support.sum(), 0.0):
            return 0.0
        scores[support == 0] = 0
        return float(np.average(scores, weights=support))
    return float(np.average(scores))


def average_precision_score(
    y_true: Any,
    y_score: Any,
    *,
    average: str | None = "macro",
    pos_label: Any = 1,
    sample_weight: Any = None,
) -> float | F64:
    """Average precision ``sum_n (R_n - R_{n-1}) P_n``, as sklearn's function.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
        Binary or multiclass labels, or a multilabel indicator matrix.
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Scores; for multiclass targets one column per sorted label of ``y_true``.
    average : {'micro', 'samples', 'weighted', 'macro'} or None, default='macro'
        Averaging over classes; ignored for binary targets.
    pos_label : int, float, bool or str, default=1
        The positive label of binary targets (fixed to 1 otherwise).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.

    Returns
    -------
    float, or ndarray of per-class scores when ``average=None``.

    Examples
    --------
    >>> from polyclass.metrics import average_precision_score
    >>> round(average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    func = "average_precision_score"
    check_choice(func, "average", average, ["micro", "samples", "weighted", "macro", None])
    yt_raw = np.asarray(y_true)
    if yt_raw.ndim == 2 and yt_raw.shape[1] > 1:
        if pos_label != 1:
            raise ValueError(
                "Parameter pos_label is fixed to 1 for multilabel-indicator y_true. "
                "Do not set pos_label or set pos_label to 1."
            )
        return _multilabel(func, "ap", _binary_ap, yt_raw, y_score, average, sample_weight)
    yt = column_or_1d(func, "y_true", yt_raw)
    check_consistent_length(func, y_true=yt, y_score=np.asarray(y_score))
    check_labels(func, "y_true", yt)
    classes = classes_of(yt)
    if classes.shape[0] > 2:
        if pos_label != 1:
            raise ValueError(
                "Parameter pos_label is fixed to 1 for multiclass y_true. "
                "Do not set pos_label or set pos_label to 1."
            )
        ys = _scores_2d(func, y_score)
        if ys.shape != (yt.shape[0], classes.shape[0]):
            raise ValueError(
                "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` "
                f"contains multiple classes. Got `y_score.shape={ys.shape}`."
            )
        n = check_consistent_length(func, y_true=yt, y_score=ys, sample_weight=sample_weight)
        w = check_sample_weight(func, sample_weight, n)
        check_positive_total(func, w)
        codes = encode(func, "y_true", yt, classes)
        y_bool = codes[:, None] == np.arange(classes.shape[0])
        return _average_columns("ap", _binary_ap, y_bool, ys, average, w)
    yt, ys1, w1 = binary_inputs(func, yt, y_score, sample_weight)
    if classes.shape[0] == 2 and not any(pos_label == c for c in classes.tolist()):
        shown = ", ".join(repr(c) for c in classes.tolist())
        raise ValueError(
            f"pos_label={pos_label!r} is not a valid label. It should be one of [{shown}]. "
            "Pass pos_label= one of the labels of y_true."
        )
    return _binary_ap(positives(yt, pos_label), ys1, w1)
