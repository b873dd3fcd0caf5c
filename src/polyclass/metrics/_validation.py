"""Argument and input validation shared by every metric.

One validator raises the same sentence everywhere, in scikit-learn's words, so a
user who switches from ``sklearn.metrics`` reads errors they already know:

    The 'average' parameter of f1_score must be one of 'micro', 'macro', 'weighted',
    'binary' or None. Got 'avg' instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import NDArray


def _render(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _render_choices(choices: Sequence[Any]) -> str:
    rendered = [_render(c) for c in choices]
    if len(rendered) == 1:
        return rendered[0]
    return ", ".join(rendered[:-1]) + " or " + rendered[-1]


def check_choice(func: str, name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (compared with ``==``)."""
    for choice in choices:
        if value is choice or (
            choice is not None
            and value is not None
            and type(value) is type(choice)
            and value == choice
        ):
            return
    raise ValueError(
        f"The {name!r} parameter of {func} must be one of {_render_choices(choices)}. "
        f"Got {_render(value)} instead."
    )


def check_real(
    func: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
) -> float:
    """Return ``value`` as a float after checking it is a real number in the interval.

    ``closed`` is one of 'both', 'left', 'right', 'neither'.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(
            f"The {name!r} parameter of {func} must be a real number. "
            f"Got {_render(value)} of type {type(value).__name__} instead."
        )
    x = float(value)
    left_ok = low is None or (x >= low if closed in ("both", "left") else x > low)
    right_ok = high is None or (x <= high if closed in ("both", "right") else x < high)
    if np.isnan(x) or not (left_ok and right_ok):
        lb = "[" if closed in ("both", "left") else "("
        rb = "]" if closed in ("both", "right") else ")"
        lo = "-inf" if low is None else _render(low)
        hi = "inf" if high is None else _render(high)
        raise ValueError(
            f"The {name!r} parameter of {func} must be a float in the range {lb}{lo}, {hi}{rb}. "
            f"Got {_render(value)} instead."
        )
    return x


def column_or_1d(func: str, name: str, y: Any) -> NDArray[Any]:
    """Return ``y`` as a 1-D array; accept lists, pandas Series and column vectors."""
    if y is None:
        raise ValueError(f"{func}: {name} is None; pass a 1-D array-like of values.")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(
            f"{func}: {name} must be 1-D, got an array of shape {arr.shape}. "
            "Pass one value per sample (use .ravel() for a column vector)."
        )
    return arr


def check_consistent_length(func: str, **arrays: Any) -> int:
    """Check that every non-None array has the same first dimension; return it.

    Raises a ``ValueError`` naming each argument and its length, and one for empty input.
    """
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(
            f"{func}: found input variables with inconsistent numbers of samples: {described}. "
            "Pass one entry per sample in each."
        )
    n = next(iter(lengths.values()), 0)
    if n == 0:
        raise ValueError(f"{func}: empty input (0 samples). Pass at least one sample.")
    return n


def is_empty_batch(func: str, **arrays: Any) -> bool:
    """True when every non-None array has no sample: a streaming update then does nothing.

    Lengths that differ raise the error of :func:`check_consistent_length`; inputs
    without a length return False, so the full validation reports them.
    """
    try:
        lengths = [len(a) for a in arrays.values() if a is not None]
    except TypeError:
        return False
    if any(lengths) and 0 in lengths:
        check_consistent_length(func, **arrays)
    return not any(lengths)


def check_sample_weight(
    func: str, sample_weight: Any, n_samples: int
) -> NDArray[np.float64] | None:
    """Return ``sample_weight`` as float64 of length ``n_samples``, or None.

    Weights must be finite and non-negative.
    """
    if sample_weight is None:
        return None
    w = column_or_1d(func, "sample_weight", sample_weight)
    if w.dtype.kind not in "biuf":
        raise ValueError(f"{func}: sample_weight must be numeric, got dtype {w.dtype}.")
    w = w.astype(np.float64, copy=False)
    if len(w) != n_samples:
        raise ValueError(
            f"{func}: sample_weight has {len(w)} entries but there are {n_samples} samples. "
            "Pass one weight per sample."
        )
    if not np.isfinite(w).all():
        bad = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"{func}: sample_weight contains NaN or inf (first at index {bad}).")
    if (w < 0).any():
        bad = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"{func}: sample_weight must be non-negative; index {bad} is {w[bad]}.")
    if n_samples and not w.any():
        raise ValueError(
            f"{func}: sample weights must contain at least one non-zero number; all "
            f"{n_samples} are zero."
        )
    return w


def check_finite_scores(func: str, name: str, scores: NDArray[Any]) -> NDArray[Any]:
    """Return scores as a float array after checking they contain no NaN or inf."""
    if scores.dtype.kind not in "biuf":
        raise ValueError(
            f"{func}: {name} must be numeric scores or probabilities, got dtype {scores.dtype}."
        )
    if scores.dtype.kind != "f":
        scores = scores.astype(np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        where = int(bad[0]) if bad.size == 1 else tuple(int(i) for i in bad)
        raise ValueError(
            f"{func}: {name} contains NaN or inf (first at index {where}). "
            "Scores must be finite; impute or drop those rows."
        )
    return scores
