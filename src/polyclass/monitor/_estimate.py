"""Performance *estimated* before labels arrive, from the model's own probabilities.

Confidence-based performance estimation (CBPE, as in NannyML): if the probabilities
are calibrated, a row predicted ``j`` with probabilities ``p`` is truly class ``i``
with probability ``p_i``. Summing over rows gives the *expected* confusion matrix
``E[C[i, j]] = sum over rows predicted j of p_i`` and from it the expected accuracy,
per-class precision / recall / F1 and their averages. The number of correct rows is a
sum of independent Bernoulli(``p_pred``) variables, so the accuracy estimate carries
a normal interval from their variance ``sum p (1 - p)``: the spread the realised
accuracy would have if the probabilities are right.

It is an estimate: it assumes the probabilities stay calibrated under the new data
(true under covariate shift when the model is well specified, false under concept
drift), which is why the report shows it beside the realised metrics once labels come.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

#: Fewer rows than this and there is no estimate: the normal interval of the accuracy
#: and the per-class averages mean little on a handful (one row gave accuracy 0.9999).
MIN_ROWS = 30


def expected_confusion(
    proba: NDArray[np.float64],
    pred: NDArray[np.intp],
    groups: NDArray[np.intp] | None = None,
    n_groups: int = 1,
) -> NDArray[np.float64]:
    """Expected confusion matrices (groups, true, predicted) from probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> expected_confusion(np.array([[0.9, 0.1], [0.3, 0.7]]), np.array([0, 1]))[0]
    array([[0.9, 0.3],
           [0.1, 0.7]])
    """
    k = proba.shape[1]
    key = pred if groups is None else groups * k + pred
    out = np.empty((n_groups, k, k), dtype=np.float64)
    for i in range(k):
        out[:, i, :] = np.bincount(key, weights=proba[:, i], minlength=n_groups * k).reshape(
            n_groups, k
        )
    return out


def _safe(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def estimate_metrics(
    cm: NDArray[np.float64],
    correct_var: float,
    classes: list[str],
    *,
    confidence_level: float = 0.95,
) -> dict[str, Any]:
    """Estimated metrics of one expected confusion matrix, as JSON (``estimated: true``)."""
    n = float(cm.sum())
    if n <= 0:
        return {"n": 0, "estimated": True}
    if round(n) < MIN_ROWS:
        return {
            "n": round(n),
            "estimated": True,
            "too_few_rows": f"too few rows to estimate: {round(n)}, at least {MIN_ROWS} needed",
        }
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _safe(tp, predicted)
    recall = _safe(tp, support)
    f1 = _safe(2 * tp, predicted + support)
    z = float(ndtri(1 - (1 - confidence_level) / 2))
    acc = float(tp.sum() / n)
    half = z * np.sqrt(correct_var) / n
    w = support / n

    def avg(v: NDArray[np.float64], weights: NDArray[np.float64] | None) -> float | None:
        # Classes whose value is undefined (never predicted, no expected rows) are left out.
        ok = np.isfinite(v)
        if not ok.any():
            return None
        if weights is None:
            return float(v[ok].mean())
        return float(v[ok] @ weights[ok] / weights[ok].sum()) if weights[ok].sum() > 0 else None

    return {
        "estimated": True,
        "n": round(n),
        "accuracy": acc,
        "accuracy_ci": [max(0.0, acc - half), min(1.0, acc + half)],
        "precision_macro": avg(precision, None),
        "recall_macro": avg(recall, None),
        "f1_macro": avg(f1, None),
        "f1_weighted": avg(f1, w),
        "per_class": {
            c: {
                "precision": _clean(precision[i]),
                "recall": _clean(recall[i]),
                "f1": _clean(f1[i]),
                "expected_support": float(support[i]),
            }
            for i, c in enumerate(classes)
        },
    }


def _clean(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def estimate_performance(
    proba: NDArray[np.float64],
    pred: NDArray[np.intp],
    classes: list[str],
    groups: NDArray[np.intp] | None = None,
    n_groups: int = 1,
    *,
    confidence_level: float = 0.95,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(overall, per-group) estimated metrics of predictions without labels.

    Parameters
    ----------
    proba : ndarray of shape (n, n_classes)
        Logged probabilities (rows with NaN are left out).
    pred : ndarray of shape (n,)
        Code of the logged predicted class (index into ``classes``; < 0 = unknown).
    classes : list of str
    groups, n_groups : optional
        Window of each row and the number of windows.
    """
    ok = np.isfinite(proba).all(axis=1) & (pred >= 0) & (pred < len(classes))
    if groups is not None:
        ok &= (groups >= 0) & (groups < n_groups)
    g = groups
    if not ok.all():  # copies only when some rows are left out
        proba, pred = proba[ok], pred[ok]
        g = None if groups is None else groups[ok]
    cms = expected_confusion(proba, pred, g, n_groups)
    p_hat = proba[np.arange(pred.size), pred] if pred.size else np.zeros(0)
    var = p_hat * (1 - p_hat)
    var_g = (
        np.bincount(g, weights=var, minlength=n_groups) if g is not None else np.array([var.sum()])
    )
    per = [
        estimate_metrics(cms[i], float(var_g[i]), classes, confidence_level=confidence_level)
        for i in range(n_groups)
    ]
    overall = estimate_metrics(
        cms.sum(axis=0), float(var.sum()), classes, confidence_level=confidence_level
    )
    return overall, per
