"""Which stored estimator states this polyclass can rebuild, checked with NumPy alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.linear._multiclass_state import STATE_FORMAT, STATE_VERSION
from polyclass.linear._state import FORMAT, VERSION

#: Estimator class name -> (state ``format``, state ``version``, wrapper ``strategy``).
STORED_ESTIMATORS: Mapping[str, tuple[str, int, str | None]] = {
    "LogisticRegression": (FORMAT, VERSION, None),
    "OneVsRestClassifier": (STATE_FORMAT, STATE_VERSION, "ovr"),
    "OneVsOneClassifier": (STATE_FORMAT, STATE_VERSION, "ovo"),
}


def check_stored_estimator(type_name: Any, state: Any, arrays: Mapping[str, NDArray[Any]]) -> None:
    """Refuse an estimator state that ``from_state`` of ``type_name`` would not rebuild.

    The header (class name, state format, version, strategy), the fields prediction
    uses and the arrays' shapes are checked with NumPy alone, so a server refuses what
    ``polyclass.load`` refuses without importing scikit-learn.

    Parameters
    ----------
    type_name : str
        The estimator's class name as stored.
    state : dict
        The JSON half of its ``to_state()``.
    arrays : dict of str to ndarray
        The array half: ``coef``, ``intercept``, ``classes``, ``n_iter``.

    Raises
    ------
    ValueError
        Naming the field or array that is wrong and what this polyclass reads.

    Examples
    --------
    >>> check_stored_estimator("Perceptron", {}, {})
    Traceback (most recent call last):
    ...
    ValueError: estimator type 'Perceptron' is not one this polyclass reads ...
    """
    known = STORED_ESTIMATORS.get(type_name) if isinstance(type_name, str) else None
    if known is None:
        raise ValueError(
            f"estimator type {type_name!r} is not one this polyclass reads "
            f"({', '.join(STORED_ESTIMATORS)}); upgrade polyclass to load it"
        )
    form, version, strategy = known
    if not isinstance(state, Mapping):
        raise ValueError(f"the {type_name} state is a {type(state).__name__}, not an object")
    got = (state.get("format"), state.get("version"))
    if got != (form, version):
        raise ValueError(
            f"the {type_name} state has format {got[0]!r} version {got[1]!r}; this "
            f"polyclass reads format {form!r} version {version}. Upgrade polyclass to load it"
        )
    if strategy is not None and state.get("strategy") != strategy:
        raise ValueError(
            f"the {type_name} state has strategy {state.get('strategy')!r}, expected "
            f"{strategy!r}; the type and the state disagree"
        )
    _check_fields(type_name, state, "params" if strategy is None else "estimator_params")
    _check_arrays(type_name, strategy, int(state["n_features_in"]), arrays)


def _check_fields(type_name: str, state: Mapping[str, Any], params: str) -> None:
    n_features = state.get("n_features_in")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 0:
        raise ValueError(f"the {type_name} state has n_features_in={n_features!r}")
    if not isinstance(state.get(params), Mapping):
        raise ValueError(f"the {type_name} state has no {params!r} object")
    names = state.get("feature_names_in")
    if names is not None and not (
        isinstance(names, list)
        and len(names) == n_features
        and all(isinstance(n, str) for n in names)
    ):
        raise ValueError(f"the {type_name} state's feature_names_in is not {n_features} names")


def _check_arrays(
    type_name: str, strategy: str | None, n_features: int, arrays: Mapping[str, NDArray[Any]]
) -> None:
    missing = [name for name in ("classes", "coef", "intercept", "n_iter") if name not in arrays]
    if missing:
        raise ValueError(f"the {type_name} state lacks the arrays {missing}")
    classes, coef = arrays["classes"], arrays["coef"]
    n_classes = len(classes) if classes.ndim == 1 else 0
    if n_classes < 2:
        raise ValueError(f"the {type_name} state's classes are not a list of 2 or more labels")
    if strategy == "ovo":
        n_models = n_classes * (n_classes - 1) // 2
    else:
        n_models = 1 if n_classes == 2 else n_classes
    shape = (n_models, n_features) if strategy is None else (n_features, n_models)
    if coef.shape != shape or arrays["intercept"].shape != (n_models,):
        raise ValueError(
            f"the {type_name} state of {n_classes} classes and {n_features} features needs "
            f"coef of shape {shape} and intercept of shape ({n_models},); it holds "
            f"{coef.shape} and {arrays['intercept'].shape}"
        )
    for name in ("coef", "intercept"):
        values = arrays[name]
        # a non-finite coefficient makes every probability NaN, served as a confident label
        if values.dtype.kind != "f" or not np.all(np.isfinite(values)):
            raise ValueError(
                f"the {type_name} state's {name} array holds values that are not finite "
                f"floats ({values.dtype}); the artifact is damaged or was edited by hand: "
                "train the model again"
            )
