"""Pickle-free state of a fitted OvR/OvO wrapper of LogisticRegression: JSON + arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

STATE_FORMAT = "polyclass.linear.multiclass"
STATE_VERSION = 1


def _encode_param(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, dict):
        return {
            "dict": [[_encode_param(name, k), _encode_param(name, v)] for k, v in value.items()]
        }
    if (isinstance(value, type) and issubclass(value, np.generic)) or isinstance(value, np.dtype):
        return {"dtype": np.dtype(value).name}
    if name == "random_state" and isinstance(value, np.random.RandomState):
        return None  # only seeds fitting; prediction does not depend on it
    raise ValueError(
        f"The estimator parameter {name}={value!r} cannot be stored as JSON. Set it to "
        "None, a number, a string or a dict of those before fitting."
    )


def _decode_param(value: Any) -> Any:
    if isinstance(value, dict):
        if "float" in value:
            return float(value["float"])
        if "dtype" in value:
            return np.dtype(value["dtype"]).type
        return {_decode_param(k): _decode_param(v) for k, v in value["dict"]}
    return value


def label_array(classes: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Class labels as an array ``np.save`` can write without pickle (no object dtype)."""
    if classes.dtype != object:
        return classes
    plain = np.asarray(classes.tolist())
    if (
        plain.dtype != object
        and plain.shape == classes.shape
        and plain.tolist() == classes.tolist()
    ):
        return plain
    raise ValueError(
        "Only labels that are all numbers or all strings can be stored without pickle; got "
        f"labels of types {sorted({type(c).__name__ for c in classes})}. Encode y first."
    )


def encode_state(model: Any, predictor: Any) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """``to_state``'s output for a wrapper fitted on the fast path."""
    params = model.estimator.get_params(deep=False)
    names = getattr(model, "feature_names_in_", None)
    meta = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "strategy": model._strategy,
        "estimator": type(model.estimator).__name__,
        "estimator_params": {k: _encode_param(k, v) for k, v in sorted(params.items())},
        "n_jobs": model.n_jobs,
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
    }
    arrays = {
        "coef": predictor.coef,
        "intercept": predictor.intercept,
        "n_iter": np.array([int(e.n_iter_[0]) for e in model.estimators_], dtype=np.int64),
        "classes": label_array(model.classes_),
    }
    return meta, arrays


def check_state(
    strategy: str, owner: str, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]
) -> dict[str, Any]:
    """Refuse a state that is not a complete ``strategy`` model; return the estimator params."""
    if meta.get("format") != STATE_FORMAT or meta.get("version") != STATE_VERSION:
        raise ValueError(
            f"Not a stored multiclass model: expected format {STATE_FORMAT!r} version "
            f"{STATE_VERSION}; got {meta.get('format')!r} version {meta.get('version')!r}."
        )
    if meta.get("strategy") != strategy:
        right = "OneVsRestClassifier" if meta.get("strategy") == "ovr" else "OneVsOneClassifier"
        raise ValueError(
            f"This state is a {meta.get('strategy')!r} model; load it with "
            f"{right}.from_state, not {owner}.from_state."
        )
    missing = {"coef", "intercept", "n_iter", "classes"} - set(arrays)
    if missing:
        raise ValueError(f"The stored arrays lack {sorted(missing)}; the state is incomplete.")
    if meta.get("estimator") != "LogisticRegression":
        raise ValueError(
            "A stored multiclass model wraps polyclass's LogisticRegression; this one "
            f"names {meta.get('estimator')!r}. The state is corrupt or from elsewhere."
        )
    return {k: _decode_param(v) for k, v in meta["estimator_params"].items()}
