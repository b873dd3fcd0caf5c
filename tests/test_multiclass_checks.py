"""scikit-learn's estimator checks on the one-vs-rest and one-vs-one wrappers.

Both paths are checked: the fast one (the exact polyclass ``LogisticRegression``) and
the generic one (any other binary classifier; here a subclass, which the wrappers treat
as foreign). ``test_multiclass.py`` runs the generic path on scikit-learn's own
``LogisticRegression`` against scikit-learn's wrappers.
"""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from polyclass import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier


class GenericLogisticRegression(LogisticRegression):
    """Not exactly polyclass's LogisticRegression, so the wrappers take the generic path."""


ESTIMATORS = [
    OneVsRestClassifier(LogisticRegression()),
    OneVsOneClassifier(LogisticRegression()),
    OneVsRestClassifier(GenericLogisticRegression()),
    OneVsOneClassifier(GenericLogisticRegression()),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator: Any, check: Any) -> None:
    check(estimator)
