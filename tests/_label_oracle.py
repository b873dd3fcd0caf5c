"""Shared helpers for the label-metric tests: run polyclass and sklearn side by side."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn.metrics as skm

from polyclass import metrics as pcm

RTOL = 1e-12


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any, list[Any]]:
    """Call ``fn``; return ('ok', result, warnings) or ('error', exception type, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out: Any = fn(*args, **kwargs)
            status = "ok"
        except (ValueError, TypeError) as exc:
            out = type(exc)
            status = "error"
    return status, out, [(w.category, str(w.message)) for w in caught]


def assert_same_value(ours: Any, theirs: Any, path: str = "") -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        assert list(ours) == list(theirs), path
        for key in theirs:
            assert_same_value(ours[key], theirs[key], f"{path}/{key}")
        return
    if isinstance(theirs, str):
        assert ours == theirs, f"{path}:\n{ours}\n!=\n{theirs}"
        return
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_value(a, b, f"{path}[{i}]")
        return
    if theirs is None:
        assert ours is None, path
        return
    if isinstance(theirs, float):
        assert isinstance(ours, float), (path, type(ours))
    a = np.asarray(ours)
    b = np.asarray(theirs)
    assert a.shape == b.shape, (path, a.shape, b.shape)
    if b.dtype.kind in "iub" and b.size:
        assert a.dtype.kind in "iub" or np.array_equal(a, b), (path, a.dtype, b.dtype)
    np.testing.assert_allclose(
        a.astype(np.float64),
        b.astype(np.float64),
        rtol=RTOL,
        atol=0,
        equal_nan=True,
        err_msg=path,
    )


def compare(name: str, *args: Any, check_messages: bool = True, **kwargs: Any) -> Any:
    """Assert polyclass.metrics.<name> agrees with sklearn.metrics.<name>."""
    ours = run(getattr(pcm, name), *args, **kwargs)
    theirs = run(getattr(skm, name), *args, **kwargs)
    context = f"{name}(args={args!r}, kwargs={kwargs!r})"
    if theirs[0] == "error":
        assert ours[0] == "error", f"{context}: sklearn raised {theirs[1]}, we returned {ours[1]}"
        assert issubclass(ours[1], ValueError) or ours[1] is theirs[1], context
        return None
    assert ours[0] == "ok", f"{context}: we raised {ours[1]}, sklearn returned {theirs[1]}"
    assert_same_value(ours[1], theirs[1], context)
    our_w = sorted({(c.__name__, m if check_messages else "") for c, m in ours[2]})
    their_w = sorted({(c.__name__, m if check_messages else "") for c, m in theirs[2]})
    assert our_w == their_w, f"{context}: warnings differ\nours:   {our_w}\ntheirs: {their_w}"
    return ours[1]
