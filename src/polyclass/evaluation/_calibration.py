"""Reliability diagrams and expected calibration error.

A model is calibrated when, among the rows it gives probability ``p``, a fraction ``p``
are positive. The bins here are ``n_bins`` equal-width intervals of predicted
probability (the same as :func:`sklearn.calibration.calibration_curve` with
``strategy='uniform'``); each keeps its mean prediction, observed frequency and
(weighted) row count. The expected calibration error (ECE) is the count-weighted mean
gap between the two; the maximum calibration error (MCE) is the largest gap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def reliability_bins(
    y_binary: NDArray[np.bool_],
    prob: FloatArray,
    *,
    n_bins: int = 10,
    sample_weight: FloatArray | None = None,
) -> dict[str, Any]:
    """Reliability bins of ``prob`` against the 0/1 outcome ``y_binary``.

    Parameters
    ----------
    y_binary : ndarray of bool, shape (n_samples,)
        Whether each row is positive.
    prob : ndarray of float, shape (n_samples,)
        Predicted probability of the positive outcome, in [0, 1].
    n_bins : int, default=10
        Number of equal-width bins over [0, 1].
    sample_weight : ndarray of float or None
        Row weights.

    Returns
    -------
    dict
        ``bins`` (non-empty bins only: ``lower``, ``upper``, ``mean_predicted``,
        ``fraction_positive``, ``count``), ``ece`` and ``mce``.

    Examples
    --------
    >>> import numpy as np
    >>> out = reliability_bins(np.array([True, False]), np.array([0.9, 0.2]), n_bins=5)
    >>> [round(b["fraction_positive"], 2) for b in out["bins"]]
    [0.0, 1.0]
    """
    w = np.ones(prob.shape[0]) if sample_weight is None else sample_weight
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # same rule as sklearn: bin i holds edges[i] < p <= edges[i+1], the first bin includes 0
    which = np.clip(np.searchsorted(edges[1:-1], prob, side="left"), 0, n_bins - 1)
    count = np.bincount(which, weights=w, minlength=n_bins)
    sum_p = np.bincount(which, weights=w * prob, minlength=n_bins)
    sum_y = np.bincount(which, weights=w * y_binary, minlength=n_bins)
    total = float(count.sum())
    bins: list[dict[str, float]] = []
    ece = 0.0
    mce = 0.0
    for i in np.flatnonzero(count > 0):
        mean_p = float(sum_p[i] / count[i])
        frac = float(sum_y[i] / count[i])
        gap = abs(frac - mean_p)
        ece += float(count[i]) / total * gap
        mce = max(mce, gap)
        bins.append(
            {
                "lower": float(edges[i]),
                "upper": float(edges[i + 1]),
                "mean_predicted": mean_p,
                "fraction_positive": frac,
                "count": float(count[i]),
            }
        )
    return {"n_bins": n_bins, "bins": bins, "ece": ece, "mce": mce}


def calibration_summary(
    onehot: NDArray[np.bool_],
    proba: FloatArray,
    names: list[str],
    positive: int | None,
    sample_weight: FloatArray | None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Binary: bins of P(positive class). Multiclass: top-label bins plus one-vs-rest bins."""
    if positive is not None:
        main = reliability_bins(
            onehot[:, positive], proba[:, positive], n_bins=n_bins, sample_weight=sample_weight
        )
        return {"mode": "positive_class", "class": names[positive], **main, "per_class": []}
    top = proba.argmax(axis=1)
    confidence = proba[np.arange(proba.shape[0]), top]
    correct = onehot[np.arange(proba.shape[0]), top]
    main = reliability_bins(correct, confidence, n_bins=n_bins, sample_weight=sample_weight)
    per_class = []
    for k, name in enumerate(names):
        one = reliability_bins(
            onehot[:, k], proba[:, k], n_bins=n_bins, sample_weight=sample_weight
        )
        per_class.append({"name": name, **one})
    return {"mode": "top_label", "class": None, **main, "per_class": per_class}
