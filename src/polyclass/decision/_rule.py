"""Probabilities to class indices under argmax, a binary threshold or a cost matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: The rules a model can carry (``Decision.kind`` in ``polyclass.model``).
KINDS = ("argmax", "threshold", "cost")


def decide(
    proba: NDArray[np.floating[Any]],
    kind: str = "argmax",
    *,
    threshold: float | None = None,
    positive: int = 1,
    cost_matrix: ArrayLike | None = None,
    default: NDArray[np.intp] | None = None,
) -> NDArray[np.intp]:
    """Index of the predicted class for each row of ``proba``.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Class probabilities, columns in the order of the model's classes.
    kind : {'argmax', 'threshold', 'cost'}, default='argmax'
        ``'argmax'``: the most probable class (ties go to the first column), or
        ``default`` when given. ``'threshold'`` (binary): column ``positive`` when its
        probability is at least ``threshold``, else the other column.
        ``'cost'``: the column of least expected cost ``proba @ cost_matrix`` (ties go
        to the first column); with the 0-1 cost matrix this is argmax.
    threshold : float, optional
        The positive-class probability at or above which ``'threshold'`` predicts it.
    positive : {0, 1}, default=1
        The column of the positive class for ``'threshold'``.
    cost_matrix : array-like of shape (n_classes, n_classes), optional
        For ``'cost'``: ``cost_matrix[i, j]`` is the cost of predicting class ``j``
        when the truth is class ``i``.
    default : ndarray of shape (n_samples,), optional
        For ``'argmax'``: the estimator's own choice, returned as it is (an estimator
        may break near-ties on its decision scores, before rounding to probabilities).

    Returns
    -------
    ndarray of shape (n_samples,) and dtype intp
        The column index of the predicted class; ``classes[index]`` gives the labels.

    Raises
    ------
    ValueError
        An unknown ``kind``, or a rule without the numbers it needs.
    """
    if kind == "argmax":
        if default is not None:
            return np.asarray(default, dtype=np.intp)
        return np.asarray(np.argmax(proba, axis=1), dtype=np.intp)
    if kind == "threshold":
        return _by_threshold(proba, threshold, positive)
    if kind == "cost":
        return _by_cost(proba, cost_matrix)
    raise ValueError(f"Unknown decision rule {kind!r}; use one of {', '.join(map(repr, KINDS))}.")


def _by_threshold(
    proba: NDArray[np.floating[Any]], threshold: float | None, positive: int
) -> NDArray[np.intp]:
    if threshold is None:
        raise ValueError("The 'threshold' decision rule needs a threshold; none was given.")
    if proba.ndim != 2 or proba.shape[1] != 2:
        raise ValueError(
            f"The 'threshold' decision rule is for two classes; proba has shape {proba.shape}. "
            "Use the 'cost' rule for more classes."
        )
    if positive not in (0, 1):
        raise ValueError(
            f"positive must be the column 0 or 1 of the positive class; got {positive}."
        )
    chosen = proba[:, positive] >= threshold
    return np.where(chosen, positive, 1 - positive).astype(np.intp)


def _by_cost(proba: NDArray[np.floating[Any]], cost_matrix: ArrayLike | None) -> NDArray[np.intp]:
    if cost_matrix is None:
        raise ValueError("The 'cost' decision rule needs a cost matrix; none was given.")
    cost = np.asarray(cost_matrix, dtype=np.float64)
    k = proba.shape[1]
    if cost.shape != (k, k):
        raise ValueError(
            f"The cost matrix has shape {cost.shape} but proba has {k} columns; pass a "
            f"{k}x{k} matrix (rows = true class, columns = predicted class)."
        )
    return np.asarray(np.argmin(proba @ cost, axis=1), dtype=np.intp)
