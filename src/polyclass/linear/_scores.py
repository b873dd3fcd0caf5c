"""Prediction math of a fitted linear classifier, on NumPy alone.

Kept free of SciPy and scikit-learn so that a served model (coefficients loaded from
``.npy`` files) predicts with NumPy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def linear_scores(X: Any, coef: NDArray[Any], intercept: NDArray[Any]) -> NDArray[Any]:
    """``X @ coef.T + intercept``; one column (raveled) when ``coef`` has one row."""
    scores: NDArray[Any] = np.asarray(X @ coef.T) + intercept
    return scores.ravel() if scores.shape[1] == 1 else scores


def proba_from_scores(scores: NDArray[Any]) -> NDArray[Any]:
    """Class probabilities: sigmoid for 1-D (binary) scores, softmax for 2-D."""
    if scores.ndim == 1:
        p = np.empty((scores.shape[0], 2), dtype=scores.dtype)
        # 1 / (1 + exp(-s)) without overflow warnings
        e = np.exp(-np.abs(scores))
        pos = np.where(scores >= 0, 1.0, e) / (1.0 + e)
        p[:, 1] = pos
        p[:, 0] = 1.0 - pos
        return p
    z: NDArray[Any] = scores - scores.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def log_proba_from_scores(scores: NDArray[Any]) -> NDArray[Any]:
    """Log class probabilities, computed stably (no log of a rounded zero)."""
    if scores.ndim == 1:
        s = np.stack([np.zeros_like(scores), scores], axis=1)
    else:
        s = scores
    m = s.max(axis=1, keepdims=True)
    lse = np.log(np.exp(s - m).sum(axis=1, keepdims=True)) + m
    return np.asarray(s - lse)


def predict_from_scores(scores: NDArray[Any], classes: NDArray[Any]) -> NDArray[Any]:
    """Labels: ``classes[1]`` where a binary score is positive, else the argmax."""
    if scores.ndim == 1:
        return np.asarray(classes[(scores > 0).astype(np.intp)])
    return np.asarray(classes[np.argmax(scores, axis=1)])
