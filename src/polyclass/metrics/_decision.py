"""The Bayes decision: from class probabilities and a cost matrix to the cheapest class.

With ``cost[i, j]`` the cost of predicting class ``j`` when the truth is ``i``, the
expected cost of predicting ``j`` for a sample with probabilities ``p`` is
``sum_i p[i] * cost[i, j]`` -- one matrix product ``proba @ cost`` for all samples.
Predicting the column of least expected cost minimises the expected total cost when
the probabilities are calibrated (Duda, Hart & Stork, ch. 2). With the 0-1 cost matrix
it is the usual ``argmax(proba)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from polyclass.decision import decide

from ._encode import check_label_types, encode, unique_labels
from ._validation import check_consistent_length, check_sample_weight, column_or_1d

# Rows of a probability matrix must sum to one within this absolute tolerance.
_SUM_TOL = 1e-6


def check_cost_matrix(
    func: str, cost_matrix: ArrayLike, n_classes: int | None
) -> NDArray[np.float64]:
    """Return a validated square, finite, non-negative cost matrix as float64."""
    c = np.asarray(cost_matrix)
    if c.dtype.kind not in "biuf":
        raise ValueError(f"{func}: cost_matrix must be numeric, got dtype {c.dtype}.")
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(
            f"{func}: cost_matrix must be a square (n_classes, n_classes) matrix with "
            f"cost_matrix[i, j] the cost of predicting j when the truth is i; got shape "
            f"{c.shape}."
        )
    if n_classes is not None and c.shape[0] != n_classes:
        raise ValueError(
            f"{func}: cost_matrix is {c.shape[0]}x{c.shape[1]} but there are {n_classes} "
            f"classes; pass a {n_classes}x{n_classes} matrix (rows = true class, columns = "
            "predicted class, in the order of `classes`/`labels`)."
        )
    if c.shape[0] < 2:
        raise ValueError(f"{func}: cost_matrix needs at least 2 classes, got shape {c.shape}.")
    c = c.astype(np.float64)
    if not np.isfinite(c).all():
        raise ValueError(f"{func}: cost_matrix contains NaN or inf; pass finite costs.")
    if (c < 0).any():
        i, j = (int(v) for v in np.argwhere(c < 0)[0])
        raise ValueError(
            f"{func}: cost_matrix must be non-negative; cost_matrix[{i}, {j}] is {c[i, j]:g}. "
            "Express gains as lower costs (shift every entry by a constant)."
        )
    return c


def check_proba(func: str, proba: ArrayLike) -> NDArray[np.float64]:
    """Return a validated (n_samples, n_classes) probability matrix as float64."""
    p = np.asarray(proba)
    if p.dtype.kind not in "biuf":
        raise ValueError(f"{func}: proba must be numeric probabilities, got dtype {p.dtype}.")
    if p.ndim != 2:
        raise ValueError(
            f"{func}: proba must be 2-D of shape (n_samples, n_classes), e.g. the output of "
            f"predict_proba; got shape {p.shape}."
        )
    if p.shape[0] == 0:
        raise ValueError(f"{func}: empty input (0 samples). Pass at least one sample.")
    p = p.astype(np.float64, copy=False)
    finite = np.isfinite(p)
    if not finite.all():
        r = int(np.argwhere(~finite)[0][0])
        raise ValueError(f"{func}: proba contains NaN or inf (first in row {r}).")
    if (p < 0).any() or (p > 1).any():
        r = int(np.argwhere((p < 0) | (p > 1))[0][0])
        raise ValueError(
            f"{func}: proba must lie in [0, 1]; row {r} is {p[r].tolist()}. Pass probabilities "
            "(e.g. predict_proba), not decision scores."
        )
    sums = p.sum(axis=1)
    bad = np.abs(sums - 1.0) > _SUM_TOL
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{func}: the rows of proba must sum to one; row {r} sums to {sums[r]:.6g}. "
            "Normalize each row (proba / proba.sum(axis=1, keepdims=True))."
        )
    return p


def bayes_decision(
    proba: ArrayLike, cost_matrix: ArrayLike, classes: ArrayLike | None = None
) -> NDArray[Any]:
    """Predict, for each sample, the class of least expected cost.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities (rows sum to one), e.g. ``model.predict_proba(X)``.
    cost_matrix : array-like of shape (n_classes, n_classes)
        ``cost_matrix[i, j]`` is the cost of predicting class ``j`` when the truth is
        class ``i``; finite and non-negative (usually 0 on the diagonal).
    classes : array-like of shape (n_classes,), default=None
        Labels of the columns of ``proba`` (e.g. ``model.classes_``). When given, the
        predictions are these labels; otherwise column indices.

    Returns
    -------
    ndarray of shape (n_samples,)
        ``argmin_j sum_i proba[:, i] * cost_matrix[i, j]``; ties go to the first class.

    Examples
    --------
    >>> import numpy as np
    >>> from polyclass.metrics import bayes_decision
    >>> proba = np.array([[0.7, 0.3], [0.95, 0.05]])
    >>> cost = np.array([[0, 1], [10, 0]])  # a missed positive costs 10 false alarms
    >>> bayes_decision(proba, cost, classes=["ok", "fraud"]).tolist()
    ['fraud', 'ok']
    """
    func = "bayes_decision"
    p = check_proba(func, proba)
    c = check_cost_matrix(func, cost_matrix, p.shape[1])
    choice = decide(p, "cost", cost_matrix=c)
    if classes is None:
        return choice
    labels = column_or_1d(func, "classes", classes)
    if len(labels) != p.shape[1]:
        raise ValueError(
            f"{func}: classes has {len(labels)} labels but proba has {p.shape[1]} columns; "
            "pass one label per column of proba (e.g. model.classes_)."
        )
    out: NDArray[Any] = labels[choice]
    return out


def expected_cost(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    cost_matrix: ArrayLike,
    labels: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Average cost per sample of the predictions ``y_pred`` (lower is better).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    cost_matrix : array-like of shape (n_classes, n_classes)
        ``cost_matrix[i, j]`` is the cost of predicting ``labels[j]`` when the truth is
        ``labels[i]``.
    labels : array-like of shape (n_classes,), default=None
        The classes in the order of the rows and columns of ``cost_matrix``. Default:
        the sorted labels found in ``y_true`` and ``y_pred``, which must then number
        exactly ``n_classes``.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights; the result is the weighted mean cost.

    Returns
    -------
    float
        ``sum(w * cost_matrix[true, pred]) / sum(w)``. With the 0-1 cost matrix this is
        the error rate ``1 - accuracy_score``.

    Examples
    --------
    >>> from polyclass.metrics import expected_cost
    >>> cost = [[0, 1], [10, 0]]
    >>> expected_cost([0, 1, 1, 0], [0, 0, 1, 1], cost_matrix=cost)
    2.75
    """
    func = "expected_cost"
    yt = column_or_1d(func, "y_true", y_true)
    yp = column_or_1d(func, "y_pred", y_pred)
    n = check_consistent_length(func, y_true=yt, y_pred=yp)
    w = check_sample_weight(func, sample_weight, n)
    check_label_types(func, yt, yp)
    if labels is None:
        classes = unique_labels(yt, yp)
        c = check_cost_matrix(func, cost_matrix, None)
        if len(classes) != c.shape[0]:
            raise ValueError(
                f"{func}: y_true and y_pred hold {len(classes)} distinct labels but "
                f"cost_matrix is {c.shape[0]}x{c.shape[0]}; pass labels= to say which class "
                "each row and column of cost_matrix stands for."
            )
        t = encode(func, "y_true", yt, classes)
        p = encode(func, "y_pred", yp, classes)
    else:
        lab = column_or_1d(func, "labels", labels)
        c = check_cost_matrix(func, cost_matrix, len(lab))
        order = np.argsort(lab, kind="stable")
        sorted_lab = lab[order]
        if np.any(sorted_lab[1:] == sorted_lab[:-1]):
            raise ValueError(f"{func}: labels contains duplicates; list each class once.")
        t = order[encode(func, "y_true", yt, sorted_lab)]
        p = order[encode(func, "y_pred", yp, sorted_lab)]
    k = c.shape[0]
    cm = np.bincount(t * k + p, weights=w, minlength=k * k).reshape(k, k)
    total = cm.sum()
    if total <= 0:
        raise ValueError(f"{func}: the sample weights sum to zero; pass positive weights.")
    return float((cm * c).sum() / total)


def confusion_expected_cost(
    cm: NDArray[Any], cost_matrix: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Average cost per sample from confusion matrices of any leading batch shape."""
    total = cm.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((cm * cost_matrix).sum(axis=(-2, -1)) / total, dtype=np.float64)
