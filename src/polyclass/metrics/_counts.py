"""The sufficient statistic of every label metric: the confusion matrix, counted fast.

``label_confusion`` takes validated 1-D labels to the sorted classes present and the
(K, K) matrix of (true, predicted) counts, rows = true. For integer labels with a
small range it is one ``np.bincount`` of ``t * R + p`` (no lookup-table pass, no sort);
other labels are encoded first and counted the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.metrics._encode import encode, factorize_unicode, unique_labels

# Count pairs directly over the integer range when the (R, R) table is this small.
_MAX_PAIR_TABLE = 1 << 22
# Unweighted integer labels are counted chunk by chunk while the range is this small.
_CHUNK = 1 << 18
_MAX_CHUNKED_RANGE = 128
# String arrays longer than this are factorized by hashing instead of sorting.
_HASH_MIN_SIZE = 4096


@dataclass(frozen=True)
class LabelConfusion:
    """Sorted labels present in y_true or y_pred, and their confusion counts."""

    classes: NDArray[Any]
    cm: NDArray[Any]
    true_present: NDArray[np.bool_]  # which classes occur in y_true (weights aside)
    # With weights: per-class weight sums of y_true and y_pred summed in sample order
    # (as scikit-learn does), so printed supports match it to the last digit.
    # (true sums, predicted sums, total weight)
    margins: tuple[NDArray[Any], NDArray[Any], NDArray[Any]] | None = None

    @property
    def y_type(self) -> str:
        return "binary" if len(self.classes) <= 2 else "multiclass"


def confusion_counts(
    t_codes: NDArray[Any],
    p_codes: NDArray[Any],
    n_classes: int,
    sample_weight: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """Count (true, predicted) code pairs into a (K, K) matrix, rows = true.

    Codes are integers in ``[0, n_classes)``. Returns int64 counts without weights and
    float64 sums of weights with them.

    Examples
    --------
    >>> confusion_counts(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
    array([[1, 0],
           [1, 1]])
    """
    k = int(n_classes)
    pair = np.multiply(t_codes, k, dtype=np.int64)
    pair += p_codes
    counts = np.bincount(pair, weights=sample_weight, minlength=k * k)
    if sample_weight is None:
        counts = counts.astype(np.int64, copy=False)
    return counts.reshape(k, k)


def _as_int(y: NDArray[Any]) -> NDArray[Any]:
    if y.dtype.kind == "b":
        return y.view(np.uint8)
    if y.dtype == np.uint64:
        return y.astype(np.int64)
    return y


def _classes_dtype(t: NDArray[Any], p: NDArray[Any]) -> np.dtype[Any]:
    if t.dtype.kind == "b" and p.dtype.kind == "b":
        return np.dtype(bool)
    return np.result_type(t.dtype, p.dtype)


def _grow_table(table: NDArray[Any], lo: int, hi: int, new_lo: int, new_hi: int) -> NDArray[Any]:
    """Re-lay a flat (R, R) table over [lo, hi] into a zero table over [new_lo, new_hi]."""
    r_old, r_new = hi - lo + 1, new_hi - new_lo + 1
    grown = np.zeros((r_new, r_new), dtype=table.dtype)
    off = lo - new_lo
    grown[off : off + r_old, off : off + r_old] = table.reshape(r_old, r_old)
    return grown.reshape(-1)


def _pair_counts_chunked(
    ti: NDArray[Any], pi: NDArray[Any], w: NDArray[np.float64] | None
) -> tuple[NDArray[Any], NDArray[Any], int, int] | None:
    """Pair counts (or weight sums) over [lo, hi] in one cache-friendly pass.

    Each chunk's range check, pair codes and bincount run while the chunk is in cache;
    the small table is re-laid out when a chunk widens the range. Also returns which
    pairs occur at all (weights aside). None if the range is too wide for a small table.
    """
    n = ti.size
    buf = np.empty(min(n, _CHUNK), dtype=np.int64)
    table: NDArray[Any] | None = None
    seen: NDArray[np.bool_] | None = None  # None: same as table > 0
    lo = hi = 0
    for start in range(0, n, _CHUNK):
        a = ti[start : start + _CHUNK]
        b = pi[start : start + _CHUNK]
        # One OR pass bounds small non-negative labels: 0 <= label <= (OR of all).
        bits = int(np.bitwise_or.reduce(np.bitwise_or(a, b, out=buf[: a.size])))
        if 0 <= bits < _MAX_CHUNKED_RANGE:
            c_lo, c_hi = 0, bits
        else:
            c_lo = min(int(a.min()), int(b.min()))
            c_hi = max(int(a.max()), int(b.max()))
        if table is None:
            if c_hi - c_lo + 1 > _MAX_CHUNKED_RANGE:
                return None
            lo, hi = c_lo, c_hi
            r = hi - lo + 1
            table = np.zeros(r * r, dtype=np.int64 if w is None else np.float64)
        elif c_lo < lo or c_hi > hi:
            new_lo, new_hi = min(lo, c_lo), max(hi, c_hi)
            if new_hi - new_lo + 1 > _MAX_CHUNKED_RANGE:
                return None
            table = _grow_table(table, lo, hi, new_lo, new_hi)
            if seen is not None:
                seen = _grow_table(seen, lo, hi, new_lo, new_hi)
            lo, hi = new_lo, new_hi
        r = hi - lo + 1
        x = buf[: a.size]
        np.multiply(a, r, out=x, dtype=np.int64)
        x += b
        if lo:
            x -= lo * (r + 1)
        if w is None:
            table += np.bincount(x, minlength=r * r)
            continue
        wc = w[start : start + _CHUNK]
        if seen is None and not wc.all():
            seen = table > 0  # earlier chunks had positive weights only
        if seen is not None:
            seen |= np.bincount(x, minlength=r * r) > 0
        table += np.bincount(x, weights=wc, minlength=r * r)
    if table is None:
        return None
    r = hi - lo + 1
    occurs = table > 0 if seen is None else seen
    return table.reshape(r, r), occurs.reshape(r, r), lo, hi


def _direct_int(
    t: NDArray[Any], p: NDArray[Any], w: NDArray[np.float64] | None, want_margins: bool
) -> LabelConfusion | None:
    """Pair counting over the integer range [lo, hi]; None when the range is too wide."""
    ti, pi = _as_int(t), _as_int(p)
    chunked = _pair_counts_chunked(ti, pi, w)
    if chunked is not None:
        counts, seen, lo, hi = chunked
        r = hi - lo + 1
    else:
        lo = min(int(ti.min()), int(pi.min()))
        hi = max(int(ti.max()), int(pi.max()))
        r = hi - lo + 1
        if r * r > max(_MAX_PAIR_TABLE if t.size > (1 << 16) else 0, 16 * t.size + 256):
            return None
        pair = np.multiply(ti, r, dtype=np.int64)
        pair += pi
        if lo:
            pair -= lo * (r + 1)
        counts = np.bincount(pair, weights=w, minlength=r * r).reshape(r, r)
        if w is None or bool((w > 0).all()):
            seen = counts
        else:
            seen = np.bincount(pair, minlength=r * r).reshape(r, r)
        del pair
    present = seen.any(axis=0) | seen.any(axis=1)
    idx = np.flatnonzero(present)
    if len(idx) < r:
        counts = counts[np.ix_(idx, idx)]
    if w is None:
        counts = counts.astype(np.int64, copy=False)
    classes = (idx + lo).astype(_classes_dtype(t, p))
    true_present = np.asarray(seen.any(axis=1))[idx]
    margins = None
    if w is not None and want_margins:
        size = hi + 1 - min(lo, 0)
        sel = idx + max(lo, 0)
        margins = (
            np.bincount(_shift(ti, lo), weights=w, minlength=size)[sel],
            np.bincount(_shift(pi, lo), weights=w, minlength=size)[sel],
            np.asarray(w.sum()),
        )
    return LabelConfusion(classes, np.ascontiguousarray(counts), true_present, margins)


def _shift(a: NDArray[Any], lo: int) -> NDArray[Any]:
    return a if lo >= 0 else np.subtract(a, lo, dtype=np.int64)


def _float_as_int(y: NDArray[Any]) -> NDArray[Any] | None:
    """Integral float labels as int64 when exactly representable, else None."""
    if y.size and (abs(float(y.min())) >= 2**53 or abs(float(y.max())) >= 2**53):
        return None
    return y.astype(np.int64)


def _encode_by_sort(y: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.intp]]:
    if y.dtype.kind == "U" and y.size > _HASH_MIN_SIZE:
        found = factorize_unicode(y)
        if found is not None:
            return found
    uniq, inverse = np.unique(y, return_inverse=True)
    return uniq, inverse.reshape(-1)


def label_confusion(
    func: str,
    t: NDArray[Any],
    p: NDArray[Any],
    w: NDArray[np.float64] | None,
    *,
    margins: bool = False,
) -> LabelConfusion:
    """Classes present in ``t`` or ``p`` (sorted) and their (K, K) confusion counts.

    ``t`` and ``p`` are validated 1-D label arrays (see ``_targets.check_targets``).
    ``margins=True`` also sums the weights per class in sample order (set-wise metrics
    use them to match scikit-learn's rounding).
    """
    wm = w if margins else None
    kinds = {t.dtype.kind, p.dtype.kind}
    if kinds <= set("biuf"):
        if "f" in kinds:
            ti = _float_as_int(t) if t.dtype.kind == "f" else t
            pi = _float_as_int(p) if p.dtype.kind == "f" else p
        else:
            ti, pi = t, p
        if ti is not None and pi is not None:
            found = _direct_int(ti, pi, w, margins)
            if found is not None:
                if "f" in kinds:
                    found = LabelConfusion(
                        found.classes.astype(_classes_dtype(t, p)),
                        found.cm,
                        found.true_present,
                        found.margins,
                    )
                return found
        classes = unique_labels(t, p)
        k = len(classes)
        tc = encode(func, "y_true", t, classes)
        pc = encode(func, "y_pred", p, classes)
        cm = confusion_counts(tc, pc, k, w)
        return LabelConfusion(
            classes, cm, np.bincount(tc, minlength=k) > 0, _margins(tc, pc, k, wm)
        )
    ct, it = _encode_by_sort(t)
    cp, ip = _encode_by_sort(p)
    classes = np.union1d(ct, cp)
    if len(ct) != len(classes) or not np.array_equal(ct, classes):
        it = np.searchsorted(classes, ct)[it]
    if len(cp) != len(classes) or not np.array_equal(cp, classes):
        ip = np.searchsorted(classes, cp)[ip]
    true_present = np.zeros(len(classes), dtype=bool)
    true_present[np.searchsorted(classes, ct)] = True
    k = len(classes)
    return LabelConfusion(
        classes, confusion_counts(it, ip, k, w), true_present, _margins(it, ip, k, wm)
    )


def _margins(
    tc: NDArray[Any], pc: NDArray[Any], k: int, w: NDArray[np.float64] | None
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]] | None:
    if w is None:
        return None
    return (
        np.bincount(tc, weights=w, minlength=k),
        np.bincount(pc, weights=w, minlength=k),
        np.asarray(w.sum()),
    )


def label_positions(classes: NDArray[Any], labels: NDArray[Any]) -> NDArray[np.intp]:
    """Index of each of ``labels`` in ``classes`` (by equality, as a dict would), -1 if absent."""
    table: dict[Any, int] = {}
    for i, c in enumerate(classes.tolist()):
        table.setdefault(c, i)
    out = np.empty(len(labels), dtype=np.intp)
    for j, lab in enumerate(labels.tolist()):
        out[j] = table.get(lab, -1)
    return out
