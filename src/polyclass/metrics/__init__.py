"""Classification metrics with scikit-learn's names, parameters and results, faster.

Swap ``from sklearn import metrics`` for ``from polyclass import metrics`` and get the
same numbers. Beyond scikit-learn: streaming and mergeable metric states, confidence
intervals, threshold selection by cost and advice on which metric fits a problem.
"""

from __future__ import annotations

# --- label metrics (confusion-matrix based) ---
from sklearn.exceptions import UndefinedMetricWarning

from polyclass.metrics._accuracy import (
    accuracy_score,
    balanced_accuracy_score,
    hamming_loss,
    top_k_accuracy_score,
)
from polyclass.metrics._agreement import cohen_kappa_score, matthews_corrcoef
from polyclass.metrics._confusion import confusion_matrix, multilabel_confusion_matrix
from polyclass.metrics._prf import (
    f1_score,
    fbeta_score,
    jaccard_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    specificity_score,
)
from polyclass.metrics._report import classification_report

# isort: split
# --- score metrics (ranking, curves, probabilistic) ---
from polyclass.metrics._auc import average_precision_score, roc_auc_score
from polyclass.metrics._curves import auc, det_curve, precision_recall_curve, roc_curve
from polyclass.metrics._probabilistic import brier_score_loss, log_loss
from polyclass.metrics._score_state import ScoreCurveState

# isort: split
# --- beyond sklearn: streaming states, uncertainty, thresholds, advice ---
from polyclass.metrics._advice import MetricAdvice, MetricChoice, recommend_metric
from polyclass.metrics._bootstrap import bootstrap_ci
from polyclass.metrics._boundary import boundary_interval
from polyclass.metrics._decision import bayes_decision, expected_cost
from polyclass.metrics._intervals import (
    ConfidenceInterval,
    DelongTest,
    PrecisionRecallIntervals,
    delong_test,
    precision_recall_intervals,
    roc_auc_ci,
    wilson_interval,
)
from polyclass.metrics._label_state import ConfusionMatrixState
from polyclass.metrics._paired import (
    McNemarTest,
    PairedDifference,
    delong_ovr_test,
    mcnemar_test,
    paired_bootstrap,
)
from polyclass.metrics._thresholds import ThresholdChoice, select_threshold

__all__: list[str] = [
    "ConfidenceInterval",
    "ConfusionMatrixState",
    "DelongTest",
    "McNemarTest",
    "MetricAdvice",
    "MetricChoice",
    "PairedDifference",
    "PrecisionRecallIntervals",
    "ScoreCurveState",
    "ThresholdChoice",
    "UndefinedMetricWarning",
    "accuracy_score",
    "auc",
    "average_precision_score",
    "balanced_accuracy_score",
    "bayes_decision",
    "bootstrap_ci",
    "boundary_interval",
    "brier_score_loss",
    "classification_report",
    "cohen_kappa_score",
    "confusion_matrix",
    "delong_ovr_test",
    "delong_test",
    "det_curve",
    "expected_cost",
    "f1_score",
    "fbeta_score",
    "hamming_loss",
    "jaccard_score",
    "log_loss",
    "matthews_corrcoef",
    "mcnemar_test",
    "multilabel_confusion_matrix",
    "paired_bootstrap",
    "precision_recall_curve",
    "precision_recall_fscore_support",
    "precision_recall_intervals",
    "precision_score",
    "recall_score",
    "recommend_metric",
    "roc_auc_ci",
    "roc_auc_score",
    "roc_curve",
    "select_threshold",
    "specificity_score",
    "top_k_accuracy_score",
    "wilson_interval",
]
