"""Precision, recall, F-beta, Jaccard and specificity, with scikit-learn's averaging.

Stages: validate arguments → validate and encode targets → count the confusion matrix
(the sufficient statistic) → compute from it. The ``*_from_cm`` functions are the last
stage in label space; they accept confusion matrices with leading batch dimensions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from polyclass.metrics._counts import label_confusion
from polyclass.metrics._docs import fill_doc
from polyclass.metrics._from_confusion import (
    jaccard_from_counts,
    prf_from_counts,
    specificity_from_counts,
)
from polyclass.metrics._setcounts import (
    SetCounts,
    setcounts_from_confusion,
    setcounts_from_multilabel,
)
from polyclass.metrics._setwise import (
    check_average,
    check_beta,
    check_pos_label,
    check_zero_division,
)
from polyclass.metrics._targets import check_targets

Array = NDArray[Any]
# A class label as the metrics accept it.
Label = int | float | bool | str
PRF_WARN_FOR = ("precision", "recall", "f-score")


def as_result(x: Array | None) -> Any:
    """A 0-d result as a Python float (as scikit-learn returns), arrays unchanged."""
    if x is None:
        return None
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def _check_args(func: str, average: Any, zero_division: Any, pos_label: Any) -> None:
    check_average(func, average)
    check_zero_division(func, zero_division, allow_nan=func != "jaccard_score")
    check_pos_label(func, pos_label)


def _counts_from_data(
    func: str,
    y_true: Any,
    y_pred: Any,
    sample_weight: Any,
    *,
    average: str | None,
    labels: Any,
    pos_label: Any,
) -> SetCounts:
    targets = check_targets(func, y_true, y_pred, sample_weight)
    if targets.kind == "multilabel-indicator":
        return setcounts_from_multilabel(
            func, targets, average=average, labels=labels, pos_label=pos_label
        )
    lc = label_confusion(func, targets.y_true, targets.y_pred, targets.sample_weight, margins=True)
    return setcounts_from_confusion(
        func,
        lc.cm,
        lc.classes,
        average=average,
        labels=labels,
        pos_label=pos_label,
        keep=None,
        margins=lc.margins,
    )


def _score_from_data(
    func: str,
    score: Callable[[SetCounts, str | None, Any], Any],
    y_true: Any,
    y_pred: Any,
    sample_weight: Any,
    labels: Any,
    pos_label: Any,
    average: str | None,
    zero_division: Any,
) -> Any:
    """A set-wise metric of labels: checked arguments, counts, ``score(counts, ...)``."""
    _check_args(func, average, zero_division, pos_label)
    c = _counts_from_data(
        func, y_true, y_pred, sample_weight, average=average, labels=labels, pos_label=pos_label
    )
    return score(c, average, zero_division)


def _score_from_cm(
    func: str,
    score: Callable[[SetCounts, str | None, Any], Any],
    cm: Array,
    classes: Array | None,
    labels: Any,
    pos_label: Any,
    average: str | None,
    zero_division: Any,
    keep: Array | str | None,
) -> Any:
    """The same metric from ``(..., K, K)`` confusion matrices over ``classes``."""
    _check_args(func, average, zero_division, pos_label)
    c = setcounts_from_confusion(
        func, cm, classes, average=average, labels=labels, pos_label=pos_label, keep=keep
    )
    return score(c, average, zero_division)


def _prf(
    c: SetCounts,
    beta: float,
    average: str | None,
    warn_for: Sequence[str],
    zero_division: Any,
) -> tuple[Array, Array, Array, Array | None]:
    return prf_from_counts(
        c.tp,
        c.pred_sum,
        c.true_sum,
        beta=beta,
        average=average,
        zero_division=zero_division,
        warn_for=warn_for,
        keep=c.keep,
        sample_weight=c.sample_weight,
    )


def prf_from_cm(
    cm: Array,
    *,
    classes: Array | None = None,
    beta: float = 1.0,
    labels: Any = None,
    pos_label: Any = 1,
    average: str | None = None,
    warn_for: Sequence[str] = PRF_WARN_FOR,
    zero_division: Any = "warn",
    keep: Array | str | None = "auto",
    func: str = "precision_recall_fscore_support",
) -> tuple[Array, Array, Array, Array | None]:
    """precision_recall_fscore_support from ``(..., K, K)`` matrices over ``classes``."""
    beta = check_beta(func, beta)
    return _score_from_cm(  # type: ignore[no-any-return]
        func,
        partial(_prf_score, beta=beta, warn_for=warn_for),
        cm,
        classes,
        labels,
        pos_label,
        average,
        zero_division,
        keep,
    )


def _prf_score(
    c: SetCounts,
    average: str | None,
    zero_division: Any,
    *,
    beta: float,
    warn_for: Sequence[str],
    which: int | None = None,
) -> Any:
    """``_prf`` in the ``score`` form, or its element ``which`` as a result."""
    prf = _prf(c, beta, average, warn_for, zero_division)
    return prf if which is None else as_result(prf[which])


@fill_doc
def precision_recall_fscore_support(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    beta: float = 1.0,
    labels: ArrayLike | None = None,
    pos_label: Label = 1,
    average: str | None = None,
    warn_for: Sequence[str] = PRF_WARN_FOR,
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> tuple[Any, Any, Any, Any]:
    """Precision, recall, F-beta score and support for each class, or averaged.

    Same parameters and results as ``sklearn.metrics.precision_recall_fscore_support``.

    Parameters
    ----------
    {labels_in}
    beta : float, default=1.0
        Weight of recall against precision in the F-beta score.
    {setwise_params}
    warn_for : sequence of str, default=('precision', 'recall', 'f-score')
        Which undefined ratios raise ``UndefinedMetricWarning``.

    Returns
    -------
    precision, recall, fbeta_score : float or ndarray of shape (n_labels,)
        The three scores, averaged or per label.
    support : None (when averaged) or ndarray of shape (n_labels,)
        Number (or weight) of true samples of each label.

    Examples
    --------
    >>> y_true = ["cat", "dog", "pig", "cat", "dog", "pig"]
    >>> y_pred = ["cat", "pig", "dog", "cat", "cat", "dog"]
    >>> p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average="macro")
    >>> round(p, 3), round(r, 3), round(f, 3), s
    (0.222, 0.333, 0.267, None)
    """
    func = "precision_recall_fscore_support"
    beta = check_beta(func, beta)
    p, r, f, s = _score_from_data(
        func,
        partial(_prf_score, beta=beta, warn_for=warn_for),
        y_true,
        y_pred,
        sample_weight,
        labels,
        pos_label,
        average,
        zero_division,
    )
    return as_result(p), as_result(r), as_result(f), s


def _one(
    func: str,
    which: int,
    warn_for: tuple[str, ...],
    y_true: Any,
    y_pred: Any,
    beta: float,
    labels: Any,
    pos_label: Any,
    average: str | None,
    sample_weight: Any,
    zero_division: Any,
) -> Any:
    beta = check_beta(func, beta)
    score = partial(_prf_score, beta=beta, warn_for=warn_for, which=which)
    return _score_from_data(
        func, score, y_true, y_pred, sample_weight, labels, pos_label, average, zero_division
    )


@fill_doc
def precision_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    pos_label: Label = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> Any:
    """Precision tp / (tp + fp): the share of the samples predicted as a class that are it.

    Same parameters and results as ``sklearn.metrics.precision_score``.

    Parameters
    ----------
    {labels_in}
    {setwise_params}

    Returns
    -------
    {setwise_returns}

    Examples
    --------
    >>> precision_score([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], average="micro")
    0.3333333333333333
    """
    return _one(
        "precision_score",
        0,
        ("precision",),
        y_true,
        y_pred,
        1.0,
        labels,
        pos_label,
        average,
        sample_weight,
        zero_division,
    )


@fill_doc
def recall_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    pos_label: Label = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> Any:
    """Recall tp / (tp + fn): the share of the samples of a class that are found.

    Same parameters and results as ``sklearn.metrics.recall_score``.

    Parameters
    ----------
    {labels_in}
    {setwise_params}

    Returns
    -------
    {setwise_returns}

    Examples
    --------
    >>> recall_score([0, 1, 1, 1], [0, 1, 0, 1])
    0.6666666666666666
    """
    return _one(
        "recall_score",
        1,
        ("recall",),
        y_true,
        y_pred,
        1.0,
        labels,
        pos_label,
        average,
        sample_weight,
        zero_division,
    )


@fill_doc
def fbeta_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    beta: float,
    labels: ArrayLike | None = None,
    pos_label: Label = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> Any:
    """F-beta score, the weighted harmonic mean of precision and recall.

    ``(1 + beta**2) tp / ((1 + beta**2) tp + beta**2 fn + fp)``: recall counts ``beta``
    times as much as precision. Same parameters and results as
    ``sklearn.metrics.fbeta_score``.

    Parameters
    ----------
    {labels_in}
    beta : float
        Weight of recall against precision, positive (1 gives F1).
    {setwise_params}

    Returns
    -------
    {setwise_returns}

    Examples
    --------
    >>> round(fbeta_score([0, 1, 1, 1], [0, 1, 0, 1], beta=2.0), 4)
    0.7143
    """
    return _one(
        "fbeta_score",
        2,
        ("f-score",),
        y_true,
        y_pred,
        beta,
        labels,
        pos_label,
        average,
        sample_weight,
        zero_division,
    )


@fill_doc
def f1_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    pos_label: Label = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> Any:
    """F1 score 2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall.

    Same parameters and results as ``sklearn.metrics.f1_score``.

    Parameters
    ----------
    {labels_in}
    {setwise_params}

    Returns
    -------
    {setwise_returns}

    Examples
    --------
    >>> f1_score([0, 1, 1, 1], [0, 1, 0, 1])
    0.8
    """
    return _one(
        "f1_score",
        2,
        ("f-score",),
        y_true,
        y_pred,
        1.0,
        labels,
        pos_label,
        average,
        sample_weight,
        zero_division,
    )


def fbeta_from_cm(
    cm: Array,
    *,
    classes: Array | None = None,
    beta: float = 1.0,
    labels: Any = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    zero_division: Any = "warn",
    keep: Array | str | None = "auto",
    which: int = 2,
    func: str = "fbeta_score",
) -> Array:
    """One of precision (0), recall (1), F-beta (2) from ``(..., K, K)`` matrices."""
    warn_for = (("precision",), ("recall",), ("f-score",))[which]
    return prf_from_cm(  # type: ignore[return-value]
        cm,
        classes=classes,
        beta=beta,
        labels=labels,
        pos_label=pos_label,
        average=average,
        warn_for=warn_for,
        zero_division=zero_division,
        keep=keep,
        func=func,
    )[which]


@fill_doc
def specificity_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    pos_label: Label = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> Any:
    """Specificity tn / (tn + fp) per class (one-vs-rest), averaged like precision.

    scikit-learn has no specificity. For binary targets it equals the recall of the
    negative class. 'weighted' weighs classes by their support (true samples), as the
    other set-wise metrics do; 'micro' pools tn and fp over classes.

    Parameters
    ----------
    {labels_in}
    {setwise_params}

    Returns
    -------
    {setwise_returns}

    Examples
    --------
    >>> specificity_score([0, 0, 1, 1], [0, 1, 1, 1])
    0.5
    >>> specificity_score([0, 1, 2, 2], [0, 2, 1, 2], average=None).tolist()
    [1.0, 0.6666666666666666, 0.5]
    """
    return as_result(
        _score_from_data(
            "specificity_score",
            _specificity,
            y_true,
            y_pred,
            sample_weight,
            labels,
            pos_label,
            average,
            zero_division,
        )
    )


def _specificity(c: SetCounts, average: str | None, zero_division: Any) -> Array:
    return specificity_from_counts(
        c.tn,
        c.neg_sum,
        c.true_sum,
        average=average,
        zero_division=zero_division,
        keep=c.keep,
        sample_weight=c.sample_weight,
    )


def specificity_from_cm(
    cm: Array,
    *,
    classes: Array | None = None,
    labels: Any = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    zero_division: Any = "warn",
    keep: Array | str | None = "auto",
) -> Array:
    """specificity_score from ``(..., K, K)`` matrices over ``classes``."""
    return _score_from_cm(  # type: ignore[no-any-return]
        "specificity_score",
        _specificity,
        cm,
        classes,
        labels,
        pos_label,
        average,
        zero_division,
        keep,
    )


@fill_doc
def jaccard_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    pos_label: Label = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> Any:
    """Jaccard index tp / (tp + fp + fn): overlap of predicted and true members of a class.

    Same parameters and results as ``sklearn.metrics.jaccard_score``.

    Parameters
    ----------
    {labels_in}
    {setwise_params}

    Returns
    -------
    {setwise_returns}

    Examples
    --------
    >>> jaccard_score([0, 1, 2, 2], [0, 2, 1, 2], average=None).tolist()
    [1.0, 0.0, 0.3333333333333333]
    """
    return as_result(
        _score_from_data(
            "jaccard_score",
            _jaccard,
            y_true,
            y_pred,
            sample_weight,
            labels,
            pos_label,
            average,
            zero_division,
        )
    )


def _jaccard(c: SetCounts, average: str | None, zero_division: Any) -> Array:
    return jaccard_from_counts(
        c.tp,
        c.pred_sum,
        c.true_sum,
        average=average,
        zero_division=zero_division,
        keep=c.keep,
        sample_weight=c.sample_weight,
    )


def jaccard_from_cm(
    cm: Array,
    *,
    classes: Array | None = None,
    labels: Any = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    zero_division: Any = "warn",
    keep: Array | str | None = "auto",
) -> Array:
    """jaccard_score from ``(..., K, K)`` matrices over ``classes``."""
    return _score_from_cm(  # type: ignore[no-any-return]
        "jaccard_score",
        _jaccard,
        cm,
        classes,
        labels,
        pos_label,
        average,
        zero_division,
        keep,
    )
