"""Log reading, the feedback join and live metrics against polyclass.metrics."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from _monitor_log import HOUR, T0, write_feedback, write_predictions
from polyclass import metrics
from polyclass.monitor._estimate import estimate_performance, expected_confusion
from polyclass.monitor._live import (
    join_feedback,
    live_performance,
    parse_window,
    state_from_counts,
    window_metrics,
)
from polyclass.predlog import LogError, read_log

CLASSES = ["ant", "bee", "cat"]


def _traffic(tmp_path, n=600, seed=0):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet([2, 2, 2], size=n)
    ts = T0 + np.sort(rng.integers(0, 3 * HOUR, size=n))
    pred = [CLASSES[i] for i in proba.argmax(1)]
    # requests of 1-3 rows
    req, row, r = [], [], 0
    while len(req) < n:
        k = int(rng.integers(1, 4))
        req += [f"q{r}"] * k
        row += list(range(k))
        r += 1
    req, row = req[:n], row[:n]
    half = n // 2
    write_predictions(
        tmp_path,
        classes=CLASSES,
        proba=proba[:half],
        ts=ts[:half],
        predictions=pred[:half],
        request_ids=req[:half],
        rows=row[:half],
        inputs={"x": ("numeric", rng.normal(size=half))},
        seq=1,
    )
    # second segment stores the classes in another order
    order = [2, 0, 1]
    write_predictions(
        tmp_path,
        classes=[CLASSES[i] for i in order],
        proba=proba[half:][:, order],
        ts=ts[half:],
        predictions=pred[half:],
        request_ids=req[half:],
        rows=row[half:],
        inputs={"x": ("numeric", rng.normal(size=n - half))},
        seq=2,
    )
    truth = np.where(rng.random(n) < 0.7, proba.argmax(1), rng.integers(0, 3, n))
    labels = [CLASSES[i] for i in truth]
    # feedback: every other row by (request, row); plus a stale then a corrected label
    fb_idx = np.arange(0, n, 2)
    write_feedback(
        tmp_path,
        request_ids=[req[i] for i in fb_idx],
        rows=[row[i] for i in fb_idx],
        labels=[labels[i] for i in fb_idx],
        ts=ts[fb_idx] + 10,
        seq=1,
    )
    return dict(proba=proba, ts=ts, pred=pred, req=req, row=row, labels=labels, fb_idx=fb_idx)


def test_read_log_reorders_probabilities_and_reports_corrupt(tmp_path):
    t = _traffic(tmp_path)
    bad = tmp_path / "predictions" / "part-20260102T000000000000-4242-3.parquet"
    bad.write_bytes(b"PAR1 truncated")
    (tmp_path / "predictions" / ".part-20260102T000000000000-4242-9.tmp").write_bytes(b"x")
    gap = tmp_path / "predictions" / "part-20260103T000000000000-4242-5.parquet"
    gap.write_bytes(b"")
    data = read_log(tmp_path, classes=CLASSES, features=["x", "absent"])
    np.testing.assert_allclose(data.proba, t["proba"])
    assert data.n_rows == 600 and data.n_segments == 2
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in data.problems}
    assert bad.name in reasons and gap.name in reasons
    assert any("segment number(s) 4 absent" in p.reason for p in data.problems)
    assert data.inputs["absent"].null_count == 600
    with pytest.raises(LogError, match=r"No prediction log.* first"):
        read_log(tmp_path / "nowhere")
    # serve's --log-dir given instead of its model's log: the error names the log inside
    served = tmp_path / "served"
    (served / "logs" / "penguins" / "predictions").mkdir(parents=True)
    with pytest.raises(LogError, match=re.escape(f"one of {served / 'logs' / 'penguins'}")):
        read_log(served)


def test_since_until_and_versions(tmp_path):
    t = _traffic(tmp_path)
    data = read_log(
        tmp_path,
        classes=CLASSES,
        since="2026-01-01T01:00:00Z",
        until=T0 + 2 * HOUR,
        model_version=1,
    )
    expected = ((t["ts"] >= T0 + HOUR) & (t["ts"] < T0 + 2 * HOUR)).sum()
    assert data.n_rows == expected
    none = read_log(tmp_path, classes=CLASSES, model_version=7)
    assert none.n_rows == 0 and none.other_versions == {1: 600}


def test_live_metrics_match_metrics_library_on_joined_rows(tmp_path):
    t = _traffic(tmp_path)
    data = read_log(tmp_path, classes=CLASSES)
    perf = live_performance(data, CLASSES, width=HOUR, origin=T0, n_windows=3)
    y_true = [t["labels"][i] for i in t["fb_idx"]]
    y_pred = [t["pred"][i] for i in t["fb_idx"]]
    overall = perf.to_dict()["overall"]
    assert overall["n"] == len(t["fb_idx"])
    assert overall["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    for avg in ("macro", "weighted"):
        assert overall[f"f1_{avg}"] == pytest.approx(metrics.f1_score(y_true, y_pred, average=avg))
        assert overall[f"precision_{avg}"] == pytest.approx(
            metrics.precision_score(y_true, y_pred, average=avg)
        )
        lo, hi = overall[f"f1_{avg}_ci"]
        assert lo <= overall[f"f1_{avg}"] <= hi
    p = metrics.precision_score(y_true, y_pred, average=None, labels=CLASSES)
    for i, c in enumerate(CLASSES):
        assert overall["per_class"][c]["precision"] == pytest.approx(p[i])
    correct = sum(a == b for a, b in zip(y_true, y_pred, strict=True))
    low, high = metrics.wilson_interval(correct, len(y_true))
    assert overall["accuracy_ci"] == pytest.approx([low, high])
    # windows merge exactly into the whole
    merged = perf.overall()
    whole = metrics.ConfusionMatrixState().update(y_true, y_pred)
    np.testing.assert_array_equal(merged.confusion_matrix(), whole.confusion_matrix())
    win = (t["ts"][t["fb_idx"]] - T0) // HOUR
    for w in range(3):
        sel = win == w
        st = perf.states[w]
        assert st.n_samples == sel.sum()
        assert st.accuracy_score() == pytest.approx(
            metrics.accuracy_score(np.array(y_true)[sel], np.array(y_pred)[sel])
        )


def test_join_rules_request_level_latest_label_and_unknown(tmp_path):
    write_predictions(
        tmp_path,
        classes=CLASSES,
        proba=np.eye(3)[[0, 1, 2, 0]],
        ts=T0 + np.arange(4),
        request_ids=["a", "a", "a", "b"],
        rows=[0, 1, 2, 0],
        inputs={},
    )
    write_feedback(
        tmp_path,
        request_ids=["a", "a", "b", "b", "zzz"],
        rows=[-1, 1, 0, 0, 0],
        labels=["cat", "ant", "bee", "dog", "ant"],
        ts=T0 + np.array([10, 11, 12, 13, 14]),
    )
    data = read_log(tmp_path, classes=CLASSES)
    j = join_feedback(data, CLASSES)
    got = {int(r): j.labels[t] for r, t in zip(j.rows, j.true, strict=True)}
    # a: rows 0 and 2 from the request-level label, row 1 its own; b: the latest label wins
    assert got == {0: "cat", 1: "ant", 2: "cat", 3: "dog"}
    assert j.unknown_labels == ["dog"] and j.n_feedback_unmatched == 1


def test_state_from_counts_equals_update():
    rng = np.random.default_rng(1)
    y = rng.choice(["b", "a", "c"], 200)
    p = rng.choice(["b", "a", "c"], 200)
    labels = ["b", "a", "c"]
    cm = np.zeros((3, 3), dtype=np.int64)
    for a, b in zip(y, p, strict=True):
        cm[labels.index(a), labels.index(b)] += 1
    st = state_from_counts(labels, cm)
    ref = metrics.ConfusionMatrixState().update(y, p)
    np.testing.assert_array_equal(st.confusion_matrix(), ref.confusion_matrix())
    assert window_metrics(st, labels)["f1_macro"] == pytest.approx(
        metrics.f1_score(y, p, average="macro")
    )


def test_cbpe_expected_confusion_and_calibrated_estimate():
    rng = np.random.default_rng(2)
    proba = rng.dirichlet([1, 1, 1], size=20000)
    pred = proba.argmax(1)
    truth = np.array([rng.choice(3, p=q) for q in proba[:3000]])
    cm = expected_confusion(proba, pred)[0]
    direct = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            direct[i, j] = proba[pred == j, i].sum()
    np.testing.assert_allclose(cm, direct)
    overall, per = estimate_performance(
        proba[:3000], pred[:3000], CLASSES, np.zeros(3000, dtype=np.intp), 1
    )
    realised = (truth == pred[:3000]).mean()
    lo, hi = overall["accuracy_ci"]
    assert overall["estimated"] and lo - 0.01 <= realised <= hi + 0.01
    assert per[0]["accuracy"] == pytest.approx(overall["accuracy"])


def test_parse_window():
    assert parse_window("90min") == 90 * 60 * 10**6
    assert parse_window("1d") == 86400 * 10**6
    with pytest.raises(ValueError, match="not a duration"):
        parse_window("hourly")


# --- the exact id join (_ids) and the join rules, against plain Python ----------------


def _random_ids(rng, n, pool):
    return [pool[i] if rng.random() > 0.05 else None for i in rng.integers(0, len(pool), n)]


def _id_pool(rng, size=30, width=None):
    alphabet = np.array(list("ab\x00é9"))  # multi-byte and NUL characters too
    if width is not None:  # fixed-width ids (as the server's): words start aligned
        return ["".join(rng.choice(list("0123456789abcdef"), width)) for _ in range(size)]
    return ["".join(rng.choice(alphabet, int(rng.integers(0, 21)))) for _ in range(size)]


def _check_match(pred, fb):
    import polyclass.monitor._ids as ids

    fb_code, pred_code = ids.match_ids(pred, fb)
    first: dict[str, int] = {}
    for i, v in enumerate(fb.to_pylist()):
        if v is not None:
            first.setdefault(v, i)
    assert fb_code.tolist() == [-1 if v is None else first[v] for v in fb.to_pylist()]
    assert pred_code.tolist() == [-1 if v is None else first.get(v, -1) for v in pred.to_pylist()]


@pytest.mark.parametrize("mode", ["plain", "collide", "small_blocks", "fixed_width"])
def test_match_ids_equals_python_dict(monkeypatch, mode):
    import pyarrow as pa

    import polyclass.monitor._ids as ids

    if mode == "collide":  # every hash equal: the byte comparison and Arrow fallback decide
        monkeypatch.setattr(ids, "_K3", np.uint64(0))
    if mode == "small_blocks":  # runs and words crossing block edges, threads on
        monkeypatch.setattr(ids, "BLOCK", 4)
        monkeypatch.setattr(ids, "_SORTED_BLOCK", 3)
        monkeypatch.setattr(ids, "_THREADS", 2)
        monkeypatch.setattr(ids, "_GROUP_ROWS", 5)
    rng = np.random.default_rng(7)
    if mode == "fixed_width":
        monkeypatch.setattr(ids, "_K3", np.uint64(0))  # and compared word by word
    for trial in range(60):
        pool = _id_pool(rng, width=[8, 16, 32][trial % 3] if mode == "fixed_width" else None)
        pred = pa.chunked_array(
            [
                pa.array(_random_ids(rng, int(rng.integers(0, 40)), pool), pa.string())
                for _ in range(int(rng.integers(1, 4)))
            ],
            type=pa.string(),
        )
        fb = pa.array(_random_ids(rng, int(rng.integers(0, 40)), pool), pa.string())
        if trial % 3 == 0:
            fb = fb.slice(int(rng.integers(0, 3)))
        if trial % 4 == 1:
            fb = fb.cast(pa.large_string())
        _check_match(pred, fb)


def _python_join(pred_req, pred_row, fb_req, fb_row, fb_ts):
    """The contract's rules, row by row: own row beats -1; latest ts, then last, wins."""
    best: dict[tuple[str, int], int] = {}
    for j, key in enumerate(zip(fb_req, fb_row, strict=True)):
        if key not in best or (fb_ts[j], j) >= (fb_ts[best[key]], best[key]):
            best[key] = j
    out = {}
    for i, (q, r) in enumerate(zip(pred_req, pred_row, strict=True)):
        j = best.get((q, r), best.get((q, -1)))
        if j is not None:
            out[i] = j
    return out


@pytest.mark.parametrize("distinct", [True, False])
def test_join_equals_python_rules(tmp_path, distinct):
    rng = np.random.default_rng(3)
    n_req = 300
    req, row = [], []
    for q in range(n_req):
        k = 1 if distinct else int(rng.integers(1, 4))
        req += [f"req-{q:04d}-{'x' * int(rng.integers(0, 12))}"] * k
        row += list(range(k))
    n = len(req)
    ts = T0 + np.arange(n)
    proba = rng.dirichlet([1, 1, 1], size=n)
    write_predictions(
        tmp_path, classes=CLASSES, proba=proba, ts=ts, request_ids=req, rows=row, inputs={}
    )
    if distinct:  # one label per request, for its row or for the whole request
        pick = rng.permutation(n)[: n // 2]
        fb_req = [req[i] for i in pick] + ["unknown"]
        fb_row = [int(rng.choice([0, -1])) for _ in pick] + [0]
    else:
        pick = rng.integers(0, n, 2 * n)
        fb_req = [req[i] for i in pick]
        fb_row = [row[i] if rng.random() < 0.7 else -1 for i in pick]
    fb_ts = T0 + rng.integers(0, 5, len(fb_req))
    labels = list(rng.choice(CLASSES, len(fb_req)))
    write_feedback(tmp_path, request_ids=fb_req, rows=fb_row, labels=labels, ts=fb_ts)
    data = read_log(tmp_path, classes=CLASSES)
    j = join_feedback(data, CLASSES)
    expected = _python_join(req, row, fb_req, fb_row, fb_ts)
    got = {int(r): j.labels[t] for r, t in zip(j.rows, j.true, strict=True)}
    assert got == {i: labels[f] for i, f in expected.items()}
    pred = [CLASSES[k] for k in proba.argmax(1)]
    assert [j.labels[p] for p in j.pred] == [pred[int(r)] for r in j.rows]
    assert j.n_feedback_unmatched == sum(q not in set(req) for q in fb_req)


def test_label_column_of_another_type_is_reported_not_fatal(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_predictions(
        tmp_path,
        classes=CLASSES,
        proba=np.eye(3),
        ts=T0 + np.arange(3),
        request_ids=["a", "b", "c"],
        inputs={},
    )
    write_feedback(tmp_path, request_ids=["a"], labels=["bee"], ts=T0 + np.array([5]))
    bad = pa.table(
        {
            "request_id": ["b"],
            "row": pa.array([0], pa.int32()),
            "label": pa.array([1], pa.int64()),
            "ts": pa.array([T0], pa.timestamp("us", tz="UTC")),
        }
    ).replace_schema_metadata({"polyclass_log_version": "1"})
    pq.write_table(bad, tmp_path / "feedback" / "part-20260101T000000000000-4242-2.parquet")
    data = read_log(tmp_path, classes=CLASSES)
    assert data.n_feedback_segments == 1
    assert any("'label' has type int64" in p.reason for p in data.problems)
    j = join_feedback(data, CLASSES)
    assert j.rows.tolist() == [0] and j.labels[j.true[0]] == "bee"


def test_log_columns_filled_by_segment_constant_or_not():
    from polyclass.predlog._reader import _Column

    col = _Column(np.int64, 4, constant=True)
    col.append(np.array([3, 3]))
    col.append(np.array([3]))
    out = col.array()
    assert out.tolist() == [3, 3, 3] and not out.flags.writeable  # a broadcast value
    col.append(np.array([3, 5]))  # leaves the constant form, grows past its capacity
    col.append(np.array([7]))
    assert col.array().tolist() == [3, 3, 3, 3, 5, 7]
    other = _Column(np.int32, 10, constant=True)
    other.append(np.array([1, 1], dtype=np.int32))
    other.append(np.array([2], dtype=np.int32))  # another constant: materialised
    assert other.array().tolist() == [1, 1, 2]
    wide = _Column(np.float64, 3, 2)
    wide.append(np.ones((2, 2)))
    assert wide.array().shape == (2, 2) and _Column(np.float64, 0, 2).array().shape == (0, 2)


def test_recent_rows_start_bounds_what_a_refresh_reads(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    import polyclass.monitor
    import polyclass.serve._monitoring as monitoring
    from polyclass.predlog import recent_rows_start

    rng = np.random.default_rng(3)
    for seq in range(1, 5):  # four hourly segments of 100 rows each
        ts = T0 + (seq - 1) * HOUR + np.arange(100)
        write_predictions(
            tmp_path,
            classes=CLASSES,
            proba=rng.dirichlet([1, 1, 1], 100),
            ts=ts,
            inputs={"x": ("numeric", rng.normal(size=100))},
            seq=seq,
        )

    def hour(h):
        return datetime.fromtimestamp((T0 + h * HOUR) / 1e6, tz=UTC)

    assert recent_rows_start(tmp_path, 100) == hour(3)  # the newest segment suffices
    assert recent_rows_start(tmp_path, 150) == hour(2)
    assert recent_rows_start(tmp_path, 400) == hour(0)
    assert recent_rows_start(tmp_path, 401) is None  # the whole log holds fewer
    assert recent_rows_start(tmp_path / "nowhere", 10) is None
    assert read_log(tmp_path, classes=CLASSES, since=hour(2)).n_rows == 200
    # the server's refresh reads from there when that is later than its lookback
    seen = []
    monkeypatch.setattr(
        polyclass.monitor,
        "monitor_gauges",
        lambda model, log_dir, since, registry: seen.append(since) or "",
    )
    monkeypatch.setattr(monitoring, "MAX_ROWS", 150)
    monitoring._gauges("m", tmp_path, hour(0), None)
    monitoring._gauges("m", tmp_path, hour(3), None)
    assert seen == [hour(2), hour(3)]


def test_a_constant_model_gets_f1_intervals_of_positive_width() -> None:
    # issue #10: resampling within each true class fixed the class counts, so a model
    # predicting one class had macro-F1 "0.222-0.222".
    st = metrics.ConfusionMatrixState(labels=["a", "b", "c"])
    st.update(["a"] * 20 + ["b"] * 20 + ["c"] * 20, ["a"] * 60)
    out = window_metrics(st, ["a", "b", "c"])
    for avg in ("macro", "weighted"):
        lo, hi = out[f"f1_{avg}_ci"]
        assert lo < out[f"f1_{avg}"] < hi, avg


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
def test_one_labelled_row_gets_no_zero_width_interval() -> None:
    # review of issue #10: one labelled feedback row showed f1_macro "1.000-1.000"
    # while its accuracy got Wilson's 0.207-1.000.
    st = metrics.ConfusionMatrixState(labels=["a", "b", "c"])
    st.update(["a"], ["a"])
    out = window_metrics(st, ["a", "b", "c"])
    acc_lo = out["accuracy_ci"][0]
    assert acc_lo < 0.5
    for m in ("f1", "precision", "recall"):
        for avg in ("macro", "weighted"):
            lo, hi = out[f"{m}_{avg}_ci"]
            assert lo < hi and lo <= out[f"{m}_{avg}"] <= hi, (m, avg)
            assert lo == pytest.approx(acc_lo), (m, avg)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true:UserWarning")
def test_macro_f1_interval_covers_a_near_perfect_model() -> None:
    # A model right 98% of the time on 3 balanced classes: its population macro F1 is
    # 0.98 by symmetry. Most 15-row windows are perfect; their interval must still
    # cover 0.98 (a collapsed bootstrap "1.000-1.000" would not).
    rng = np.random.default_rng(5)
    labels = ["a", "b", "c"]
    covered = 0
    n_windows = 200
    for _ in range(n_windows):
        y = rng.integers(0, 3, 15)
        wrong = rng.random(15) >= 0.98
        p = np.where(wrong, (y + rng.integers(1, 3, 15)) % 3, y)
        cm = np.zeros((3, 3), dtype=np.int64)
        np.add.at(cm, (y, p), 1)
        out = window_metrics(state_from_counts(labels, cm), labels, n_resamples=200)
        lo, hi = out["f1_macro_ci"]
        covered += lo <= 0.98 <= hi
    assert covered / n_windows >= 0.9


@pytest.mark.parametrize(
    ("y", "p"),
    [
        (["a"] * 5, ["a"] * 5),  # one class seen: no "use the 'labels' parameter" advice
        (["a", "a", "b", "c", "b", "a"], ["a", "b", "b", "a", "b", "c"]),
        (["a", "a", "b"], ["a", "c", "b"]),  # c predicted, never true
    ],
)
def test_window_balanced_accuracy_is_sklearns_without_its_warnings(y, p):
    from sklearn.metrics import balanced_accuracy_score

    labels = ["a", "b", "c"]
    cm = np.zeros((3, 3), dtype=np.int64)
    for a, b in zip(y, p, strict=True):
        cm[labels.index(a), labels.index(b)] += 1
    got = window_metrics(state_from_counts(labels, cm), labels)["balanced_accuracy"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = balanced_accuracy_score(y, p)
    assert got == pytest.approx(want)


def test_cbpe_needs_a_stated_minimum_of_rows() -> None:
    # review of issue #10: "accuracy 0.9999 (±0.012), macro F1 0.3333 on 1 rows".
    from polyclass.monitor._estimate import MIN_ROWS

    classes = ["a", "b", "c"]
    one = np.array([[0.9999, 0.00005, 0.00005]])
    overall, _ = estimate_performance(one, np.array([0]), classes)
    assert overall["n"] == 1 and "accuracy" not in overall and "f1_macro" not in overall
    assert "too few rows" in overall["too_few_rows"] and str(MIN_ROWS) in overall["too_few_rows"]
    proba = np.tile([0.9, 0.05, 0.05], (MIN_ROWS, 1))
    overall, _ = estimate_performance(proba, np.zeros(MIN_ROWS, dtype=np.intp), classes)
    assert overall["accuracy"] == pytest.approx(0.9) and "too_few_rows" not in overall
    # classes never predicted have no precision: left out of the macro average, not 0
    assert overall["precision_macro"] == pytest.approx(0.9)
