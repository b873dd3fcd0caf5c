"""The one place evaluation gets its metric functions from.

Every number comes from :mod:`polyclass.metrics`. A scikit-learn name that module does
not provide (``log_loss``) falls back to :mod:`sklearn.metrics`, which has the same
name, parameters and results, so the rest of the package never needs to know which one
it got. Intervals (Wilson, DeLong, bootstrap) exist only in polyclass.
"""

from __future__ import annotations

from typing import Any

import sklearn.metrics as _sklearn_metrics

from polyclass import metrics as _polyclass_metrics


def _pick(name: str) -> Any:
    found = getattr(_polyclass_metrics, name, None)
    if found is not None:
        return found
    return getattr(_sklearn_metrics, name)


def provider(name: str) -> str:
    """Name of the module a metric function comes from (for tests and diagnostics)."""
    return "polyclass.metrics" if hasattr(_polyclass_metrics, name) else "sklearn.metrics"


accuracy_score = _pick("accuracy_score")
auc = _pick("auc")
average_precision_score = _pick("average_precision_score")
balanced_accuracy_score = _pick("balanced_accuracy_score")
bootstrap_ci = _polyclass_metrics.bootstrap_ci
confusion_matrix = _pick("confusion_matrix")
log_loss = _pick("log_loss")
matthews_corrcoef = _pick("matthews_corrcoef")
precision_recall_curve = _pick("precision_recall_curve")
precision_recall_fscore_support = _pick("precision_recall_fscore_support")
roc_auc_score = _pick("roc_auc_score")
roc_auc_ci = _polyclass_metrics.roc_auc_ci
roc_curve = _pick("roc_curve")
wilson_interval = _polyclass_metrics.wilson_interval
