"""ConfusionMatrixState: batches, merges and JSON round trips equal the whole-data result.

Also: the CONFUSION_METRICS registry on a (B, K, K) batch equals the public function on
each resample (what the bootstrap relies on).
"""

from __future__ import annotations

import itertools
import json
import warnings
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm

from polyclass import metrics
from polyclass.metrics import ConfusionMatrixState
from polyclass.metrics._confusion import CONFUSION_METRICS, confusion_counts

# (method / function name, keyword arguments) evaluated on states and on whole data.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("accuracy_score", {}),
    ("accuracy_score", {"normalize": False}),
    ("balanced_accuracy_score", {}),
    ("balanced_accuracy_score", {"adjusted": True}),
    ("hamming_loss", {}),
    ("matthews_corrcoef", {}),
    ("cohen_kappa_score", {}),
    ("cohen_kappa_score", {"weights": "quadratic"}),
    ("confusion_matrix", {}),
    ("confusion_matrix", {"normalize": "true"}),
    ("multilabel_confusion_matrix", {}),
    ("precision_recall_fscore_support", {"average": None, "zero_division": 0}),
    ("precision_score", {"average": "macro", "zero_division": 0}),
    ("recall_score", {"average": "weighted", "zero_division": 1}),
    ("f1_score", {"average": "micro"}),
    ("fbeta_score", {"beta": 2.0, "average": "macro", "zero_division": 0}),
    ("jaccard_score", {"average": "weighted", "zero_division": 0}),
    ("specificity_score", {"average": None, "zero_division": 0}),
    ("classification_report", {"zero_division": 0}),
    ("classification_report", {"output_dict": True, "zero_division": 0}),
]


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def assert_equal(a: Any, b: Any, *, exact: bool) -> None:
    if isinstance(b, dict):
        assert list(a) == list(b)
        for key in b:
            assert_equal(a[key], b[key], exact=exact)
    elif isinstance(b, str):
        assert a == b
    elif isinstance(b, tuple):
        for x, y in zip(a, b, strict=True):
            assert_equal(x, y, exact=exact)
    elif b is None:
        assert a is None
    elif exact:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    else:
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12)


def _data(seed: int, kind: str, n: int = 300) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 5, n)
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, 6, n))
    if kind == "str":
        names = np.array(["a", "b", "c", "d", "e", "f"])
        return names[t], names[p]
    if kind == "negint":
        return t - 3, p - 3
    return t, p


def _batches(rng: np.random.Generator, n: int) -> list[slice]:
    cuts = np.sort(rng.choice(np.arange(1, n), size=int(rng.integers(1, 8)), replace=False))
    edges = [0, *cuts.tolist(), n]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("kind", ["int", "str", "negint"])
@pytest.mark.parametrize("seed", range(8))
def test_batches_and_merges_equal_whole(seed: int, kind: str) -> None:
    t, p = _data(seed, kind)
    rng = np.random.default_rng(100 + seed)
    # integer weights keep counts exact; every other batch is unweighted
    w = rng.integers(1, 4, len(t)) if seed % 2 else None
    parts = _batches(rng, len(t))
    states = []
    for i, sl in enumerate(parts):
        state = ConfusionMatrixState()
        state.update(t[sl], p[sl], None if w is None else w[sl])
        states.append((i, state))
    # merge in a shuffled order, each through JSON
    order = rng.permutation(len(states))
    merged = ConfusionMatrixState()
    for j in order:
        merged.merge(ConfusionMatrixState.from_json(states[j][1].to_json()))
    sequential = ConfusionMatrixState()
    for sl in parts:
        sequential.update(t[sl], p[sl], None if w is None else w[sl])
    for name, kwargs in CALLS:
        kw = dict(kwargs)
        whole = _quiet(getattr(metrics, name), t, p, sample_weight=w, **kw)
        for state in (merged, sequential):
            assert_equal(_quiet(getattr(state, name), **kw), whole, exact=True)


def test_float_weights_agree_to_rounding_and_json_is_exact() -> None:
    t, p = _data(3, "int", 500)
    rng = np.random.default_rng(7)
    w = rng.random(len(t))
    state = ConfusionMatrixState()
    for sl in _batches(rng, len(t)):
        state.update(t[sl], p[sl], w[sl])
    again = ConfusionMatrixState.from_json(state.to_json())
    np.testing.assert_array_equal(again.counts_, state.counts_)  # bit-exact via float.hex
    assert again.counts_.dtype == np.float64
    for name, kwargs in CALLS:
        if name == "classification_report" and not kwargs.get("output_dict"):
            continue  # printed supports show every digit of the weight sums
        whole = _quiet(getattr(metrics, name), t, p, sample_weight=w, **kwargs)
        assert_equal(_quiet(getattr(again, name), **kwargs), whole, exact=False)


def test_labels_discovered_and_fixed() -> None:
    state = ConfusionMatrixState()
    state.update([1, 2], [1, 1]).update([5], [2])
    assert state.classes_.tolist() == [1, 2, 5]
    assert state.confusion_matrix().tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 0]]
    # a label known up front but never seen does not change the metrics
    fixed = ConfusionMatrixState(labels=[1, 2, 5, 9])
    fixed.update([1, 2], [1, 1]).update([5], [2])
    assert fixed.f1_score(average="macro", zero_division=0) == state.f1_score(
        average="macro", zero_division=0
    )
    assert fixed.confusion_matrix(labels=[1, 2, 5, 9]).shape == (4, 4)
    with pytest.raises(ValueError, match="not among the fixed labels"):
        fixed.update([7], [1])


def test_string_and_bool_labels_round_trip() -> None:
    s = ConfusionMatrixState().update(["cat", "dog"], ["dog", "dog"])
    back = ConfusionMatrixState.from_json(s.to_json())
    assert back.classes_.tolist() == ["cat", "dog"]
    assert back.classification_report(zero_division=0) == skm.classification_report(
        ["cat", "dog"], ["dog", "dog"], zero_division=0
    )
    b = ConfusionMatrixState().update([True, False, True], [True, True, True])
    back_b = ConfusionMatrixState.from_json(b.to_json())
    assert back_b.classes_.dtype == bool
    assert back_b.f1_score() == skm.f1_score([True, False, True], [True, True, True])


def test_mixed_label_types_and_bad_json_raise() -> None:
    s = ConfusionMatrixState().update([1, 2], [1, 2])
    with pytest.raises(ValueError, match="mix of label input types"):
        s.update(["a"], ["b"])
    with pytest.raises(ValueError, match="mix of label input types"):
        s.merge(ConfusionMatrixState().update(["a"], ["a"]))
    with pytest.raises(ValueError, match="no samples yet"):
        ConfusionMatrixState().accuracy_score()
    with pytest.raises(ValueError, match="not valid JSON"):
        ConfusionMatrixState.from_json("{")
    with pytest.raises(ValueError, match="format"):
        ConfusionMatrixState.from_json(json.dumps({"format": "other"}))
    doc = json.loads(s.to_json())
    doc["counts"] = [[1]]
    with pytest.raises(ValueError, match="inconsistent"):
        ConfusionMatrixState.from_json(json.dumps(doc))
    with pytest.raises(TypeError, match="ConfusionMatrixState"):
        s.merge("nope")  # type: ignore[arg-type]


def test_counts_stay_integers_in_json() -> None:
    s = ConfusionMatrixState().update([0, 1, 1], [0, 1, 0], sample_weight=[1, 2, 3])
    doc = json.loads(s.to_json())
    assert doc["counts_dtype"] == "int64"
    assert doc["counts"] == [[1, 0], [3, 2]]
    assert s.confusion_matrix().dtype == np.int64


# --- the registry: one vectorized call over resampled matrices ------------------------

REGISTRY_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("accuracy_score", {}),
    ("balanced_accuracy_score", {"adjusted": True}),
    ("hamming_loss", {}),
    ("matthews_corrcoef", {}),
    ("cohen_kappa_score", {}),
    ("cohen_kappa_score", {"weights": "linear"}),
    ("precision_score", {"average": "macro", "zero_division": 0}),
    ("recall_score", {"average": "weighted", "zero_division": 0}),
    ("f1_score", {"average": "macro", "zero_division": 0}),
    ("f1_score", {"average": "micro"}),
    ("fbeta_score", {"beta": 0.5, "average": "weighted", "zero_division": 0}),
    ("jaccard_score", {"average": "macro", "zero_division": 0}),
    ("f1_score", {"average": None, "labels": ["a", "c", "z"], "zero_division": 0}),
    ("precision_score", {"average": "macro", "labels": ["b", "c"], "zero_division": 0}),
]


@pytest.mark.parametrize(("name", "kwargs"), REGISTRY_CALLS)
def test_registry_batch_equals_public_function_per_resample(
    name: str, kwargs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(11)
    names = np.array(["a", "b", "c", "d"])
    n = 40
    t = rng.integers(0, 4, n)
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, 4, n))
    classes = names
    resamples = [rng.integers(0, n, n) for _ in range(30)]
    # a resample with one class missing entirely, as bootstraps of small data produce
    keep = np.flatnonzero((t != 3) & (p != 3))
    resamples.append(keep[rng.integers(0, len(keep), n)])
    cms = np.stack([confusion_counts(t[i], p[i], 4) for i in resamples])
    batched = _quiet(CONFUSION_METRICS[name], cms, classes=classes, **kwargs)
    for b, idx in enumerate(resamples):
        expected = _quiet(getattr(skm, name), names[t[idx]], names[p[idx]], **kwargs)
        np.testing.assert_allclose(batched[b], expected, rtol=1e-12, equal_nan=True)


def test_registry_binary_pos_label_and_warning_once() -> None:
    rng = np.random.default_rng(2)
    t = rng.integers(0, 2, 30)
    p = rng.integers(0, 2, 30)
    cms = np.stack(
        [confusion_counts(t[i], p[i], 2) for i in (rng.integers(0, 30, 30) for _ in range(20))]
    )
    for name in ("precision_score", "recall_score", "f1_score", "specificity_score"):
        out = CONFUSION_METRICS[name](cms, pos_label=0, zero_division=0)
        assert out.shape == (20,)
        whole = getattr(metrics, name)(t, p, pos_label=0, zero_division=0)
        single = CONFUSION_METRICS[name](confusion_counts(t, p, 2), pos_label=0, zero_division=0)
        assert float(single) == whole
    degenerate = np.zeros((3, 2, 2), dtype=np.int64)
    degenerate[:, 0, 0] = 5
    with pytest.warns(metrics.UndefinedMetricWarning) as record:
        CONFUSION_METRICS["precision_score"](degenerate)
    assert len(record) == 1


def test_empty_batch_is_a_no_op() -> None:
    # issue #10: a window with no rows raised; torchmetrics treats it as nothing to add.
    state = ConfusionMatrixState()
    state.update([], [])
    state.update(np.array([], dtype=str), np.array([], dtype=str), sample_weight=[])
    assert state.n_samples == 0 and len(state.classes_) == 0
    state.update(["a", "b"], ["a", "a"]).update([], [])
    assert state.counts_.tolist() == [[1, 0], [1, 0]]
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        state.update([], ["a"])
