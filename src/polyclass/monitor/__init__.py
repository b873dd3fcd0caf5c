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
    from polyclass.monitor._alerts import Alert
    from polyclass.monitor._config import ColumnRule, MonitorConfig
    from polyclass.monitor._data_drift import data_drift
    from polyclass.monitor._drift import DriftSummary, FeatureDrift, feature_drift
    from polyclass.monitor._monitor import MonitorResult, monitor, monitor_gauges
    from polyclass.monitor._resolve import ResolvedModel, resolve_model
    from polyclass.monitor._rows import row_hashes
    from polyclass.predlog import LogData, LogError, read_log

__all__ = [
    "Alert",
    "CategoricalReference",
    "ColumnRule",
    "DriftSummary",
    "FeatureDrift",
    "LogData",
    "LogError",
    "MonitorConfig",
    "MonitorResult",
    "NumericReference",
    "Reference",
    "ResolvedModel",
    "compute_reference",
    "data_drift",
    "feature_drift",
    "monitor",
    "monitor_gauges",
    "read_log",
    "resolve_model",
    "row_hashes",
]

_LAZY: dict[str, str] = {
    "Alert": "polyclass.monitor._alerts",
    "ColumnRule": "polyclass.monitor._config",
    "MonitorConfig": "polyclass.monitor._config",
    "data_drift": "polyclass.monitor._data_drift",
    "DriftSummary": "polyclass.monitor._drift",
    "FeatureDrift": "polyclass.monitor._drift",
    "feature_drift": "polyclass.monitor._drift",
    "row_hashes": "polyclass.monitor._rows",
    "LogData": "polyclass.predlog",
    "LogError": "polyclass.predlog",
    "read_log": "polyclass.predlog",
    "MonitorResult": "polyclass.monitor._monitor",
    "monitor": "polyclass.monitor._monitor",
    "monitor_gauges": "polyclass.monitor._monitor",
    "ResolvedModel": "polyclass.monitor._resolve",
    "resolve_model": "polyclass.monitor._resolve",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polyclass.monitor' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
