"""Turn a table into numbers: impute, missing indicators, standardise, one-hot.

Fitted state is plain numbers (``Preprocessor.to_state()``), and transforming a
dict or a list of dicts needs NumPy only. ``InputPlan`` compiles a fitted
Preprocessor for the request path (the server encodes every request with it).
"""

from __future__ import annotations

from polyclass.preprocess._input import coerce_value
from polyclass.preprocess._onehot import RARE, OneHotColumn
from polyclass.preprocess._plan import Encoded, InputError, InputPlan, Table
from polyclass.preprocess._preprocessor import (
    SPARSE_MAX_DENSITY,
    SPARSE_MIN_ONEHOT,
    Preprocessor,
)

__all__ = [
    "RARE",
    "SPARSE_MAX_DENSITY",
    "SPARSE_MIN_ONEHOT",
    "Encoded",
    "InputError",
    "InputPlan",
    "OneHotColumn",
    "Preprocessor",
    "Table",
    "coerce_value",
]
