"""polyclass: from a labelled table to a multiclass classifier, evaluated honestly.

Public names are imported lazily so that ``import polyclass`` stays cheap: the
serving path needs NumPy only, and should not pay for scikit-learn or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

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

# public name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "metrics": ("polyclass.metrics", None),
    "LogisticRegression": ("polyclass.linear", "LogisticRegression"),
    "OneVsRestClassifier": ("polyclass.linear", "OneVsRestClassifier"),
    "OneVsOneClassifier": ("polyclass.linear", "OneVsOneClassifier"),
    "train": ("polyclass.pipeline", "train"),
    "load": ("polyclass.model", "load"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'polyclass' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
