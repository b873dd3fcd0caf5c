"""recommend_metric: the rules of docs/choosing-a-metric.md, and advice that can be run."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import numpy as np
import pytest

import polyclass.metrics as pm
from polyclass.metrics import MetricAdvice, recommend_metric


def labels(counts: dict[Any, int]) -> np.ndarray:
    return np.concatenate([np.full(n, k) for k, n in counts.items()])


def check_runnable(advice: MetricAdvice, y: np.ndarray) -> None:
    """Every suggested metric is exported and runs with its kwargs on plausible inputs."""
    rng = np.random.default_rng(0)
    classes = np.unique(y)
    y_pred = np.where(rng.random(len(y)) < 0.7, y, classes[rng.integers(0, len(classes), len(y))])
    choices = [(advice.metric, advice.kwargs, "labels")] + [
        (a.metric, a.kwargs, a.inputs) for a in advice.alternatives
    ]
    for name, kwargs, inputs in choices:
        assert name in pm.__all__, name
        fn = getattr(pm, name)
        if inputs == "labels":
            value = fn(y, y_pred, **kwargs)
        elif len(classes) == 2:
            positive = kwargs.get("pos_label", classes[-1])
            score = (y == positive) + rng.normal(size=len(y))
            value = fn(y, score, **kwargs)
        else:
            proba = rng.dirichlet(np.ones(len(classes)), size=len(y))
            value = fn(y, proba, **kwargs)
        assert np.isfinite(value), name
    assert advice.reasons and all(isinstance(r, str) and r for r in advice.reasons)


def test_strong_imbalance_and_costly_misses_gives_recall_weighted_fbeta() -> None:
    y = labels({0: 950, 1: 50})
    advice = recommend_metric(y, costs={"fp": 1, "fn": 9})
    assert advice.metric == "fbeta_score"
    assert advice.kwargs == {"beta": pytest.approx(3.0), "pos_label": 1}
    assert advice.kwargs["beta"] > 1
    alternatives = [a.metric for a in advice.alternatives]
    assert "average_precision_score" in alternatives and "expected_cost" in alternatives
    assert "accuracy" in " ".join(advice.reasons)
    assert advice.imbalance_ratio == pytest.approx(19.0)
    assert advice.minority_share == pytest.approx(0.05)
    check_runnable(advice, y)


def test_costly_false_alarms_give_precision_weighted_fbeta() -> None:
    y = labels({0: 900, 1: 100})
    advice = recommend_metric(y, costs={"fp": 4, "fn": 1})
    assert advice.metric == "fbeta_score" and advice.kwargs["beta"] == pytest.approx(0.5)
    check_runnable(advice, y)


def test_balanced_binary_without_costs_gives_accuracy() -> None:
    y = labels({"no": 480, "yes": 520})
    advice = recommend_metric(y)
    assert advice.metric == "accuracy_score" and advice.kwargs == {}
    assert "balanced" in advice.reasons[1]
    check_runnable(advice, y)


def test_balanced_with_symmetric_costs_gives_accuracy() -> None:
    y = labels({0: 500, 1: 500})
    advice = recommend_metric(y, costs={"fp": 2, "fn": 2})
    assert advice.metric == "accuracy_score"
    check_runnable(advice, y)


def test_balanced_with_asymmetric_costs_gives_expected_cost() -> None:
    y = labels({0: 500, 1: 500})
    advice = recommend_metric(y, costs={"fp": 1, "fn": 5})
    assert advice.metric == "expected_cost"
    assert advice.kwargs == {"cost_matrix": [[0.0, 1.0], [5.0, 0.0]], "labels": [0, 1]}
    assert any("select_threshold" in r for r in advice.reasons)
    check_runnable(advice, y)


def test_moderate_binary_imbalance_gives_balanced_accuracy() -> None:
    y = labels({0: 800, 1: 200})
    advice = recommend_metric(y)
    assert advice.metric == "balanced_accuracy_score"
    check_runnable(advice, y)


def test_strong_binary_imbalance_gives_f1_of_the_rare_class() -> None:
    y = labels({"ok": 970, "fraud": 30})
    advice = recommend_metric(y)
    assert advice.metric == "f1_score" and advice.kwargs == {"pos_label": "fraud"}
    assert any("0.97" in r for r in advice.reasons)  # the all-majority baseline
    check_runnable(advice, y)


def test_string_labels_take_the_rare_class_as_positive_unless_told() -> None:
    y = labels({"ok": 950, "fraud": 50})
    advice = recommend_metric(y, costs={"fp": 1, "fn": 10})
    assert advice.kwargs["pos_label"] == "fraud"
    assert any("rarer class 'fraud' is taken as positive" in r for r in advice.reasons)
    told = recommend_metric(y, costs={"fp": 1, "fn": 10}, pos_label="ok")
    # 'ok' is the majority: F-beta on it would be inflated, so the cost itself is advised.
    assert told.metric == "expected_cost"
    assert told.kwargs["labels"] == ["fraud", "ok"]
    check_runnable(told, y)


def test_zero_cost_side_gives_recall_or_precision() -> None:
    y = labels({0: 900, 1: 100})
    assert recommend_metric(y, costs={"fp": 0, "fn": 1}).metric == "recall_score"
    assert recommend_metric(y, costs={"fp": 1, "fn": 0}).metric == "precision_score"


def test_multiclass_balanced_gives_accuracy_and_imbalanced_macro_f1() -> None:
    balanced = labels({"a": 100, "b": 110, "c": 95})
    advice = recommend_metric(balanced)
    assert advice.metric == "accuracy_score" and advice.n_classes == 3
    check_runnable(advice, balanced)
    skewed = labels({"a": 700, "b": 250, "c": 50})
    advice = recommend_metric(skewed)
    assert advice.metric == "f1_score" and advice.kwargs == {"average": "macro"}
    assert "balanced_accuracy_score" in [a.metric for a in advice.alternatives]
    check_runnable(advice, skewed)


def test_multiclass_cost_matrix_gives_expected_cost_via_bayes_decision() -> None:
    y = labels({"a": 300, "b": 200, "c": 100})
    cost = [[0, 1, 4], [1, 0, 4], [20, 20, 0]]
    advice = recommend_metric(y, costs=cost)
    assert advice.metric == "expected_cost"
    assert advice.kwargs["labels"] == ["a", "b", "c"]
    assert any("bayes_decision" in r for r in advice.reasons)
    check_runnable(advice, y)
    # The advised call reproduces the cost by hand.
    y_pred = np.array(["a"] * 600)
    value = pm.expected_cost(y, y_pred, **advice.kwargs)
    assert value == pytest.approx((200 * 1 + 100 * 20) / 600)


def test_zero_one_cost_matrix_is_accuracy() -> None:
    y = labels({0: 50, 1: 30, 2: 20})
    advice = recommend_metric(y, costs=2 * (1 - np.eye(3)))
    assert advice.metric == "accuracy_score"


def test_small_classes_ask_for_an_interval() -> None:
    y = labels({0: 200, 1: 12})
    assert any("bootstrap_ci" in r for r in recommend_metric(y).reasons)
    big = labels({0: 2000, 1: 1500})
    assert not any("bootstrap_ci" in r for r in recommend_metric(big).reasons)


@pytest.mark.parametrize(
    ("y", "costs", "match"),
    [
        ([1, 1, 1], None, "single class"),
        ([], None, "empty"),
        ([0, 1, 2], {"fp": 1, "fn": 2}, "3x3 cost matrix"),
        ([0, 1], {"fp": 1}, "exactly the keys 'fp' and 'fn'"),
        ([0, 1], {"fp": -1, "fn": 2}, r"costs\['fp'\]"),
        ([0, 1], {"fp": 0, "fn": 0}, "not both zero"),
        ([0, 1, 2], np.ones((2, 2)), "2x2 but there are 3 classes"),
        ([0, 1], [[0, -1], [1, 0]], "non-negative"),
    ],
)
def test_errors(y: list[int], costs: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        recommend_metric(y, costs)


def test_unknown_pos_label() -> None:
    with pytest.raises(ValueError, match="pos_label=3 is not a label"):
        recommend_metric([0, 1, 1], {"fp": 1, "fn": 2}, pos_label=3)


@pytest.mark.parametrize(
    "module",
    [
        "_accuracy",
        "_advice",
        "_agreement",
        "_bootstrap",
        "_confusion",
        "_decision",
        "_intervals",
        "_prf",
        "_report",
        "_thresholds",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(f"polyclass.metrics.{module}")
    result = doctest.testmod(mod)
    assert result.failed == 0 and result.attempted > 0


RULE_CASES: list[tuple[str, list[Any], Any, str, str]] = [
    # (rule name, y, costs, metric advised, words of the reason that rule gives)
    (
        "cost matrix with equal error costs",
        [0, 1, 2] * 10,
        1 - np.eye(3),
        "accuracy_score",
        "Every error costs the same",
    ),
    (
        "cost matrix",
        [0, 1, 2] * 10,
        [[0, 1, 1], [5, 0, 1], [1, 1, 0]],
        "expected_cost",
        "bayes_decision",
    ),
    ("multiclass, balanced", [0, 1, 2] * 10, None, "accuracy_score", "every error counts"),
    (
        "multiclass, imbalanced",
        [0] * 60 + [1] * 20 + [2] * 20,
        None,
        "f1_score",
        "Macro-F1 averages",
    ),
    (
        "binary, equal costs",
        [0] * 50 + [1] * 50,
        {"fp": 2, "fn": 2},
        "accuracy_score",
        "cost the same",
    ),
    (
        "binary, only one kind of error costs",
        [0] * 50 + [1] * 50,
        {"fp": 0, "fn": 1},
        "recall_score",
        "Only misses cost",
    ),
    (
        "binary, unequal costs, rare positive class",
        [0] * 90 + [1] * 10,
        {"fp": 1, "fn": 4},
        "fbeta_score",
        "is rare",
    ),
    (
        "binary, unequal costs",
        [0] * 50 + [1] * 50,
        {"fp": 1, "fn": 4},
        "expected_cost",
        "cost different amounts",
    ),
    ("binary, balanced", [0] * 50 + [1] * 50, None, "accuracy_score", "both kinds of error"),
    ("binary, imbalanced", [0] * 70 + [1] * 30, None, "balanced_accuracy_score", "chance level"),
    ("binary, strong imbalance", [0] * 95 + [1] * 5, None, "f1_score", "With strong imbalance"),
]


def test_every_rule_of_the_table_has_a_case() -> None:
    from polyclass.metrics._advice import RULES

    assert [r.name for r in RULES] == [c[0] for c in RULE_CASES]


@pytest.mark.parametrize(("rule", "y", "costs", "metric", "words"), RULE_CASES)
def test_each_rule_gives_its_advice(
    rule: str, y: list[Any], costs: Any, metric: str, words: str
) -> None:
    advice = recommend_metric(y, costs)
    assert advice.metric == metric, rule
    assert any(words in reason for reason in advice.reasons), rule
