"""Label discovery and integer encoding: the hot path under every label metric.

Integer and boolean labels with a small range take a counting path (``np.bincount``
and a lookup table), which is linear and several times faster than the sort inside
``np.unique``. Strings and other labels fall back to sorting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

# Use the counting path when the integer range is at most this many values and
# not much larger than the data (a lookup table of that size is cheap).
_MAX_DENSE_RANGE = 1 << 20


def _int_range(arrays: tuple[NDArray[Any], ...]) -> tuple[int, int] | None:
    """Return (lo, hi) over integer/bool arrays when the counting path applies."""
    if not arrays or any(a.dtype.kind not in "biu" for a in arrays):
        return None
    lo = min(int(a.min()) for a in arrays)
    hi = max(int(a.max()) for a in arrays)
    n = sum(a.size for a in arrays)
    span = hi - lo + 1
    if span > _MAX_DENSE_RANGE or span > 4 * n + 64:
        return None
    return lo, hi


def _as_label_array(y: NDArray[Any]) -> NDArray[Any]:
    if y.dtype.kind == "b":
        return y.view(np.uint8)
    return y


def check_label_types(func: str, *ys: NDArray[Any]) -> None:
    """Raise when string labels are mixed with numeric labels, as scikit-learn does."""
    kinds = set()
    for y in ys:
        if y.dtype.kind in "USO":
            if y.dtype.kind == "O":
                has_str = any(isinstance(v, str) for v in y[: min(len(y), 1000)])
                has_other = any(not isinstance(v, str) for v in y[: min(len(y), 1000)])
                if has_str and has_other:
                    raise ValueError(
                        f"{func}: mix of label input types (string and number) within one array. "
                        "Convert all labels to one type."
                    )
                kinds.add("str" if has_str else "num")
            else:
                kinds.add("str")
        else:
            kinds.add("num")
    if len(kinds) > 1:
        raise ValueError(
            f"{func}: mix of label input types (string and number): one argument holds "
            "strings and another numbers. Convert both to the same type."
        )


def unique_labels(*ys: NDArray[Any]) -> NDArray[Any]:
    """Return the sorted union of the labels in ``ys``.

    Integer and boolean labels with a small range are found by counting.
    """
    arrays = tuple(_as_label_array(y) for y in ys)
    rng = _int_range(arrays)
    if rng is not None:
        lo, hi = rng
        present = np.zeros(hi - lo + 1, dtype=bool)
        for a in arrays:
            counts = np.bincount((a - lo).astype(np.intp, copy=False), minlength=hi - lo + 1)
            present |= counts > 0
        values = np.flatnonzero(present) + lo
        if all(y.dtype.kind == "b" for y in ys):
            return values.astype(bool)
        dtype = np.result_type(*[y.dtype for y in ys])
        return values.astype(dtype)
    if len(ys) == 1:
        return np.unique(ys[0])
    return np.unique(np.concatenate([np.unique(y) for y in ys]))


def encode(func: str, name: str, y: NDArray[Any], classes: NDArray[Any]) -> NDArray[np.intp]:
    """Map each label of ``y`` to its index in the sorted array ``classes``.

    Raises a ``ValueError`` naming the first value of ``y`` that is not a class.
    """
    a = _as_label_array(y)
    c = _as_label_array(classes)
    rng = _int_range((a, c)) if len(c) else None
    if rng is not None:
        lo, hi = rng
        table = np.full(hi - lo + 1, -1, dtype=np.intp)
        table[(c - lo).astype(np.intp)] = np.arange(len(c), dtype=np.intp)
        codes = table[(a - lo).astype(np.intp, copy=False)]
        if len(codes) and codes.min() < 0:
            bad = y[int(np.flatnonzero(codes < 0)[0])]
            raise _unknown_label(func, name, bad, classes)
        return codes
    codes = np.searchsorted(classes, y)
    codes = np.minimum(codes, max(len(classes) - 1, 0))
    if len(classes) == 0:
        if len(y):
            raise _unknown_label(func, name, y[0], classes)
        return codes.astype(np.intp)
    mismatch = classes[codes] != y
    if np.any(mismatch):
        bad = y[int(np.flatnonzero(mismatch)[0])]
        raise _unknown_label(func, name, bad, classes)
    return codes.astype(np.intp, copy=False)


def _unknown_label(func: str, name: str, value: Any, classes: NDArray[Any]) -> ValueError:
    value = value.item() if isinstance(value, np.generic) else value
    shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in classes[:20])
    more = "" if len(classes) <= 20 else f", ... ({len(classes)} in all)"
    return ValueError(
        f"{func}: {name} contains the label {value!r}, which is not among the labels "
        f"[{shown}{more}]. Add it to `labels` or remove those samples."
    )


def factorize_unicode(y: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.intp]] | None:
    """Sorted unique strings of a 1-D ``<U`` array and each element's index among them.

    Hashes the code points (one pass per character) and factorizes the hashes with a
    hash table (pandas), which is several times faster than sorting strings. Every
    element is then checked against its class's representative, so a hash collision
    cannot go unnoticed: it returns None and the caller sorts instead.
    """
    import pandas as pd

    width = y.dtype.itemsize // 4
    if width == 0 or y.size == 0:
        return None
    cols = np.ascontiguousarray(y).view(np.uint32).reshape(-1, width)
    h = cols[:, 0].astype(np.uint64)
    for j in range(1, width):
        h *= np.uint64(1000003)
        h += cols[:, j]
    codes, uniques = pd.factorize(h)
    codes = np.asarray(codes, dtype=np.intp)
    # any one element per hash is its representative (the check below covers the rest)
    where = np.empty(len(uniques), dtype=np.intp)
    where[codes] = np.arange(len(codes), dtype=np.intp)
    reps = y[where]
    if not np.array_equal(reps[codes], y):
        return None
    order = np.argsort(reps)
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order), dtype=np.intp)
    return reps[order], rank[codes]
