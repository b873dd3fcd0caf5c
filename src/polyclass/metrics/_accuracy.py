"""Accuracy, balanced accuracy and Hamming loss (from the confusion matrix), top-k accuracy."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import UndefinedMetricWarning

from polyclass.metrics._counts import label_confusion
from polyclass.metrics._encode import encode, unique_labels
from polyclass.metrics._from_confusion import (
    accuracy_from_confusion,
    balanced_accuracy_from_confusion,
    hamming_from_confusion,
    present_classes,
)
from polyclass.metrics._targets import Targets, as_label_array, check_targets
from polyclass.metrics._validation import (
    check_consistent_length,
    check_finite_scores,
    check_sample_weight,
)

Array = NDArray[Any]


def _check_bool(func: str, name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"The {name!r} parameter of {func} must be an instance of 'bool'. "
            f"Got {value!r} instead."
        )


def _multilabel_rows_equal(t: Targets) -> Array:
    return np.asarray(np.asarray((t.y_true != 0) == (t.y_pred != 0)).all(axis=1))


def accuracy_score(
    y_true: ArrayLike, y_pred: Any, *, normalize: bool = True, sample_weight: Any = None
) -> float:
    """Fraction (or number) of samples whose predicted label equals the true one.

    For multilabel indicator input this is subset accuracy (every label must match).
    Same parameters and results as ``sklearn.metrics.accuracy_score``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
        True labels, or a binary indicator matrix for multilabel data.
    y_pred : array-like of the same shape as ``y_true``
        Predicted labels.
    normalize : bool, default=True
        True: the fraction of correct samples; False: their number (or weight).
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    score : float
        Fraction, or number, of correctly predicted samples.

    Examples
    --------
    >>> accuracy_score([0, 1, 2, 3], [0, 2, 1, 3])
    0.5
    >>> accuracy_score([0, 1, 2, 3], [0, 2, 1, 3], normalize=False)
    2.0
    """
    func = "accuracy_score"
    _check_bool(func, "normalize", normalize)
    t = check_targets(func, y_true, y_pred, sample_weight)
    if t.kind == "multilabel-indicator":
        hits = _multilabel_rows_equal(t)
        w = t.sample_weight
        if normalize:
            return float(np.average(hits, weights=w))
        return float(hits.sum() if w is None else hits @ w)
    lc = label_confusion(func, t.y_true, t.y_pred, t.sample_weight)
    return float(accuracy_from_confusion(lc.cm, normalize=normalize))


def accuracy_from_cm(cm: Array, *, normalize: bool = True, **_: Any) -> Array:
    """accuracy_score from ``(..., K, K)`` matrices."""
    _check_bool("accuracy_score", "normalize", normalize)
    return accuracy_from_confusion(np.asarray(cm), normalize=normalize)


def balanced_accuracy_score(
    y_true: ArrayLike, y_pred: Any, *, sample_weight: Any = None, adjusted: bool = False
) -> float:
    """Mean recall over classes, optionally adjusted so chance scores 0.

    Same parameters and results as ``sklearn.metrics.balanced_accuracy_score``; a
    class predicted but absent from ``y_true`` is left out, with a warning.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    adjusted : bool, default=False
        Rescale so that chance scores 0 and perfect scores 1.

    Returns
    -------
    score : float
        Balanced accuracy.

    Examples
    --------
    >>> balanced_accuracy_score([0, 1, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1])
    0.625
    """
    func = "balanced_accuracy_score"
    _check_bool(func, "adjusted", adjusted)
    t = check_targets(func, y_true, y_pred, sample_weight, allow_multilabel=False)
    lc = label_confusion(func, t.y_true, t.y_pred, t.sample_weight)
    return float(balanced_accuracy_from_confusion(lc.cm, adjusted=adjusted))


def balanced_accuracy_from_cm(
    cm: Array, *, adjusted: bool = False, keep: Array | str | None = "auto", **_: Any
) -> Array:
    """balanced_accuracy_score from ``(..., K, K)`` matrices."""
    _check_bool("balanced_accuracy_score", "adjusted", adjusted)
    cm = np.asarray(cm)
    mask = present_classes(cm) if isinstance(keep, str) else keep
    return balanced_accuracy_from_confusion(cm, adjusted=adjusted, keep=mask)


def hamming_loss(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Fraction of labels predicted wrongly (per label cell for multilabel input).

    Same parameters and results as ``sklearn.metrics.hamming_loss``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
        True labels, or a binary indicator matrix for multilabel data.
    y_pred : array-like of the same shape as ``y_true``
        Predicted labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    loss : float
        Share of wrong labels (lower is better).

    Examples
    --------
    >>> hamming_loss([1, 2, 3, 4], [2, 2, 3, 4])
    0.25
    """
    func = "hamming_loss"
    t = check_targets(func, y_true, y_pred, sample_weight)
    if t.kind == "multilabel-indicator":
        diff = np.asarray((t.y_true != 0) != (t.y_pred != 0))
        n, n_labels = diff.shape
        w = t.sample_weight
        if w is None:
            return float(np.count_nonzero(diff)) / float(n * n_labels)
        return float(diff.sum(axis=1) @ w) / (n * n_labels * float(np.average(w)))  # type: ignore[no-any-return]
    lc = label_confusion(func, t.y_true, t.y_pred, t.sample_weight)
    return float(hamming_from_confusion(lc.cm))


def hamming_from_cm(cm: Array, **_: Any) -> Array:
    """hamming_loss from ``(..., K, K)`` matrices."""
    return hamming_from_confusion(np.asarray(cm))


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(
            f"The 'k' parameter of top_k_accuracy_score must be an int in the range "
            f"[1, inf). Got {k!r} instead."
        )
    return int(k)


def _topk_classes(y_true: Array, labels: Any, n_score_classes: int) -> Array:
    if labels is None:
        classes = unique_labels(y_true)
        if len(classes) != n_score_classes:
            raise ValueError(
                f"Number of classes in 'y_true' ({len(classes)}) not equal to the number "
                f"of classes in 'y_score' ({n_score_classes}).You can provide a list of all "
                "known classes by assigning it to the `labels` parameter."
            )
        return classes
    lab = as_label_array("top_k_accuracy_score", "labels", labels)
    classes = np.unique(lab)
    if len(classes) != len(lab):
        raise ValueError("Parameter 'labels' must be unique.")
    if not np.array_equal(classes, lab):
        raise ValueError("Parameter 'labels' must be ordered.")
    if len(classes) != n_score_classes:
        raise ValueError(
            f"Number of given labels ({len(classes)}) not equal to the number of classes "
            f"in 'y_score' ({n_score_classes})."
        )
    if len(np.setdiff1d(y_true, classes)):
        raise ValueError("'y_true' contains labels not in parameter 'labels'.")
    return classes


def top_k_accuracy_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    k: int = 2,
    normalize: bool = True,
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
) -> float:
    """Fraction of samples whose true label is among the ``k`` highest scores.

    Ties are broken as scikit-learn does (a later column ranks first among equal
    scores). Counts ranks without sorting: O(n_samples * n_classes). Same parameters
    and results as ``sklearn.metrics.top_k_accuracy_score``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Scores per class, columns in the order of ``labels`` (or of the sorted
        classes); for binary data a 1-D score of the greater class.
    k : int, default=2
        How many of the highest-scored classes count as a hit.
    normalize : bool, default=True
        True: the fraction of hits; False: their number (or weight).
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    labels : array-like of shape (n_classes,), default=None
        The classes in the order of the columns of ``y_score``.

    Returns
    -------
    score : float
        Top-k accuracy.

    Examples
    --------
    >>> import numpy as np
    >>> y_score = np.array([[0.5, 0.2, 0.2], [0.3, 0.4, 0.2], [0.2, 0.4, 0.3],
    ...                     [0.7, 0.2, 0.1]])
    >>> top_k_accuracy_score([0, 1, 2, 2], y_score, k=2)
    0.75
    """
    func = "top_k_accuracy_score"
    k = _check_k(k)
    _check_bool(func, "normalize", normalize)
    t = as_label_array(func, "y_true", y_true)
    score = check_finite_scores(func, "y_score", np.asarray(y_score))
    n_label_classes = None if labels is None else len(np.asarray(labels))
    binary = len(unique_labels(t)) <= 2 and not (n_label_classes and n_label_classes > 2)
    if binary:
        if score.ndim == 2 and score.shape[1] != 1:
            raise ValueError(
                f"`y_true` is binary while y_score is 2d with {score.shape[1]} classes. If "
                "`y_true` does not contain all the labels, `labels` must be provided."
            )
        score = score.reshape(-1)
    elif score.ndim != 2:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={score.shape}`."
        )
    check_consistent_length(func, y_true=t, y_score=score)
    w = check_sample_weight(func, sample_weight, len(t))
    n_classes = score.shape[1] if score.ndim == 2 else 2
    classes = _topk_classes(t, labels, n_classes)
    if k >= n_classes:
        warnings.warn(
            f"'k' ({k}) greater than or equal to 'n_classes' ({n_classes}) will result in a "
            "perfect score and is therefore meaningless.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    codes = encode(func, "y_true", t, classes)
    if binary:
        if k == 1:
            threshold = 0.5 if score.min() >= 0 and score.max() <= 1 else 0
            hits = (score > threshold).astype(np.intp) == codes
        else:
            hits = np.ones(len(score), dtype=bool)
    else:
        hits = _topk_hits(score, codes, k)
    if normalize:
        return float(np.average(hits, weights=w))
    return float(hits.sum() if w is None else hits @ w)


def _topk_hits(score: Array, codes: Array, k: int) -> Array:
    """Whether the true class ranks in the top k, by counting (no argsort)."""
    n, n_classes = score.shape
    true_score = score[np.arange(n), codes][:, None]
    rank = np.zeros(n, dtype=np.intp)
    cols = np.arange(n_classes)
    step = max(1, (1 << 22) // max(n_classes, 1))
    for start in range(0, n, step):
        s = score[start : start + step]
        ts = true_score[start : start + step]
        c = codes[start : start + step, None]
        ahead = (s > ts) | ((s == ts) & (cols > c))
        rank[start : start + step] = ahead.sum(axis=1)
    return np.asarray(rank < k)
