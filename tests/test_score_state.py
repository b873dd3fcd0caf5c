"""ScoreCurveState: batched and merged (through JSON) equals the whole-data functions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyclass import metrics as pcm
from polyclass.metrics._ranking import (
    auc_from_counts,
    average_precision_from_counts,
    curve_counts,
    sort_scores,
    stable_argsort,
    weighted_counts,
)


def _batched(
    y: np.ndarray, s: np.ndarray, w: np.ndarray | None, cuts: list[int], **kw: object
) -> pcm.ScoreCurveState:
    states = []
    for a, b in zip([0, *cuts], [*cuts, len(y)], strict=True):
        st = pcm.ScoreCurveState(**kw)  # type: ignore[arg-type]
        if b > a:
            st.update(y[a:b], s[a:b], None if w is None else w[a:b])
        states.append(pcm.ScoreCurveState.from_json(st.to_json()))
    merged = states[0]
    for other in states[1:]:
        merged.merge(other)
    return merged


@pytest.mark.parametrize("seed", range(20))
def test_exact_batched_equals_whole(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 400))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = np.round(rng.normal(size=n), int(rng.integers(0, 3)))
    w = None if seed % 2 else rng.integers(0, 4, n).astype(float)
    if w is not None:
        w[:2] = 1.0
    cuts = sorted(rng.choice(n, 4).tolist())
    st = _batched(y, s, w, cuts)
    for got, exp in zip(st.roc_curve(), pcm.roc_curve(y, s, sample_weight=w), strict=True):
        assert np.array_equal(got, exp)
    pr_pairs = zip(
        st.precision_recall_curve(), pcm.precision_recall_curve(y, s, sample_weight=w), strict=True
    )
    for got, exp in pr_pairs:
        assert np.array_equal(got, exp)
    assert st.roc_auc_score() == pcm.roc_auc_score(y, s, sample_weight=w)
    assert st.roc_auc_score(max_fpr=0.3) == pcm.roc_auc_score(y, s, sample_weight=w, max_fpr=0.3)
    assert st.average_precision_score() == pcm.average_precision_score(y, s, sample_weight=w)


def test_float_weights_and_string_labels_close() -> None:
    rng = np.random.default_rng(1)
    y = rng.choice(["ham", "spam"], 300)
    s = rng.random(300)
    w = rng.random(300)
    st = _batched(y, s, w, [50, 120, 121], pos_label="spam")
    exp = pcm.roc_auc_score(y == "spam", s, sample_weight=w)
    assert st.roc_auc_score() == pytest.approx(exp, rel=1e-12)


def test_binned_is_close_and_exact_on_its_thresholds() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 5000)
    p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    exact = pcm.roc_auc_score(y, p)
    st = _batched(y, p, None, [1000, 3000], n_bins=200)
    assert st.roc_auc_score() == pytest.approx(exact, abs=2e-3)
    assert st.average_precision_score() == pytest.approx(
        pcm.average_precision_score(y, p), abs=5e-3
    )
    rounded = np.round(p, 2)
    on_grid = _batched(y, rounded, None, [2500], thresholds=np.unique(rounded))
    assert on_grid.roc_auc_score() == pytest.approx(pcm.roc_auc_score(y, rounded), rel=1e-12)
    doc = json.loads(st.to_json())
    assert doc["mode"] == "binned" and len(doc["pos"]) == 202  # 201 edges and the bin below 0


def test_json_round_trip_is_bit_exact() -> None:
    rng = np.random.default_rng(3)
    st = pcm.ScoreCurveState()
    st.update(rng.integers(0, 2, 100), rng.normal(size=100) * 1e-300, rng.random(100))
    again = pcm.ScoreCurveState.from_json(st.to_json())
    assert again.to_json() == st.to_json()
    assert np.array_equal(again.roc_curve()[2], st.roc_curve()[2])


def test_merge_and_json_refuse_bad_input() -> None:
    exact, binned = pcm.ScoreCurveState(), pcm.ScoreCurveState(n_bins=10)
    with pytest.raises(ValueError, match="Cannot merge a binned ScoreCurveState into a exact"):
        exact.merge(binned)
    with pytest.raises(ValueError, match="different thresholds"):
        binned.merge(pcm.ScoreCurveState(n_bins=20))
    with pytest.raises(ValueError, match="different pos_label"):
        exact.merge(pcm.ScoreCurveState(pos_label="yes"))
    with pytest.raises(ValueError, match="expected a document with format"):
        pcm.ScoreCurveState.from_json('{"format": "other"}')
    with pytest.raises(ValueError, match="not valid JSON"):
        pcm.ScoreCurveState.from_json("{")
    with pytest.raises(ValueError, match="no samples"):
        exact.roc_auc_score()
    with pytest.raises(ValueError, match="strictly increasing"):
        pcm.ScoreCurveState(thresholds=[0.5, 0.2])
    with pytest.raises(ValueError, match="y_score contains NaN"):
        exact.update([0, 1], [0.1, np.nan])


def test_one_class_state_warns() -> None:
    st = pcm.ScoreCurveState()
    st.update([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.warns(pcm.UndefinedMetricWarning, match="Only one class"):
        assert np.isnan(st.roc_auc_score())


def test_batched_core_matches_public_functions_per_resample() -> None:
    """The contract used by the bootstrap: (B, n) reweighting in one call."""
    rng = np.random.default_rng(4)
    n, b = 300, 16
    y = rng.integers(0, 2, n).astype(bool)
    s = np.round(rng.random(n), 2)
    ss = sort_scores(y, s)
    mult = rng.multinomial(n, np.full(n, 1 / n), size=b).astype(float)  # bootstrap counts
    w_sorted = mult[:, ss.order]
    tps, fps = curve_counts(ss.pos_w * w_sorted, ss.neg_w * w_sorted, ss.threshold_idx)
    aucs = auc_from_counts(fps, tps)
    aps = average_precision_from_counts(fps, tps)
    pauc = auc_from_counts(fps, tps, max_fpr=0.25)
    for i in range(b):
        assert aucs[i] == pcm.roc_auc_score(y, s, sample_weight=mult[i])
        assert aucs[i] == pcm.roc_auc_score(
            np.repeat(y, mult[i].astype(int)), np.repeat(s, mult[i].astype(int))
        )
        assert aps[i] == pytest.approx(
            pcm.average_precision_score(y, s, sample_weight=mult[i]), rel=1e-12
        )
        assert pauc[i] == pytest.approx(
            pcm.roc_auc_score(y, s, sample_weight=mult[i], max_fpr=0.25), rel=1e-12
        )


@pytest.mark.parametrize("kind", ["distinct", "ties", "special", "signed_zeros"])
def test_stable_argsort_is_the_stable_permutation(kind: str) -> None:
    """The radix route (n >= 4096) returns np.argsort(kind="stable")'s permutation."""
    rng = np.random.default_rng(5)
    n = 9_000
    if kind == "distinct":
        x = rng.normal(size=n)
    elif kind == "ties":
        x = np.round(rng.normal(size=n), 1)
    elif kind == "special":
        x = rng.choice([-np.inf, np.inf, -1.0, 1.0, 5e-324, -5e-324, 1e308, 0.5], n)
    else:
        x = rng.choice([0.0, -0.0, 1.0, -1.0], n)
    for desc in (False, True):
        expected = np.argsort(-x if desc else x, kind="stable")
        assert np.array_equal(stable_argsort(x, descending=desc), expected)
    view = x[::3]  # strided input
    assert np.array_equal(stable_argsort(view, descending=True), np.argsort(-view, kind="stable"))


def test_weighted_counts_are_curve_counts_of_sorted_scores() -> None:
    """The public weighted route and the bootstrap's stages give the very same counts."""
    rng = np.random.default_rng(6)
    n = 20_000
    y = rng.integers(0, 2, n).astype(bool)
    s = np.round(rng.normal(size=n), 2)
    w = rng.random(n) * (rng.random(n) > 0.1)
    tps, fps, thresholds = weighted_counts(y, s, w)
    ss = sort_scores(y, s, w)
    tps2, fps2 = curve_counts(ss.pos_w, ss.neg_w, ss.threshold_idx)
    assert np.array_equal(tps, tps2)
    assert np.array_equal(fps, fps2)
    assert np.array_equal(thresholds, ss.thresholds)


@pytest.mark.parametrize("n_bins", [None, 10])
def test_empty_batch_is_a_no_op(n_bins: int | None) -> None:
    # issue #10: a window with no rows raised; torchmetrics treats it as nothing to add.
    state = pcm.ScoreCurveState(n_bins=n_bins) if n_bins else pcm.ScoreCurveState()
    state.update([], [])
    state.update([0, 1, 1], [0.2, 0.7, 0.4])
    before = state.to_json()
    state.update(np.array([], dtype=int), np.array([]), sample_weight=[])
    assert state.to_json() == before
    assert state.roc_auc_score() == 1.0
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        state.update([], [0.5])
