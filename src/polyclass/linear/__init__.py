"""Linear classifiers: logistic regression (binary and multinomial) on our own solvers."""

from polyclass.linear._logistic import LogisticRegression

__all__ = [
    "LogisticRegression",
]
