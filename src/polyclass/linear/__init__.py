"""Linear classifiers: logistic regression (binary and multinomial) on our own solvers."""

from polyclass.linear._logistic import LogisticRegression
from polyclass.linear._ovo import OneVsOneClassifier
from polyclass.linear._ovr import OneVsRestClassifier

__all__ = [
    "LogisticRegression",
    "OneVsOneClassifier",
    "OneVsRestClassifier",
]
