"""The one NumPy-to-JSON conversion (polyclass._json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polyclass._json import json_default, plain, to_jsonable


def test_plain_unwraps_numpy_scalars_only() -> None:
    assert type(plain(np.int64(3))) is int and plain(np.int64(3)) == 3
    assert type(plain(np.float32(0.5))) is float
    assert type(plain(np.str_("a"))) is str
    assert plain(np.bool_(True)) is True
    values = ["x", 1, None, [np.int64(1)]]
    assert all(plain(v) is v for v in values)


def test_json_default_converts_numpy_and_paths_and_refuses_the_rest() -> None:
    doc = {"n": np.int32(2), "a": np.arange(3), "p": Path("/tmp/x")}
    assert json.loads(json.dumps(doc, default=json_default)) == {
        "n": 2,
        "a": [0, 1, 2],
        "p": "/tmp/x",
    }
    with pytest.raises(TypeError, match="set is not JSON serialisable"):
        json.dumps({"s": {1}}, default=json_default)


def test_to_jsonable_is_plain_json() -> None:
    out = to_jsonable({1: (np.float64(np.nan), np.array([1.5])), "p": Path("a")})
    assert out == {"1": [None, [1.5]], "p": "a"}
    json.dumps(out, allow_nan=False)
