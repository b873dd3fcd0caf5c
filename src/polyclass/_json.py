"""NumPy values to JSON types: the one conversion every package uses (NumPy only).

``polyclass.artifact`` keeps its own strict check (it refuses what it cannot store
faithfully); everything else converts with these.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python scalar it holds; any other value unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def json_default(value: Any) -> Any:
    """The ``default=`` hook of :func:`json.dumps` for NumPy scalars, arrays and paths.

    Raises
    ------
    TypeError
        For any other object, as :func:`json.dumps` does without a hook.
    """
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_jsonable(obj: Any) -> Any:
    """A deep copy of ``obj`` made of JSON types only.

    NumPy scalars and arrays become Python numbers and lists, NaN and infinities become
    None, tuples become lists, dates ISO strings, paths and other objects strings,
    mapping keys strings.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, _dt.datetime | _dt.date):
        return obj.isoformat()
    return str(obj)
