"""``CONFUSION_METRICS``: public metric name → function of confusion matrices.

Each function takes ``cm`` of shape ``(..., K, K)`` (rows = true) and the public
function's keyword arguments (``average``, ``labels``, ``pos_label``,
``zero_division``, ``beta``, ``adjusted``, ``weights``, ...), plus ``classes``: the
labels indexing the matrix rows (default ``0..K-1``). It returns ``(...)`` values, or
``(..., L)`` for ``average=None``. A bootstrap over B resampled matrices is one call.

Classes with no true and no predicted sample in a matrix of the batch are left out
of its averages (scikit-learn never sees them on such a resample) unless ``labels``
is given; pass ``keep=None`` to count every class, or a boolean ``(..., K)`` mask.
The public functions call these same functions with ``keep=None``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from polyclass.metrics._accuracy import (
    accuracy_from_cm,
    balanced_accuracy_from_cm,
    hamming_from_cm,
)
from polyclass.metrics._agreement import kappa_from_cm, mcc_from_cm
from polyclass.metrics._prf import (
    fbeta_from_cm,
    jaccard_from_cm,
    specificity_from_cm,
)

CONFUSION_METRICS: dict[str, Callable[..., Any]] = {
    "accuracy_score": accuracy_from_cm,
    "balanced_accuracy_score": balanced_accuracy_from_cm,
    "cohen_kappa_score": kappa_from_cm,
    "f1_score": partial(fbeta_from_cm, beta=1.0, which=2, func="f1_score"),
    "fbeta_score": partial(fbeta_from_cm, which=2, func="fbeta_score"),
    "hamming_loss": hamming_from_cm,
    "jaccard_score": jaccard_from_cm,
    "matthews_corrcoef": mcc_from_cm,
    "precision_score": partial(fbeta_from_cm, which=0, func="precision_score"),
    "recall_score": partial(fbeta_from_cm, which=1, func="recall_score"),
    "specificity_score": specificity_from_cm,
}
