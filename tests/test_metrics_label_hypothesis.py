"""Property-based differential tests of the label metrics against scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _label_oracle import compare
from polyclass import metrics

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

int_labels = st.integers(-2, 4)
str_labels = st.sampled_from(["x", "y", "zz", "ä"])


@st.composite
def label_pairs(draw: Any) -> tuple[list[Any], list[Any], list[float] | None]:
    elements = draw(st.sampled_from([int_labels, str_labels, st.booleans()]))
    n = draw(st.integers(1, 25))
    t = draw(st.lists(elements, min_size=n, max_size=n))
    p = draw(st.lists(elements, min_size=n, max_size=n))
    w = draw(
        st.none()
        | st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.25, 3.0]), min_size=n, max_size=n).filter(any)
    )
    return t, p, w


@SETTINGS
@given(
    data=label_pairs(),
    average=st.sampled_from([None, "micro", "macro", "weighted", "binary"]),
    zero_division=st.sampled_from(["warn", 0, 1, np.nan]),
    beta=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
)
def test_prf(data: Any, average: Any, zero_division: Any, beta: float) -> None:
    t, p, w = data
    kw = dict(average=average, sample_weight=w, zero_division=zero_division)
    if isinstance(t[0], str):
        kw["pos_label"] = t[0]
    compare("precision_recall_fscore_support", t, p, beta=beta, **kw)
    compare("fbeta_score", t, p, beta=beta, **kw)


@SETTINGS
@given(data=label_pairs(), normalize=st.sampled_from([None, "true", "pred", "all"]))
def test_confusion_and_agreement(data: Any, normalize: Any) -> None:
    t, p, w = data
    compare("confusion_matrix", t, p, sample_weight=w, normalize=normalize)
    compare("matthews_corrcoef", t, p, sample_weight=w)
    compare("cohen_kappa_score", t, p, sample_weight=w, weights="linear")
    compare("balanced_accuracy_score", t, p, sample_weight=w)
    compare("accuracy_score", t, p, sample_weight=w)


@SETTINGS
@given(data=label_pairs(), digits=st.integers(0, 4))
def test_report(data: Any, digits: int) -> None:
    t, p, w = data
    compare("classification_report", t, p, sample_weight=w, digits=digits, zero_division=0)


@SETTINGS
@given(data=label_pairs(), cut=st.integers(0, 25))
def test_state_split_equals_whole(data: Any, cut: int) -> None:
    t, p, _ = data
    cut = min(cut, len(t))
    left = metrics.ConfusionMatrixState()
    right = metrics.ConfusionMatrixState()
    if cut:
        left.update(t[:cut], p[:cut])
    if cut < len(t):
        right.update(t[cut:], p[cut:])
    merged = metrics.ConfusionMatrixState.from_json(left.to_json()).merge(right)
    np.testing.assert_array_equal(
        merged.multilabel_confusion_matrix(), metrics.multilabel_confusion_matrix(t, p)
    )
    assert merged.accuracy_score() == metrics.accuracy_score(t, p)
