"""The one rule for values that do not exist: which ``evaluate`` metrics are undefined.

A metric whose defining quantity is 0/0 on these rows (MCC with one class, a macro
average over a class whose value is undefined, a ranking metric with a single class in
y_true) has no value. ``evaluate`` stores it as ``value: None`` with
``undefined: <reason>``, and the CLI and the report show "undefined" and that reason,
never the 0 that scikit-learn's ``zero_division`` substitutes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def _listed(names: list[str], mask: NDArray[np.bool_]) -> str:
    return ", ".join(repr(n) for n, m in zip(names, mask, strict=True) if m)


def undefined_metrics(
    names: list[str], support: FloatArray, predicted: FloatArray, pos: int | None
) -> dict[str, str]:
    """Metric name -> why it is undefined, from the classes' true and predicted totals.

    Parameters
    ----------
    names : list of str
        Class names, in the order of ``support`` and ``predicted``.
    support, predicted : ndarray of shape (n_classes,)
        (Weighted) rows of each true and each predicted class.
    pos : int or None
        The positive class of a binary problem, else None.
    """
    out: dict[str, str] = {}
    n_true, n_pred = int((support > 0).sum()), int((predicted > 0).sum())
    if n_true < 2 or n_pred < 2:
        which = "y_true holds" if n_true < 2 else "the predictions hold"
        out["matthews_corrcoef"] = f"undefined: {which} a single class, so the correlation is 0/0"
    never_pred, never_true = predicted == 0, support == 0
    if never_pred.any():
        out["precision_macro"] = (
            f"undefined: class(es) {_listed(names, never_pred)} are never predicted, so "
            "their precision (and its macro average) does not exist"
        )
    if never_true.any():
        out["recall_macro"] = (
            f"undefined: class(es) {_listed(names, never_true)} never occur in y_true, so "
            "their recall (and its macro average) does not exist"
        )
    neither = never_pred & never_true
    if neither.any():
        out["f1_macro"] = (
            f"undefined: class(es) {_listed(names, neither)} neither occur nor are "
            "predicted, so their F1 (and its macro average) does not exist"
        )
    if pos is not None:
        _binary(out, names[pos], support, predicted, pos)
    elif n_true < 2:
        # The averages run over the classes whose one-vs-rest curve exists, which needs
        # rows of the class and rows of others: with one class in y_true, none has both.
        reason = (
            "undefined: y_true holds a single class, so no one-vs-rest ROC or "
            "precision-recall curve exists"
        )
        for key in (
            "roc_auc_ovr",
            "roc_auc_ovr_weighted",
            "average_precision",
            "average_precision_weighted",
        ):
            out[key] = reason
    return out


def _binary(
    out: dict[str, str], name: str, support: FloatArray, predicted: FloatArray, pos: int
) -> None:
    if predicted[pos] == 0:
        out["precision"] = f"undefined: the positive class {name!r} is never predicted"
    if support[pos] == 0:
        out["recall"] = f"undefined: the positive class {name!r} never occurs in y_true"
    if support[pos] == 0 and predicted[pos] == 0:
        out["f1"] = f"undefined: the positive class {name!r} neither occurs nor is predicted"
    if (support > 0).sum() < 2:
        out["roc_auc"] = out["average_precision"] = (
            "undefined: y_true holds a single class, so the ROC and precision-recall "
            "curves do not exist"
        )


def apply_undefined(metrics: dict[str, dict[str, Any]], reasons: dict[str, str]) -> None:
    """Set each metric's ``undefined`` reason; an undefined one loses value and interval."""
    for key, entry in metrics.items():
        reason = reasons.get(key)
        if reason is None and entry.get("value") is None:
            reason = "undefined on these rows"
        entry["undefined"] = reason
        if reason is not None:
            entry.update(value=None, ci=None, ci_method=None)
