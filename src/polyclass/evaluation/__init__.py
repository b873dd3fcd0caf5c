"""Evaluate a classifier honestly: metrics with intervals, curves, calibration, importance.

:func:`evaluate` turns true labels and predicted probabilities into one JSON-able dict
that the report renders and ``metrics.json`` stores. :func:`permutation_importance`,
:func:`partial_dependence` and :func:`coefficient_table` explain which features the model relies on.
"""

from __future__ import annotations

from polyclass.evaluation._calibration import reliability_bins
from polyclass.evaluation._curves import decimate_index
from polyclass.evaluation._importance import coefficient_table, permutation_importance
from polyclass.evaluation._partial import partial_dependence
from polyclass.evaluation._summary import evaluate

__all__ = [
    "coefficient_table",
    "decimate_index",
    "evaluate",
    "partial_dependence",
    "permutation_importance",
    "reliability_bins",
]
