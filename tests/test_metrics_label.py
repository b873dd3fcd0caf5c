"""Label metrics agree with scikit-learn on many random inputs (seeded generators).

Results to 1e-12 relative, the same warnings (category and sentence), and a
ValueError wherever scikit-learn raises one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from _label_oracle import compare

LABEL_KINDS = ["int", "negint", "str", "bool", "float", "object"]


def make_labels(rng: np.random.Generator, kind: str, n: int) -> tuple[Any, Any, np.ndarray]:
    """y_true and y_pred of the given kind, with classes sometimes missing from one side."""
    k = 2 if kind == "bool" else int(rng.integers(1, 6))
    k_pred = max(1, k + int(rng.integers(-1, 2)))
    t = rng.integers(0, k, n)
    p = rng.integers(0, k_pred, n)
    if rng.random() < 0.5:
        p = np.where(rng.random(n) < 0.6, t, p)  # a better-than-chance classifier
    universe = np.arange(max(k, k_pred) + 1)
    if kind == "int":
        return t, p, universe
    if kind == "negint":
        return t - 2, p - 2, universe - 2
    if kind == "bool":
        return t.astype(bool), (p % 2).astype(bool), np.array([False, True])
    if kind == "float":
        return t.astype(float), p.astype(float), universe.astype(float)
    names = np.array(["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"])
    if kind == "object":
        return list(names[t]), list(names[p]), names[universe]
    return names[t], names[p], names[universe]


def make_weights(rng: np.random.Generator, n: int) -> Any:
    choice = rng.integers(0, 4)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random(n)
    if choice == 2:
        w = rng.random(n)
        w[rng.random(n) < 0.3] = 0.0
        return w
    return rng.integers(0, 4, n)


def pick_labels(rng: np.random.Generator, universe: np.ndarray, present: np.ndarray) -> Any:
    choice = rng.integers(0, 4)
    if choice == 0 or len(present) == 0:
        return None
    if choice == 1:  # a subset, shuffled
        m = int(rng.integers(1, len(present) + 1))
        return list(rng.permutation(present)[:m])
    if choice == 2:  # a superset with a label absent from the data
        return list(np.union1d(present, universe[-1:]))
    return list(rng.permutation(universe)[: max(1, len(universe) - 1)])


def _present(t: Any, p: Any) -> np.ndarray:
    return np.union1d(np.asarray(t), np.asarray(p))


SEEDS = range(20)


@pytest.mark.parametrize("kind", LABEL_KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_prf_family(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed * 7 + LABEL_KINDS.index(kind))
    n = int(rng.integers(1, 40))
    t, p, universe = make_labels(rng, kind, n)
    w = make_weights(rng, n)
    present = _present(t, p)
    labels = pick_labels(rng, universe, present)
    pos_label: Any = 1
    if rng.random() < 0.5 and len(present):
        pos_label = present[rng.integers(len(present))].item()
    zero_division = [0, 1, np.nan, "warn"][seed % 4]
    for average in (None, "micro", "macro", "weighted", "binary"):
        kw = dict(labels=labels, average=average, sample_weight=w, zero_division=zero_division)
        compare("precision_recall_fscore_support", t, p, pos_label=pos_label, **kw)
        compare("precision_score", t, p, pos_label=pos_label, **kw)
        compare("recall_score", t, p, pos_label=pos_label, **kw)
        compare("f1_score", t, p, pos_label=pos_label, **kw)
        compare(
            "fbeta_score", t, p, beta=[0.5, 2.0, 0.0, np.inf][seed % 4], pos_label=pos_label, **kw
        )
        if not (isinstance(zero_division, float) and np.isnan(zero_division)):
            compare("jaccard_score", t, p, pos_label=pos_label, **kw)


@pytest.mark.parametrize("kind", LABEL_KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_whole_sample_metrics(kind: str, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed * 7 + LABEL_KINDS.index(kind))
    n = int(rng.integers(1, 50))
    t, p, universe = make_labels(rng, kind, n)
    w = make_weights(rng, n)
    labels = pick_labels(rng, universe, _present(t, p))
    compare("accuracy_score", t, p, sample_weight=w)
    compare("accuracy_score", t, p, sample_weight=w, normalize=False)
    compare("hamming_loss", t, p, sample_weight=w)
    compare("matthews_corrcoef", t, p, sample_weight=w)
    compare("balanced_accuracy_score", t, p, sample_weight=w, adjusted=bool(seed % 2))
    for weights in (None, "linear", "quadratic"):
        compare("cohen_kappa_score", t, p, labels=labels, weights=weights, sample_weight=w)
    for normalize in (None, "true", "pred", "all"):
        compare("confusion_matrix", t, p, labels=labels, sample_weight=w, normalize=normalize)
    compare("multilabel_confusion_matrix", t, p, labels=labels, sample_weight=w)


@pytest.mark.parametrize("kind", LABEL_KINDS)
@pytest.mark.parametrize("seed", range(15))
def test_classification_report(kind: str, seed: int) -> None:
    rng = np.random.default_rng(2000 + seed * 7 + LABEL_KINDS.index(kind))
    n = int(rng.integers(1, 60))
    t, p, universe = make_labels(rng, kind, n)
    w = make_weights(rng, n)
    labels = pick_labels(rng, universe, _present(t, p))
    zero_division = [0, 1, np.nan, "warn"][seed % 4]
    for output_dict in (False, True):
        compare(
            "classification_report",
            t,
            p,
            labels=labels,
            sample_weight=w,
            digits=int(rng.integers(0, 5)),
            output_dict=output_dict,
            zero_division=zero_division,
        )


@pytest.mark.parametrize("seed", range(30))
def test_multilabel_indicator(seed: int) -> None:
    rng = np.random.default_rng(3000 + seed)
    n, k = int(rng.integers(1, 30)), int(rng.integers(2, 5))
    t = rng.integers(0, 2, (n, k))
    p = rng.integers(0, 2, (n, k))
    w = make_weights(rng, n)
    labels = None if seed % 3 else list(rng.permutation(k)[: max(1, k - 1)])
    zero_division = [0, 1, np.nan, "warn"][seed % 4]
    for average in (None, "micro", "macro", "weighted", "samples"):
        kw = dict(labels=labels, average=average, sample_weight=w, zero_division=zero_division)
        compare("precision_recall_fscore_support", t, p, **kw)
        compare("f1_score", t, p, **kw)
        if not (isinstance(zero_division, float) and np.isnan(zero_division)):
            compare("jaccard_score", t, p, **kw)
    compare("accuracy_score", t, p, sample_weight=w)
    compare("hamming_loss", t, p, sample_weight=w)
    compare("multilabel_confusion_matrix", t, p, sample_weight=w, labels=labels)
    compare("multilabel_confusion_matrix", t, p, sample_weight=w, samplewise=True)
    compare("classification_report", t, p, sample_weight=w, zero_division=zero_division)


@pytest.mark.parametrize("seed", range(40))
def test_top_k_accuracy(seed: int) -> None:
    rng = np.random.default_rng(4000 + seed)
    n, k = int(rng.integers(1, 40)), int(rng.integers(2, 6))
    t = rng.integers(0, k, n)
    score = rng.integers(0, 4, (n, k)).astype(float)  # many ties
    if seed % 2:
        score = rng.random((n, k))
    labels = list(range(k))
    w = make_weights(rng, n)
    for kk in (1, 2, 3):
        compare("top_k_accuracy_score", t, score, k=kk, labels=labels, sample_weight=w)
        compare("top_k_accuracy_score", t, score, k=kk, labels=labels, normalize=False)
    tb = rng.integers(0, 2, n)
    compare("top_k_accuracy_score", tb, rng.random(n), k=1, labels=[0, 1])
    compare("top_k_accuracy_score", tb, rng.normal(size=n), k=1, labels=[0, 1])


def test_specificity_is_negative_class_recall() -> None:
    import sklearn.metrics as skm

    from polyclass import metrics

    rng = np.random.default_rng(5)
    for _ in range(50):
        t = rng.integers(0, 2, 30)
        p = rng.integers(0, 2, 30)
        w = rng.random(30)
        ours = metrics.specificity_score(t, p, sample_weight=w)
        theirs = skm.recall_score(t, p, pos_label=0, sample_weight=w)
        assert ours == pytest.approx(theirs, rel=1e-12)
        per_class = metrics.specificity_score(t, p, average=None)
        recalls = skm.recall_score(t, p, average=None)
        np.testing.assert_allclose(per_class, recalls[::-1], rtol=1e-12)


def test_specificity_multiclass_by_hand() -> None:
    from polyclass import metrics

    t = np.array([0, 0, 1, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 2, 2, 2, 0])
    cm = metrics.multilabel_confusion_matrix(t, p)
    tn, fp = cm[:, 0, 0], cm[:, 0, 1]
    np.testing.assert_allclose(metrics.specificity_score(t, p, average=None), tn / (tn + fp))
    assert metrics.specificity_score(t, p, average="micro") == pytest.approx(
        tn.sum() / (tn + fp).sum()
    )
    assert metrics.specificity_score(t, p, average="macro") == pytest.approx(
        np.mean(tn / (tn + fp))
    )
    with pytest.warns(metrics.UndefinedMetricWarning, match="Specificity is ill-defined"):
        assert metrics.specificity_score([1, 1], [1, 1], labels=[1], average="macro") == 0.0


@pytest.mark.parametrize(
    "dtype", ["int8", "int32", "uint16", "uint64", "int64", "bool", "float32", "str", "negative"]
)
def test_large_inputs_span_chunks(dtype: str) -> None:
    """Inputs long enough for the chunked and hashed paths, with labels that first appear
    late (the count table grows mid-stream)."""
    rng = np.random.default_rng(9)
    n = 300_000
    t = rng.integers(0, 4, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, 4, n))
    t[-10:] = 7  # new labels in the last chunk only
    p[-5:] = 5
    if dtype == "bool":
        t, p = t % 2 == 1, p % 2 == 1
    elif dtype == "str":
        names = np.array(["a", "bb", "c", "dd", "e", "ff", "g", "hh"])
        t, p = names[t], names[p]
    elif dtype == "negative":
        t, p = t - 3, p - 3
    else:
        t, p = t.astype(dtype), p.astype(dtype)
    w = rng.random(n)
    compare("confusion_matrix", t, p)
    compare("confusion_matrix", t, p, sample_weight=w)
    compare("f1_score", t, p, average="macro", zero_division=0)
    compare("precision_recall_fscore_support", t, p, sample_weight=w, zero_division=0)
    w[rng.random(n) < 0.3] = 0.0
    w[-10:] = 0.0  # the late labels carry no weight, yet are present
    compare("confusion_matrix", t, p, sample_weight=w)
    compare("classification_report", t, p, sample_weight=w, zero_division=0)


LABEL_MODULES = [
    "_accuracy",
    "_agreement",
    "_confusion",
    "_counts",
    "_from_confusion",
    "_label_state",
    "_prf",
    "_report",
    "_targets",
]


@pytest.mark.parametrize("module", LABEL_MODULES)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"polyclass.metrics.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_names_exported() -> None:
    from polyclass import metrics

    for name in [
        "accuracy_score",
        "balanced_accuracy_score",
        "top_k_accuracy_score",
        "confusion_matrix",
        "multilabel_confusion_matrix",
        "precision_score",
        "recall_score",
        "f1_score",
        "fbeta_score",
        "precision_recall_fscore_support",
        "classification_report",
        "matthews_corrcoef",
        "cohen_kappa_score",
        "jaccard_score",
        "hamming_loss",
        "specificity_score",
        "ConfusionMatrixState",
        "UndefinedMetricWarning",
    ]:
        assert name in metrics.__all__
        assert getattr(metrics, name) is not None
