"""Probabilistic losses: ``log_loss`` and ``brier_score_loss``.

Same parameters and results as scikit-learn, with one deliberate difference: rows of
``y_proba`` that do not sum to one are an error here (scikit-learn 1.9 only warns),
because a loss of such rows is not the loss of any probabilistic prediction.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.metrics._encode import encode, unique_labels
from polyclass.metrics._score_inputs import check_bool, check_labels, pos_label_for_curve
from polyclass.metrics._validation import (
    check_consistent_length,
    check_finite_scores,
    check_sample_weight,
    column_or_1d,
)

FArray = NDArray[np.floating[Any]]


def _proba(func: str, y_proba: Any) -> FArray:
    if y_proba is None:
        raise ValueError(f"{func}: y_proba is None; pass the predicted probabilities.")
    p = np.asarray(y_proba)
    if p.ndim not in (1, 2):
        raise ValueError(
            f"{func}: y_proba must be 1-D or 2-D (n_samples, n_classes), got shape {p.shape}."
        )
    p = check_finite_scores(func, "y_proba", p)
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    if p.size:
        hi, lo = p.max(), p.min()
        if hi > 1:
            raise ValueError(
                f"y_prob contains values greater than 1: {hi}. {func} needs probabilities "
                "in [0, 1]; pass predict_proba output, not decision values."
            )
        if lo < 0:
            raise ValueError(
                f"y_prob contains values lower than 0: {lo}. {func} needs probabilities "
                "in [0, 1]; pass predict_proba output, not decision values."
            )
    return p


def _multiclass(
    func: str, y_true: Any, p: FArray, sample_weight: Any, labels: Any
) -> tuple[NDArray[np.intp], FArray, NDArray[np.float64] | None]:
    """Validate; return class codes, (n, K) probabilities and weights."""
    yt = column_or_1d(func, "y_true", y_true)
    check_labels(func, "y_true", yt)
    n = check_consistent_length(func, y_proba=p, y_true=yt, sample_weight=sample_weight)
    w = check_sample_weight(func, sample_weight, n)
    if labels is not None:
        lab = column_or_1d(func, "labels", labels)
        classes = unique_labels(lab)
        if classes.shape != lab.shape or not np.array_equal(classes, lab):
            warnings.warn(
                f"Labels passed were {lab}. But this function assumes labels are ordered "
                f"lexicographically. Pass the ordered labels={classes.tolist()} and ensure "
                "that the columns of y_prob correspond to this ordering.",
                UserWarning,
                stacklevel=3,
            )
        present = unique_labels(yt)
        missing = [c for c in present.tolist() if c not in set(classes.tolist())]
        if missing:
            raise ValueError(
                f"y_true contains values {set(missing)} not belonging to the passed labels "
                f"{lab}. Add them to labels."
            )
    else:
        classes = unique_labels(yt)
    if classes.shape[0] == 1:
        if labels is None:
            raise ValueError(
                f"y_true contains only one label ({classes[0]!r}). Please provide the list "
                "of all expected class labels explicitly through the labels argument."
            )
        raise ValueError(f"The labels array needs to contain at least two labels, got {classes}.")
    codes = encode(func, "y_true", yt, classes)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[1] == 1:
        p = np.concatenate((1 - p, p), axis=1)
    sums = p.sum(axis=1)
    tol = 1e-8 + np.sqrt(np.finfo(p.dtype).eps)
    off = np.abs(sums - 1) > tol
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{func}: the rows of y_proba must sum to one, but row {row} sums to "
            f"{float(sums[row])!r}. Pass probabilities (e.g. predict_proba output) or "
            "normalize each row: y_proba / y_proba.sum(axis=1, keepdims=True)."
        )
    if classes.shape[0] != p.shape[1]:
        if labels is None:
            raise ValueError(
                "y_true and y_prob contain different number of classes: "
                f"{classes.shape[0]} vs {p.shape[1]}. Please provide the true labels "
                f"explicitly through the labels argument. Classes found in y_true: {classes}"
            )
        raise ValueError(
            "The number of classes in labels is different from that in y_prob. "
            f"Classes found in labels: {classes}. Pass one label per column of y_prob."
        )
    return codes, p, w


def _average(values: FArray, w: NDArray[np.float64] | None, normalize: bool = True) -> float:
    if normalize:
        return float(np.average(values, weights=w))
    if w is not None:
        return float(np.dot(values, w))
    return float(np.sum(values))


def log_loss(
    y_true: Any,
    y_proba: Any = None,
    *,
    normalize: bool = True,
    sample_weight: Any = None,
    labels: Any = None,
    y_pred: Any = "deprecated",
) -> float:
    """Log loss (cross-entropy) of predicted probabilities, as sklearn's ``log_loss``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Probabilities, columns in sorted label order; 1-D means the positive class.
        Clipped to ``[eps, 1 - eps]``. Rows must sum to one.
    normalize : bool, default=True
        Mean loss per sample if True, else the sum.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    labels : array-like, default=None
        All class labels, when ``y_true`` does not show every class.
    y_pred : deprecated
        Old name of ``y_proba`` (scikit-learn 1.9 deprecates it).

    Returns
    -------
    float

    Examples
    --------
    >>> from polyclass.metrics import log_loss
    >>> round(log_loss(["spam", "ham", "ham", "spam"],
    ...                [[.1, .9], [.9, .1], [.8, .2], [.35, .65]]), 5)
    0.21616
    """
    func = "log_loss"
    if not (isinstance(y_pred, str) and y_pred == "deprecated"):
        if y_proba is not None:
            raise ValueError(
                "Cannot use both `y_pred` and `y_proba`. `y_pred` is deprecated, "
                "use `y_proba` instead."
            )
        warnings.warn(
            "`y_pred` was renamed to `y_proba` in version 1.9 and will be removed "
            "in 1.11. Use `y_proba` instead.",
            FutureWarning,
            stacklevel=2,
        )
        y_proba = y_pred
    normalize = check_bool(func, "normalize", normalize)
    p = _proba(func, y_proba)
    codes, p2, w = _multiclass(func, y_true, p, sample_weight, labels)
    eps = np.finfo(p2.dtype).eps
    picked = p2[np.arange(p2.shape[0]), codes]
    loss = -np.log(np.clip(picked, eps, 1 - eps))
    return _average(loss, w, bool(normalize))


def brier_score_loss(
    y_true: Any,
    y_proba: Any,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    labels: Any = None,
    scale_by_half: bool | str = "auto",
) -> float:
    """Brier score: mean squared difference of probabilities and outcomes.

    Same parameters and results as :func:`sklearn.metrics.brier_score_loss`, binary
    (1-D ``y_proba``) and multiclass (2-D ``y_proba``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples,) or (n_samples, n_classes)
        1-D: probability of ``pos_label``; 2-D: one column per sorted label.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    pos_label : int, float, bool or str, default=None
        Positive label for 1-D ``y_proba`` (default 1 for {0, 1} or {-1, 1} labels,
        else the greater label; string labels need it).
    labels : array-like, default=None
        Class labels for 2-D ``y_proba``.
    scale_by_half : bool or 'auto', default='auto'
        Halve the score (range [0, 1]); 'auto' halves binary scores only.

    Returns
    -------
    float

    Examples
    --------
    >>> from polyclass.metrics import brier_score_loss
    >>> round(brier_score_loss([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]), 4)
    0.0375
    """
    func = "brier_score_loss"
    if not (isinstance(scale_by_half, bool | np.bool_) or scale_by_half == "auto"):
        raise ValueError(
            "The 'scale_by_half' parameter of brier_score_loss must be an instance of "
            f"'bool' or a str among {{'auto'}}. Got {scale_by_half!r} instead."
        )
    p = _proba(func, y_proba)
    if p.ndim == 1 or p.shape[1] == 1:
        p1 = p.ravel()
        yt = column_or_1d(func, "y_true", y_true)
        check_labels(func, "y_true", yt)
        n = check_consistent_length(func, y_proba=p1, y_true=yt, sample_weight=sample_weight)
        w = check_sample_weight(func, sample_weight, n)
        classes = unique_labels(yt)
        if classes.shape[0] > 2:
            raise ValueError(
                "The type of the target inferred from y_true is multiclass but should be "
                "binary according to the shape of y_prob. Pass y_proba of shape "
                "(n_samples, n_classes)."
            )
        if pos_label is None and classes.dtype.kind not in "OUS":
            try:
                pos = pos_label_for_curve(func, classes, None)
            except ValueError:
                pos = classes[-1].item()
        else:
            pos = pos_label_for_curve(func, classes, pos_label)
        y = (yt == pos).astype(p1.dtype)
        per = ((1 - y) - (1 - p1)) ** 2 + (y - p1) ** 2
        score = _average(per, w)
        halve = True if scale_by_half == "auto" else bool(scale_by_half)
    else:
        codes, p2, w = _multiclass(func, y_true, p, sample_weight, labels)
        onehot = (codes[:, None] == np.arange(p2.shape[1])).astype(p2.dtype)
        score = _average(((onehot - p2) ** 2).sum(axis=1), w)
        halve = p2.shape[1] < 3 if scale_by_half == "auto" else bool(scale_by_half)
    return float(score * 0.5) if halve else float(score)
