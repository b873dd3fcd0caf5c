"""Logistic regression for multiclass problems: multinomial, one-vs-rest, one-vs-one.

The estimators load scikit-learn (their base classes) on first use;
``LinearMulticlassPredictor`` predicts from stored coefficients with NumPy alone, for
the serving path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyclass._lazy import attach

if TYPE_CHECKING:
    from polyclass.linear._combine import LinearMulticlassPredictor
    from polyclass.linear._logistic import LogisticRegression
    from polyclass.linear._ovo import OneVsOneClassifier
    from polyclass.linear._ovr import OneVsRestClassifier
    from polyclass.linear._scores import linear_scores, proba_from_scores
    from polyclass.linear._stored import STORED_ESTIMATORS, check_stored_estimator

__all__ = [
    "STORED_ESTIMATORS",
    "LinearMulticlassPredictor",
    "LogisticRegression",
    "OneVsOneClassifier",
    "OneVsRestClassifier",
    "check_stored_estimator",
    "linear_scores",
    "proba_from_scores",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "LinearMulticlassPredictor": "polyclass.linear._combine",
        "LogisticRegression": "polyclass.linear._logistic",
        "OneVsOneClassifier": "polyclass.linear._ovo",
        "OneVsRestClassifier": "polyclass.linear._ovr",
        "STORED_ESTIMATORS": "polyclass.linear._stored",
        "check_stored_estimator": "polyclass.linear._stored",
        "linear_scores": "polyclass.linear._scores",
        "proba_from_scores": "polyclass.linear._scores",
    },
    __all__,
)
