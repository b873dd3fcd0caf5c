"""Model families: a search space, an estimator and a pickle-free stored form for each.

Each :class:`Family` builds a scikit-learn-compatible estimator and exports the fitted
one as JSON metadata and plain arrays; its :meth:`Family.predictor` rebuilds, with
NumPy alone, a predictor whose probabilities equal the fitted estimator's. Importing
this package loads NumPy only; a family imports its library when it builds or exports.
"""

from __future__ import annotations

from polyclass.families._calibration import METHODS as CALIBRATION_METHODS
from polyclass.families._calibration import calibrated
from polyclass.families._catalog import FAMILIES, get_family
from polyclass.families._family import Family, Predictor

__all__ = [
    "CALIBRATION_METHODS",
    "FAMILIES",
    "Family",
    "Predictor",
    "calibrated",
    "get_family",
]
