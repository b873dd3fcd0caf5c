"""scikit-learn's estimator checks on the one-vs-rest and one-vs-one wrappers."""

from __future__ import annotations

from typing import Any

from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from polyclass.linear._logistic import LogisticRegression
from polyclass.linear._ovo import OneVsOneClassifier
from polyclass.linear._ovr import OneVsRestClassifier

ESTIMATORS = [
    OneVsRestClassifier(LogisticRegression()),
    OneVsOneClassifier(LogisticRegression()),
    OneVsRestClassifier(SklearnLogisticRegression()),
    OneVsOneClassifier(SklearnLogisticRegression()),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator: Any, check: Any) -> None:
    check(estimator)
