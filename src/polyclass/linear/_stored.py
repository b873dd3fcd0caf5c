"""Which stored estimator states this polyclass can rebuild, checked with NumPy alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyclass.linear._multiclass_state import STATE_FORMAT, STATE_VERSION
from polyclass.linear._state import FORMAT, VERSION

#: Estimator class name -> (state ``format``, state ``version``, wrapper ``strategy``).
STORED_ESTIMATORS: Mapping[str, tuple[str, int, str | None]] = {
    "LogisticRegression": (FORMAT, VERSION, None),
    "OneVsRestClassifier": (STATE_FORMAT, STATE_VERSION, "ovr"),
    "OneVsOneClassifier": (STATE_FORMAT, STATE_VERSION, "ovo"),
}


def check_stored_estimator(type_name: Any, state: Any) -> None:
    """Refuse an estimator state that ``from_state`` of ``type_name`` would not rebuild.

    Only the header is checked (class name, state format, version and strategy), so a
    server can refuse what ``polyclass.load`` refuses without importing scikit-learn.

    Parameters
    ----------
    type_name : str
        The estimator's class name as stored.
    state : dict
        The JSON half of its ``to_state()``.

    Raises
    ------
    ValueError
        Naming the field that is unknown and what this polyclass reads.

    Examples
    --------
    >>> check_stored_estimator("Perceptron", {})
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
