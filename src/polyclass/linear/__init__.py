"""Logistic regression for multiclass problems: multinomial, one-vs-rest, one-vs-one.

The estimators load scikit-learn (their base classes) on first use;
``LinearMulticlassPredictor`` predicts from stored coefficients with NumPy alone, for
the serving path. The solver's parts (``LogisticLoss``, ``newton_cg``, ``pcg``,
``subsample_preconditioner``, ``forcing_term``) and ``fitted_from_coefficients`` are
public for ``polyclass.scale``, which runs the same solver on a loss summed over a
cluster's blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyclass._lazy import attach

if TYPE_CHECKING:
    from polyclass.linear._combine import LinearMulticlassPredictor
    from polyclass.linear._fitted import fitted_from_coefficients
    from polyclass.linear._lbfgs import lbfgs
    from polyclass.linear._logistic import LogisticRegression
    from polyclass.linear._loss import CurvatureState, LogisticLoss, dense_hessian
    from polyclass.linear._newton import (
        SolveResult,
        forcing_term,
        newton_cg,
        pcg,
        subsample_preconditioner,
    )
    from polyclass.linear._ovo import OneVsOneClassifier
    from polyclass.linear._ovr import OneVsRestClassifier
    from polyclass.linear._scores import linear_scores, proba_from_scores
    from polyclass.linear._stored import STORED_ESTIMATORS, check_stored_estimator

__all__ = [
    "STORED_ESTIMATORS",
    "CurvatureState",
    "LinearMulticlassPredictor",
    "LogisticLoss",
    "LogisticRegression",
    "OneVsOneClassifier",
    "OneVsRestClassifier",
    "SolveResult",
    "check_stored_estimator",
    "dense_hessian",
    "fitted_from_coefficients",
    "forcing_term",
    "lbfgs",
    "linear_scores",
    "newton_cg",
    "pcg",
    "proba_from_scores",
    "subsample_preconditioner",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "CurvatureState": "polyclass.linear._loss",
        "LinearMulticlassPredictor": "polyclass.linear._combine",
        "LogisticLoss": "polyclass.linear._loss",
        "SolveResult": "polyclass.linear._newton",
        "dense_hessian": "polyclass.linear._loss",
        "fitted_from_coefficients": "polyclass.linear._fitted",
        "forcing_term": "polyclass.linear._newton",
        "lbfgs": "polyclass.linear._lbfgs",
        "newton_cg": "polyclass.linear._newton",
        "pcg": "polyclass.linear._newton",
        "subsample_preconditioner": "polyclass.linear._newton",
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
