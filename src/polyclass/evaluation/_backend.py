"""The one place evaluation gets its metric functions from: :mod:`polyclass.metrics`.

Every number in ``evaluate`` goes through these names (the same names, parameters and
results as ``sklearn.metrics``), plus the interval tools only polyclass has.
"""

from __future__ import annotations

from polyclass.metrics import (
    accuracy_score,
    auc,
    average_precision_score,
    balanced_accuracy_score,
    bootstrap_ci,
    confusion_matrix,
    log_loss,
    matthews_corrcoef,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_ci,
    roc_auc_score,
    roc_curve,
    wilson_interval,
)

__all__ = [
    "accuracy_score",
    "auc",
    "average_precision_score",
    "balanced_accuracy_score",
    "bootstrap_ci",
    "confusion_matrix",
    "log_loss",
    "matthews_corrcoef",
    "precision_recall_curve",
    "precision_recall_fscore_support",
    "roc_auc_ci",
    "roc_auc_score",
    "roc_curve",
    "wilson_interval",
]
