"""Pickle-free state of a fitted ``LogisticRegression``: JSON metadata plus arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass._json import plain

FORMAT = "polyclass.LogisticRegression"
VERSION = 1
_PARAMS = (
    "C",
    "l1_ratio",
    "fit_intercept",
    "class_weight",
    "tol",
    "max_iter",
    "solver",
    "warm_start",
    "random_state",
    "verbose",
    "dtype",
)


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else repr(float(x))  # 'inf'


def _encode_classes(classes: NDArray[Any]) -> tuple[NDArray[Any], str]:
    if classes.dtype != object:
        return classes, classes.dtype.str
    if all(isinstance(c, str) for c in classes):
        return classes.astype(str), "object-str"
    raise ValueError(
        "to_state supports class labels that are numbers, bools or strings; got labels of "
        f"types {sorted({type(c).__name__ for c in classes})}. Encode y as strings or ints."
    )


def logistic_to_state(est: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    classes, classes_kind = _encode_classes(np.asarray(est.classes_))
    params: dict[str, Any] = {}
    for name in _PARAMS:
        value = getattr(est, name)
        if name == "C":
            value = _json_float(float(value))
        elif name == "class_weight" and isinstance(value, dict):
            value = {"pairs": [[plain(k), float(v)] for k, v in value.items()]}
        elif name == "random_state" and not (value is None or isinstance(value, int)):
            value = None  # a RandomState object does not matter for prediction
        elif name == "dtype":
            value = np.dtype(value).name
        params[name] = plain(value)
    names = getattr(est, "feature_names_in_", None)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "params": params,
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "classes_kind": classes_kind,
    }
    arrays = {
        "coef": np.ascontiguousarray(est.coef_),
        "intercept": np.ascontiguousarray(est.intercept_),
        "classes": np.ascontiguousarray(classes),
        "n_iter": np.asarray(est.n_iter_),
    }
    return meta, arrays


def logistic_from_state(est: Any, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"This state is not a {FORMAT} (format={meta.get('format')!r}); "
            "load it with the class that wrote it."
        )
    if meta.get("version") != VERSION:
        raise ValueError(
            f"{FORMAT} state version {meta.get('version')!r} is not supported; this "
            f"polyclass reads version {VERSION}. Upgrade polyclass or re-export the model."
        )
    missing = [k for k in ("coef", "intercept", "classes", "n_iter") if k not in arrays]
    if missing:
        raise ValueError(f"{FORMAT} state lacks arrays {missing}; the artifact is incomplete.")
    params = dict(meta["params"])
    if isinstance(params.get("C"), str):
        params["C"] = float(params["C"])
    cw = params.get("class_weight")
    if isinstance(cw, dict):
        params["class_weight"] = {k: v for k, v in cw["pairs"]}
    est.set_params(**params)
    coef = np.asarray(arrays["coef"])
    intercept = np.asarray(arrays["intercept"])
    classes = np.asarray(arrays["classes"])
    n_features = int(meta["n_features_in"])
    k = 1 if classes.shape[0] == 2 else classes.shape[0]
    if coef.shape != (k, n_features) or intercept.shape != (k,):
        raise ValueError(
            f"{FORMAT} state is inconsistent: {classes.shape[0]} classes and "
            f"{n_features} features need coef of shape {(k, n_features)} and intercept of "
            f"shape {(k,)}; got {coef.shape} and {intercept.shape}."
        )
    if meta.get("classes_kind") == "object-str":
        classes = classes.astype(object)
    est.classes_ = classes
    est.coef_ = coef
    est.intercept_ = intercept
    est.n_iter_ = np.asarray(arrays["n_iter"])
    est.n_features_in_ = n_features
    names = meta.get("feature_names_in")
    if names is not None:
        est.feature_names_in_ = np.asarray(names, dtype=object)
