"""Score metrics against scikit-learn on many random inputs (the oracle)."""

from __future__ import annotations

import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from polyclass import metrics as pcm

RTOL = 1e-12


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            value = fn(*args, **kwargs)
        except (ValueError, NotImplementedError) as exc:
            value = exc
    return value, sorted({w.category.__name__ for w in record})


def same(name: str, *args: Any, **kwargs: Any) -> None:
    """Ours equals sklearn's: value (1e-12 relative), warnings, and error or not."""
    expected, w_exp = _call(getattr(skm, name), *args, **kwargs)
    got, w_got = _call(getattr(pcm, name), *args, **kwargs)
    if isinstance(expected, Exception):
        if "At least 2 points" in str(expected):
            # sklearn crashes on max_fpr when one class has no weight; we warn and give NaN
            assert np.isnan(got) and "UndefinedMetricWarning" in w_got
            return
        assert isinstance(got, Exception), (name, kwargs, expected, got)
        return
    assert not isinstance(got, Exception), (name, kwargs, got)
    assert w_got == w_exp, (name, kwargs, w_got, w_exp)
    if isinstance(expected, tuple):
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g.shape == e.shape, (name, kwargs)
            np.testing.assert_allclose(g, e, rtol=RTOL, atol=0)
    else:
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-15, err_msg=name)


def _labels(rng: np.random.Generator, codes: np.ndarray, kind: str) -> tuple[np.ndarray, Any]:
    if kind == "str":
        return np.array(["cat", "dog"])[codes], "dog"
    if kind == "bool":
        return codes.astype(bool), True
    if kind == "pm1":
        return np.where(codes == 1, 1, -1), None
    return codes, None


@pytest.mark.parametrize("seed", range(30))
def test_binary_functions_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    codes = rng.integers(0, 2, n)
    kind = ["int", "str", "bool", "pm1"][seed % 4]
    y, pos_label = _labels(rng, codes, kind)
    decimals = int(rng.integers(0, 3))  # heavy ties
    score = np.round(rng.random(n), decimals)
    weight = None
    if seed % 3 == 1:
        weight = rng.integers(0, 3, n).astype(float)  # zeros included
    elif seed % 3 == 2:
        weight = rng.random(n) * (rng.random(n) > 0.2)
    if weight is not None and weight.sum() == 0:
        weight[0] = 1.0
    for drop in (True, False):
        for name in ("roc_curve", "precision_recall_curve", "det_curve"):
            same(name, y, score, pos_label=pos_label, sample_weight=weight, drop_intermediate=drop)
    for max_fpr in (None, 0.2, 0.5, 1.0):
        same("roc_auc_score", y, score, sample_weight=weight, max_fpr=max_fpr)
    same(
        "average_precision_score",
        y,
        score,
        sample_weight=weight,
        pos_label=1 if pos_label is None else pos_label,
    )
    proba = np.clip(score, 0, 1)
    same("brier_score_loss", y, proba, sample_weight=weight, pos_label=pos_label)
    same("log_loss", y, proba, sample_weight=weight)
    same("log_loss", y, proba, sample_weight=weight, normalize=False)


def _proba(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    p = np.round(rng.random((n, k)), 1) + 0.05
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(15))
def test_multiclass_functions_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(6, 80))
    k = int(rng.integers(3, 6))
    codes = rng.integers(0, k, n)
    names = np.array(["ant", "bee", "cat", "dog", "eel"])[:k]
    y: np.ndarray = names[codes] if seed % 2 else codes
    labels = list(names) if seed % 2 else list(range(k))
    proba = _proba(rng, n, k)
    weight = None if seed % 3 else rng.integers(0, 3, n).astype(float) + (rng.random(n) > 0.5)
    full = len(np.unique(codes)) == k
    for multi_class in ("ovr", "ovo"):
        for average in ("macro", "weighted", "micro", None):
            kw: dict[str, Any] = dict(multi_class=multi_class, average=average, labels=labels)
            same("roc_auc_score", y, proba, sample_weight=weight, **kw)
            if full:
                kw.pop("labels")
                same("roc_auc_score", y, proba, sample_weight=weight, **kw)
    if full:
        for average in ("macro", "weighted", "micro", "samples", None):
            same("average_precision_score", y, proba, sample_weight=weight, average=average)
        same("log_loss", y, proba, sample_weight=weight)
        same("brier_score_loss", y, proba, sample_weight=weight)
    same("log_loss", y, proba, sample_weight=weight, labels=labels)
    same("brier_score_loss", y, proba, sample_weight=weight, labels=labels)
    same("brier_score_loss", y, proba, labels=labels, scale_by_half=True)


def test_multiclass_label_missing_from_y_true() -> None:
    rng = np.random.default_rng(7)
    y = rng.choice(["a", "b", "d"], 60)  # "c" never occurs
    proba = _proba(rng, 60, 4)
    for average in ("macro", "weighted", None):
        same(
            "roc_auc_score",
            y,
            proba,
            multi_class="ovr",
            average=average,
            labels=["a", "b", "c", "d"],
        )
        if average is not None:
            same(
                "roc_auc_score",
                y,
                proba,
                multi_class="ovo",
                average=average,
                labels=["a", "b", "c", "d"],
            )


@pytest.mark.parametrize("seed", range(10))
def test_multilabel_indicator_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    n, k = int(rng.integers(4, 40)), int(rng.integers(2, 5))
    y = rng.integers(0, 2, (n, k))
    score = np.round(rng.random((n, k)), 1)
    weight = None if seed % 2 else rng.integers(1, 3, n).astype(float)
    for average in ("macro", "weighted", "micro", "samples", None):
        same("roc_auc_score", y, score, sample_weight=weight, average=average)
        same("average_precision_score", y, score, sample_weight=weight, average=average)


def test_one_class_only_warns_like_sklearn() -> None:
    y = np.ones(5, dtype=int)
    s = np.linspace(0, 1, 5)
    with pytest.warns(pcm.UndefinedMetricWarning, match="Only one class"):
        assert np.isnan(pcm.roc_auc_score(y, s))
    with pytest.warns(pcm.UndefinedMetricWarning, match="No negative samples"):
        fpr, _, _ = pcm.roc_curve(y, s)
    assert np.isnan(fpr).all()
    with pytest.warns(UserWarning, match="No positive class"):
        assert pcm.average_precision_score(np.zeros(5, dtype=int), s) == 0.0
    with pytest.raises(ValueError, match="Only one class is present"):
        pcm.det_curve(y, s)
    same("roc_curve", np.zeros(5, dtype=int), s)
    same("precision_recall_curve", np.zeros(5, dtype=int), s)


def test_auc_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    x = np.sort(rng.random(30))
    y = rng.random(30)
    assert pcm.auc(x, y) == pytest.approx(skm.auc(x, y), rel=RTOL)
    assert pcm.auc(x[::-1], y[::-1]) == pytest.approx(skm.auc(x[::-1], y[::-1]), rel=RTOL)


def test_large_continuous_binary() -> None:
    rng = np.random.default_rng(11)
    n = 200_000
    y = rng.integers(0, 2, n)
    s = rng.random(n) + 0.2 * y
    same("roc_auc_score", y, s)
    same("average_precision_score", y, s)
    same("roc_curve", y, s)


def test_large_weighted_binary_beyond_one_chunk() -> None:
    """More columns than one chunk of the stage-3 reductions, float weights and ties."""
    rng = np.random.default_rng(12)
    n = 150_000
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n) + 0.2 * y, 4)
    w = rng.random(n) * (rng.random(n) > 0.1)
    for max_fpr in (None, 0.3):
        same("roc_auc_score", y, s, sample_weight=w, max_fpr=max_fpr)
    same("roc_auc_score", y, s, max_fpr=0.9)
    same("average_precision_score", y, s, sample_weight=w)
    same("average_precision_score", y, s)
    for drop in (True, False):
        for name in ("roc_curve", "precision_recall_curve", "det_curve"):
            same(name, y, s, sample_weight=w, drop_intermediate=drop)


@pytest.mark.parametrize(
    ("name", "kwargs", "weighted"),
    [
        ("roc_auc_score", {}, False),
        ("roc_auc_score", {"max_fpr": 0.5}, False),
        ("roc_auc_score", {}, True),
        ("roc_curve", {}, False),
        ("roc_curve", {"drop_intermediate": False}, False),
        ("roc_curve", {}, True),
        ("precision_recall_curve", {}, False),
        ("precision_recall_curve", {"drop_intermediate": True}, True),
        ("average_precision_score", {}, False),
        ("average_precision_score", {}, True),
        ("det_curve", {}, False),
    ],
)
def test_peak_memory_at_most_three_times_the_inputs(
    name: str, kwargs: dict[str, Any], weighted: bool
) -> None:
    rng = np.random.default_rng(13)
    n = 200_000
    y = rng.integers(0, 2, n)
    s = rng.random(n) + 0.25 * y
    w = rng.random(n) if weighted else None
    inputs = y.nbytes + s.nbytes + (0 if w is None else w.nbytes)
    fn = getattr(pcm, name)
    fn(y, s, sample_weight=w, **kwargs)  # imports and caches out of the measurement
    tracemalloc.start()
    try:
        fn(y, s, sample_weight=w, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 3 * inputs, f"{name}: peak {peak / inputs:.2f}x the input bytes"


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 3)),
        min_size=2,
        max_size=40,
    )
)
def test_hypothesis_binary(data: list[tuple[int, int, int]]) -> None:
    y = np.array([d[0] for d in data])
    s = np.array([d[1] for d in data], dtype=float) / 6
    w = np.array([d[2] for d in data], dtype=float)
    if w.sum() == 0:
        w[0] = 1.0
    same("roc_curve", y, s, sample_weight=w)
    same("precision_recall_curve", y, s, sample_weight=w)
    same("roc_auc_score", y, s)
    same("roc_auc_score", y, s, sample_weight=w, max_fpr=0.4)
    same("average_precision_score", y, s, sample_weight=w)
