"""polyclass: from a labelled table to a multiclass classifier, evaluated honestly.

Public names are imported lazily so that ``import polyclass`` stays cheap: the
serving path needs NumPy only, and should not pay for scikit-learn or pandas.
"""

from __future__ import annotations

from polyclass._lazy import attach
from polyclass._version import __version__

__all__ = [
    "LogisticRegression",
    "OneVsOneClassifier",
    "OneVsRestClassifier",
    "__version__",
    "load",
    "metrics",
    "train",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "metrics": "polyclass.metrics",
        "LogisticRegression": "polyclass.linear",
        "OneVsRestClassifier": "polyclass.linear",
        "OneVsOneClassifier": "polyclass.linear",
        "train": "polyclass.pipeline",
        "load": "polyclass.model",
    },
    __all__,
)
