"""Watch a deployed model: data drift, prediction drift, live performance, alerts.

Reference statistics (:func:`compute_reference`) are stored in the model artifact at
training time; everything else reads the prediction log that ``polyclass serve`` writes
(see ``docs/architecture.md``) and compares it with them. Only the reference module is
imported eagerly (training needs it); the rest loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from polyclass.monitor._reference import (
    CategoricalReference,
    NumericReference,
    Reference,
    compute_reference,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "CategoricalReference",
    "NumericReference",
    "Reference",
    "compute_reference",
]

_LAZY: dict[str, str] = {}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polyclass.monitor' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
