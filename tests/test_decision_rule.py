"""The one decision rule (``polyclass.decision.decide``) and the four places that call it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from polyclass import metrics
from polyclass.data import infer_schema
from polyclass.decision import decide
from polyclass.linear import LogisticRegression
from polyclass.model import Decision, Model
from polyclass.pipeline._scoring import Scorer
from polyclass.preprocess import Preprocessor
from polyclass.serve import load_served

# --- the rule's edge cases ------------------------------------------------------------


def test_argmax_ties_go_to_the_first_class() -> None:
    proba = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [0.1, 0.3, 0.6]])
    assert decide(proba).tolist() == [0, 1, 2]


def test_argmax_returns_the_estimators_own_choice_when_given() -> None:
    proba = np.array([[0.5, 0.5]])
    assert decide(proba, default=np.array([1])).tolist() == [1]


@pytest.mark.parametrize("positive", [0, 1])
def test_threshold_exactly_at_the_score_predicts_the_positive_class(positive: int) -> None:
    score = np.array([0.3, 0.3 - 1e-12, 0.3 + 1e-12, 0.0, 1.0])
    proba = np.empty((len(score), 2))
    proba[:, positive] = score
    proba[:, 1 - positive] = 1.0 - score
    expected = np.where(score >= 0.3, positive, 1 - positive)
    got = decide(proba, "threshold", threshold=0.3, positive=positive)
    assert got.tolist() == expected.tolist() and got.tolist()[0] == positive
    assert got.dtype == np.intp


def test_threshold_zero_predicts_positive_everywhere_and_above_one_nowhere() -> None:
    proba = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert decide(proba, "threshold", threshold=0.0).tolist() == [1, 1]
    assert decide(proba, "threshold", threshold=np.inf).tolist() == [0, 0]


def test_cost_matrix_ties_go_to_the_first_class() -> None:
    # expected costs per row: [0.5, 0.5, 1.0] and [0.6, 0.4, 0.4]
    cost = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    proba = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]])
    assert decide(proba, "cost", cost_matrix=cost).tolist() == [0, 1]


def test_zero_one_cost_is_argmax() -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=200)
    zero_one = 1.0 - np.eye(4)
    np.testing.assert_array_equal(decide(proba, "cost", cost_matrix=zero_one), decide(proba))


def test_costly_misses_flip_the_decision() -> None:
    proba = np.array([[0.6, 0.4, 0.0]])
    cost = [[0, 1, 1], [20, 0, 20], [1, 1, 0]]  # a list, as model.json stores it
    assert decide(proba, "cost", cost_matrix=cost).tolist() == [1]


@pytest.mark.parametrize(
    ("kind", "kwargs", "match"),
    [
        ("best", {}, "Unknown decision rule 'best'"),
        ("threshold", {}, "needs a threshold"),
        ("threshold", {"threshold": 0.5, "positive": 2}, "column 0 or 1"),
        ("cost", {}, "needs a cost matrix"),
        ("cost", {"cost_matrix": np.zeros((3, 3))}, r"shape \(3, 3\) but proba has 2"),
    ],
)
def test_bad_rules_are_refused(kind: str, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decide(np.array([[0.5, 0.5]]), kind, **kwargs)


def test_threshold_rule_refuses_more_than_two_classes() -> None:
    with pytest.raises(ValueError, match="for two classes"):
        decide(np.array([[0.2, 0.3, 0.5]]), "threshold", threshold=0.5)


def test_the_rule_imports_with_numpy_only() -> None:
    code = (
        "import sys, polyclass.decision, polyclass.serve._served; "
        "print(sorted({'sklearn', 'pandas', 'scipy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the four call sites agree --------------------------------------------------------


def _model(n_classes: int, decision: Decision) -> Model:
    rng = np.random.default_rng(n_classes)
    classes = ["a", "b", "c"][:n_classes]
    n = 40 * n_classes
    frame = pd.DataFrame(
        {"x1": rng.normal(size=n), "x2": rng.normal(size=n), "y": np.repeat(classes, 40)}
    )
    frame.loc[frame["y"] == "b", "x1"] += 1.0
    schema = infer_schema(frame, "y")
    pre = Preprocessor(schema).fit(frame)
    est = LogisticRegression().fit(pre.transform(frame), frame["y"].to_numpy())
    return Model(schema, pre, est, decision)


def _tricky_proba(n_classes: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    rows = [rng.dirichlet(np.ones(n_classes)) for _ in range(50)]
    rows.append(np.full(n_classes, 1.0 / n_classes))  # all tied
    if n_classes == 2:
        rows += [np.array([0.7, 0.3]), np.array([0.3, 0.7])]  # exactly at the threshold
    else:
        rows += [np.array([0.5, 0.5, 0.0]), np.array([0.2, 0.4, 0.4]), np.array([0.6, 0.4, 0.0])]
    return np.asarray(rows)


@pytest.mark.parametrize(
    ("n_classes", "decision"),
    [
        (2, Decision()),
        (2, Decision("threshold", 0.3, "b")),
        (2, Decision("threshold", 0.3, "a")),
        (3, Decision()),
        (3, Decision("cost", cost_matrix=[[0, 1, 1], [20, 0, 20], [1, 1, 0]])),
        (3, Decision("cost", cost_matrix=[[0, 1, 1], [1, 0, 1], [1, 1, 0]])),
    ],
)
def test_model_server_training_and_metrics_decide_alike(
    n_classes: int, decision: Decision, tmp_path: Path
) -> None:
    model = _model(n_classes, decision)
    served = load_served(model.save(tmp_path / "model"))
    proba = _tricky_proba(n_classes)
    classes = model.classes_
    argmax = proba.argmax(axis=1).astype(np.intp)

    by_model = model.decide(proba)
    by_server = served.class_array[served.decide(proba, argmax)]
    assert by_model.tolist() == by_server.tolist()
    if decision.kind == "threshold":
        # the positive class has 0.3 (exactly the threshold) or 0.7 in the last two rows
        assert by_model[-2:].tolist() == [decision.positive_class] * 2
    if decision.kind == "cost":
        cost = np.asarray(decision.cost_matrix, dtype=np.float64)
        scorer = Scorer("expected_cost", "expected_cost", "label", {}, False, cost_matrix=cost)
        by_training = scorer.decide(proba, classes, default=classes[argmax])
        by_metrics = metrics.bayes_decision(proba, cost, classes=classes)
        assert by_model.tolist() == by_training.tolist() == by_metrics.tolist()
