"""Live performance: predictions joined with feedback labels, per time window.

The join follows the log contract: a feedback row ``(request_id, row, label)`` labels
that row of that request, and ``row = -1`` labels every row of the request (a specific
row wins over ``-1``; among several labels for one key the latest ``ts`` wins). Request
ids are matched exactly by :func:`polyclass.monitor._ids.match_ids` (no string hash
table); labels and predictions become integer codes, and one ``bincount`` of
``window * L^2 + true * L + predicted`` gives every window's confusion matrix; each is
a :class:`polyclass.metrics.ConfusionMatrixState` (so windows, segments and workers
merge exactly, and every metric is the metrics library's). Intervals: Wilson for
accuracy and per-class precision / recall; a percentile bootstrap for macro and weighted
F1 that resamples the cells of the confusion matrix (one multinomial), which is the row
bootstrap of :func:`polyclass.metrics.bootstrap_ci` on the same data; where every
resample gives one value (a perfect window, one row) the interval is the boundary
rule :func:`polyclass.metrics.boundary_interval`, as ``bootstrap_ci`` does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.metrics import ConfusionMatrixState, boundary_interval, wilson_interval
from polyclass.monitor._ids import match_ids
from polyclass.predlog import LogData

_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hour|d|day|w|week)s?\s*$", re.I)
#: Rows counted per block (window codes of a block stay in cache).
_ROWS = 1 << 20
_UNIT_US = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
    "week": 604800,
}


def parse_window(text: str) -> int:
    """A window length like ``'1h'``, ``'15min'``, ``'1d'`` in microseconds.

    Examples
    --------
    >>> parse_window("1h") == 3600 * 10**6
    True
    """
    m = _WINDOW.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(
            f"Window {text!r} is not a duration; write a number and a unit: '30s', "
            "'15m', '1h', '1d' or '1w'."
        )
    return round(float(m.group(1)) * _UNIT_US[m.group(2).lower()] * 1_000_000)


def window_index(ts: NDArray[np.int64], width: int, origin: int) -> NDArray[np.intp]:
    """Window of each time: ``(ts - origin) // width`` (windows aligned to ``origin``)."""
    return np.asarray((ts - origin) // width, dtype=np.intp)


@dataclass
class Joined:
    """Which predictions got a label: row positions and int32 codes over ``labels``.

    ``n_feedback_unmatched`` counts feedback rows whose request was not predicted in the
    period read (labels for older or unknown requests).
    """

    labels: list[str]
    rows: NDArray[np.signedinteger[Any]]
    true: NDArray[np.int32]
    pred: NDArray[np.int32]
    n_feedback: int
    n_feedback_unmatched: int
    unknown_labels: list[str] = field(default_factory=list)


def _chunks(values: Any) -> list[Any]:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        return list(values.chunks)
    return [values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())]


def _codes(values: Any, labels: list[str]) -> tuple[NDArray[np.int32], list[str]]:
    """Integer codes (int32) of string ``values`` over ``labels``, extended with unknowns.

    ``values`` may hold plain or dictionary-encoded strings (as the log reader returns
    them): a dictionary chunk is coded through its few distinct values. Unknown values
    are appended to ``labels`` in sorted order; nulls get -1.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = _chunks(values)
    distinct = [ch.dictionary if pa.types.is_dictionary(ch.type) else ch for ch in chunks]
    known = pa.array(labels, type=pa.string())
    extra: set[str] = set()
    for d in distinct:
        d = d.cast(pa.string()) if not pa.types.is_string(d.type) else d
        unknown = pc.filter(d, pc.invert(pc.is_in(d, value_set=known)))
        extra.update(str(e) for e in pc.unique(unknown).drop_null().to_pylist())
    labels = [*labels, *sorted(extra)]
    known = pa.array(labels, type=pa.string())
    out = []
    for ch, d in zip(chunks, distinct, strict=True):
        d = d.cast(pa.string()) if not pa.types.is_string(d.type) else d
        idx = np.asarray(
            pc.index_in(d, value_set=known).fill_null(-1).to_numpy(zero_copy_only=False),
            dtype=np.int32,
        )
        if pa.types.is_dictionary(ch.type):
            ind = ch.indices
            pos = (ind if ind.null_count == 0 else ind.fill_null(0)).to_numpy()
            codes = idx[pos] if idx.size else np.full(pos.size, -1, dtype=np.int32)
            if ind.null_count:
                codes[np.asarray(ind.is_null().to_numpy(zero_copy_only=False), bool)] = -1
            out.append(codes)
        else:
            out.append(idx)
    return (np.concatenate(out) if out else np.zeros(0, dtype=np.int32)), labels


def class_codes(values: Any, classes: list[str]) -> NDArray[np.intp]:
    """Position of each string value in ``classes``; -1 for other values and nulls."""
    codes, _ = _codes(values, list(classes))
    codes[codes >= len(classes)] = -1
    return codes.astype(np.intp)


def _lookup(
    data: LogData,
    fb_code: NDArray[Any],
    fb_row: NDArray[Any],
    order: NDArray[np.intp] | None,
    u: NDArray[Any],
    r: NDArray[Any],
) -> NDArray[Any]:
    """The feedback row labelling each predicted (request code ``u``, row ``r``), or -1.

    Request c owns the table slots ``base[c]`` (its row -1) .. ``base[c] + maxrow[c] + 1``.
    """
    n_fb = int(data.fb_ts.size)
    itype = np.int32 if 2 * n_fb + 2 < 2**31 else np.int64
    maxrow = np.full(n_fb, -1, dtype=np.int32)
    np.maximum.at(maxrow, fb_code, fb_row.astype(np.int32, copy=False))
    width: NDArray[Any] = maxrow.astype(itype)
    width += 2
    base: NDArray[Any] = np.cumsum(width, dtype=itype)
    base -= width
    size = int(base[-1] + width[-1])
    del width
    fb_key = base[fb_code]
    fb_key += fb_row
    fb_key += 1
    pos = np.arange(n_fb, dtype=itype) if order is None else order.astype(itype)
    table = np.full(size, -1, dtype=itype)
    table[fb_key] = pos
    dup = table[fb_key] != pos  # a later row wrote the same key
    if dup.any():  # several labels for one key: the latest ts (then the last) wins
        mark = np.zeros(size, dtype=bool)
        mark[fb_key[dup]] = True
        every = np.flatnonzero(mark[fb_key])
        sel, keys = pos[every].astype(np.int64), fb_key[every]
        o = np.lexsort((sel, data.fb_ts[sel], keys))
        last = np.append(keys[o][1:] != keys[o][:-1], True)
        table[keys[o][last]] = sel[o][last]
    del fb_key, pos, dup
    top = maxrow[u]
    start = base[u]
    key = start + np.minimum(r, top)
    key += 1
    fb_pos: NDArray[Any] = table[key]
    del key
    fb_pos[r > top] = -1  # no label for that row itself
    miss = np.flatnonzero(fb_pos < 0)
    if miss.size:  # the request-level label (row -1), if any
        fb_pos[miss] = table[start[miss]]
    return fb_pos


def join_feedback(data: LogData, classes: list[str]) -> Joined:
    """Match feedback rows to predicted rows (see the module docstring for the rules)."""
    n_fb = int(data.fb_ts.size)
    if n_fb == 0 or data.n_rows == 0:
        none = np.zeros(0, dtype=np.int32)
        return Joined(list(classes), np.zeros(0, dtype=np.intp), none, none, n_fb, n_fb)
    # exact codes of the distinct feedback ids, for both sides (see _ids)
    fb_u, pr_u = match_ids(data.request_id, data.fb_request_id)
    n_codes = n_fb
    order = None if fb_u.min(initial=0) >= 0 else np.flatnonzero(fb_u >= 0)  # null ids
    fb_code = fb_u if order is None else fb_u[order]
    fb_row = data.fb_row if order is None else data.fb_row[order]
    everyone = bool(pr_u.min(initial=0) >= 0)
    cand = None if everyone else np.flatnonzero(pr_u >= 0)
    u = pr_u if cand is None else pr_u[cand]
    r = data.row if cand is None else data.row[cand]
    if order is None and np.array_equal(fb_code, np.arange(n_fb, dtype=fb_code.dtype)):
        # every feedback row names its own request: it labels row `r` or (-1) all rows
        fr = fb_row[u]
        fb_pos = np.where((fr == r) | (fr == -1), u, -1)
    else:
        fb_pos = _lookup(data, fb_code, fb_row, order, u, r)
    got = fb_pos >= 0
    whole = cand is None and bool(got.all())  # every predicted row got a label
    rows: NDArray[np.signedinteger[Any]]
    if whole:
        rows = np.arange(data.n_rows, dtype=np.int32 if data.n_rows < 2**31 else np.intp)
    else:
        rows = np.flatnonzero(got) if cand is None else cand[got]
        fb_pos = fb_pos[got]
    seen = np.zeros(n_codes, dtype=bool)  # feedback requests that were predicted
    seen[u] = True
    unmatched = n_fb - int(seen[fb_code].sum())
    del u, r, got, seen
    labels = list(classes)
    true_all, labels = _codes(data.fb_label, labels)
    pred_all, labels = _codes(data.prediction, labels)
    pred = pred_all if whole else pred_all[rows]
    true = true_all[fb_pos]
    ok = (true >= 0) & (pred >= 0)  # null labels or predictions cannot be scored
    if not ok.all():
        rows, true, pred = rows[ok], true[ok], pred[ok]
    return Joined(
        labels=labels,
        rows=rows,
        true=true,
        pred=pred,
        n_feedback=n_fb,
        n_feedback_unmatched=unmatched,
        unknown_labels=labels[len(classes) :],
    )


def state_from_counts(labels: list[str], counts: NDArray[np.int64]) -> ConfusionMatrixState:
    """A ConfusionMatrixState holding ``counts`` (true x predicted over ``labels``).

    Built through the state's own JSON form, so it is exactly the state that updating
    with the underlying rows would give (labels fixed to ``labels``).
    """
    state = ConfusionMatrixState(labels=np.asarray(labels, dtype=str))
    doc = json.loads(state.to_json())
    order = np.argsort(np.asarray(labels, dtype=str), kind="stable")  # the state sorts
    cm = np.asarray(counts, dtype=np.int64)[np.ix_(order, order)]
    doc["counts"] = cm.tolist()
    doc["counts_dtype"] = "int64"
    doc["seen"] = ((cm.sum(axis=0) + cm.sum(axis=1)) > 0).tolist()
    doc["seen_true"] = (cm.sum(axis=1) > 0).tolist()
    return ConfusionMatrixState.from_json(json.dumps(doc))


def _f1_bootstrap(
    cm: NDArray[np.int64], n_resamples: int, level: float, seed: int
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of macro / weighted F1 (and P, R): rows resampled freely.

    One multinomial over all cells, so the class counts vary between resamples as
    ``bootstrap_ci``'s default does (fixing them gave a constant model zero width).
    """
    rng = np.random.default_rng(seed)
    present = (cm.sum(axis=1) + cm.sum(axis=0)) > 0
    k = cm.shape[0]
    n = int(cm.sum())
    sims = rng.multinomial(n, cm.ravel() / n, size=n_resamples).reshape(-1, k, k)
    tp = np.einsum("bii->bi", sims)
    predicted = sims.sum(axis=1)
    support = sims.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        rec = np.where(support > 0, tp / np.where(support > 0, support, 1), 0.0)
        denom = predicted + support
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    w = support[:, present] / np.maximum(support.sum(axis=1, keepdims=True), 1)
    alpha = (1 - level) / 2
    seen = cm[np.ix_(present, present)]
    out = {}
    for name, vals in (("precision", prec), ("recall", rec), ("f1", f1)):
        v = vals[:, present]
        for avg, agg in (("macro", v.mean(axis=1)), ("weighted", (v * w).sum(axis=1))):
            lo, hi = np.quantile(agg, [alpha, 1 - alpha])
            if lo == hi:  # collapsed: the population value may still vary
                bounds = boundary_interval(
                    f"{name}_score", seen, level, average=avg, zero_division=0.0
                )
                if bounds is not None:
                    lo, hi = min(bounds[0], lo), max(bounds[1], hi)
            out[f"{name}_{avg}"] = (float(lo), float(hi))
    return out


def _num(v: Any) -> float | None:
    f = float(v)
    return f if np.isfinite(f) else None


def window_metrics(
    state: ConfusionMatrixState,
    labels: list[str],
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 400,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy, per-class and averaged precision / recall / F1 with intervals, as JSON."""
    n = int(state.n_samples)
    if n == 0:
        return {"n": 0}
    cm_all = np.asarray(state.confusion_matrix(labels=np.asarray(labels, dtype=str)))
    correct = int(np.trace(cm_all))
    acc_lo, acc_hi = wilson_interval(correct, n, confidence_level)
    p, r, f, s = state.precision_recall_fscore_support(
        labels=np.asarray(labels, dtype=str), average=None, zero_division=0.0
    )
    tp = np.diag(cm_all)
    predicted = cm_all.sum(axis=0)
    support = cm_all.sum(axis=1)
    p_lo, p_hi = wilson_interval(tp, predicted, confidence_level)
    r_lo, r_hi = wilson_interval(tp, support, confidence_level)
    per_class = {}
    for i, lab in enumerate(labels):
        if support[i] == 0 and predicted[i] == 0:
            continue
        per_class[lab] = {
            "precision": _num(p[i]) if predicted[i] else None,
            "precision_ci": [_num(p_lo[i]), _num(p_hi[i])] if predicted[i] else None,
            "recall": _num(r[i]) if support[i] else None,
            "recall_ci": [_num(r_lo[i]), _num(r_hi[i])] if support[i] else None,
            "f1": _num(f[i]),
            "support": int(s[i]),
            "predicted": int(predicted[i]),
        }
    ci = _f1_bootstrap(cm_all, n_resamples, confidence_level, seed)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": correct / n,
        "accuracy_ci": [acc_lo, acc_hi],
        # mean recall over the classes that occur, from the full-label matrix: the state's
        # own method would pass on scikit-learn's "use the 'labels' parameter" advice
        "balanced_accuracy": _num(np.mean(r[support > 0])),
    }
    for avg in ("macro", "weighted"):
        pa_, ra_, fa_, _ = state.precision_recall_fscore_support(average=avg, zero_division=0.0)
        out[f"precision_{avg}"] = _num(pa_)
        out[f"recall_{avg}"] = _num(ra_)
        out[f"f1_{avg}"] = _num(fa_)
        for m in ("precision", "recall", "f1"):
            out[f"{m}_{avg}_ci"] = list(ci[f"{m}_{avg}"])
    out["per_class"] = per_class
    out["confusion_matrix"] = cm_all.tolist()
    return out


@dataclass
class LivePerformance:
    """Per-window confusion states of labelled predictions, and their metrics."""

    labels: list[str]
    origin: int
    width: int
    states: list[ConfusionMatrixState]
    n_predictions: NDArray[np.int64]
    n_labelled: NDArray[np.int64]
    joined: Joined

    def overall(self) -> ConfusionMatrixState:
        """All windows merged (exactly the state of all labelled rows)."""
        total = ConfusionMatrixState(labels=np.asarray(self.labels, dtype=str))
        for s in self.states:
            total.merge(s)
        return total

    def to_dict(self, *, confidence_level: float = 0.95) -> dict[str, Any]:
        """JSON: overall and per-window metrics with window start / end (ISO, UTC)."""
        from polyclass.monitor._timefmt import iso

        windows = []
        for w, st in enumerate(self.states):
            start = self.origin + w * self.width
            windows.append(
                {
                    "start": iso(start),
                    "end": iso(start + self.width),
                    "n_predictions": int(self.n_predictions[w]),
                    "n_labelled": int(self.n_labelled[w]),
                    **window_metrics(st, self.labels, confidence_level=confidence_level, seed=w),
                }
            )
        total = int(self.n_predictions.sum())
        labelled = int(self.n_labelled.sum())
        return {
            "labels": self.labels,
            "n_predictions": total,
            "n_labelled": labelled,
            "label_coverage": labelled / total if total else None,
            "n_feedback": self.joined.n_feedback,
            "n_feedback_unmatched": self.joined.n_feedback_unmatched,
            "unknown_labels": self.joined.unknown_labels,
            "overall": window_metrics(
                self.overall(), self.labels, confidence_level=confidence_level
            ),
            "windows": windows,
        }


def live_performance(
    data: LogData,
    classes: list[str],
    *,
    width: int,
    origin: int | None = None,
    n_windows: int | None = None,
) -> LivePerformance:
    """Join feedback to predictions and count one confusion matrix per window.

    Parameters
    ----------
    data : LogData
    classes : list of str
        The model's classes as logged.
    width : int
        Window length in µs (see :func:`parse_window`).
    origin : int, optional
        Start of the first window (µs); default the first prediction's time floored to
        a multiple of ``width``.
    n_windows : int, optional
        Number of windows (default: up to the last prediction).
    """
    joined = join_feedback(data, classes)
    labels = joined.labels
    if origin is None:
        origin = int(data.ts.min() // width * width) if data.n_rows else 0
    if n_windows is None:
        n_windows = int((data.ts.max() - origin) // width + 1) if data.n_rows else 0
    n_windows = max(n_windows, 0)
    L = len(labels)
    n_pred = np.zeros(n_windows, dtype=np.int64)
    cells = np.zeros(n_windows * L * L, dtype=np.int64)

    def count(
        into: NDArray[np.int64], win: NDArray[np.intp], code: NDArray[Any] | None = None
    ) -> None:
        inside = (win >= 0) & (win < n_windows)
        if code is not None:
            win = win * (L * L) + code
        into += np.bincount(win if inside.all() else win[inside], minlength=into.size)

    # in blocks of rows: window and cell codes stay small temporaries
    for lo in range(0, data.n_rows, _ROWS):
        count(n_pred, window_index(data.ts[lo : lo + _ROWS], width, origin))
    for lo in range(0, joined.rows.size, _ROWS):
        rows = joined.rows[lo : lo + _ROWS]
        code = joined.true[lo : lo + _ROWS] * L
        code += joined.pred[lo : lo + _ROWS]
        count(cells, window_index(data.ts[rows], width, origin), code)
    counts = cells.reshape(n_windows, L, L)
    states = [state_from_counts(labels, counts[w]) for w in range(n_windows)]
    return LivePerformance(
        labels=labels,
        origin=origin,
        width=width,
        states=states,
        n_predictions=n_pred,
        n_labelled=counts.sum(axis=(1, 2)),
        joined=joined,
    )
