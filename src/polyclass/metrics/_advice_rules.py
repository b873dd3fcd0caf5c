"""The advice table of ``recommend_metric``: ``RULES``, the first that applies wins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._advice_facts import MetricChoice, _Case, _is_zero_one


def _f1_macro(reason: str) -> MetricChoice:
    return MetricChoice("f1_score", {"average": "macro"}, reason)


def _mcc(case: _Case) -> MetricChoice:
    if case.k > 2:
        return MetricChoice(
            "matthews_corrcoef",
            {},
            "Matthews' correlation uses the whole confusion matrix and is 0 for chance.",
        )
    return MetricChoice(
        "matthews_corrcoef",
        {},
        "Matthews' correlation uses all four cells of the confusion matrix and is 0 for "
        "chance, so it is a fair single number under imbalance.",
    )


def _auc(case: _Case) -> MetricChoice:
    if case.k > 2:
        return MetricChoice(
            "roc_auc_score",
            {"multi_class": "ovr", "average": "macro"},
            "If the model gives probabilities, one-vs-rest macro ROC AUC judges the ranking "
            "without choosing a decision rule.",
            inputs="scores",
        )
    return MetricChoice(
        "roc_auc_score",
        {},
        "If the model gives scores, ROC AUC judges the ranking without fixing a threshold.",
        inputs="scores",
    )


def _ap(case: _Case) -> MetricChoice:
    return MetricChoice(
        "average_precision_score",
        {"pos_label": case.focus},
        f"If the model gives scores, average precision (PR AUC) of class {case.focus!r} judges "
        "the ranking of the rare class without fixing a threshold, and unlike ROC AUC it is "
        "not flattered by the many easy negatives.",
        inputs="scores",
    )


def _cost_matrix_2x2(case: _Case) -> list[list[float]]:
    return [[0.0, float(case.c_fp)], [float(case.c_fn), 0.0]]  # type: ignore[arg-type]


def _cost_choice(case: _Case) -> MetricChoice:
    return MetricChoice(
        "expected_cost",
        {"cost_matrix": _cost_matrix_2x2(case), "labels": [case.neg, case.pos]},
        "The average cost per sample under your costs ranks models exactly as your "
        "costs do (lower is better).",
    )


def _threshold_tip(case: _Case) -> str:
    return (
        f"To turn scores into labels, pick the threshold with select_threshold(y_true, "
        f"y_score, criterion='cost', cost_fp={case.c_fp:g}, cost_fn={case.c_fn:g}, "
        f"pos_label={case.pos!r})."
    )


def _beta(case: _Case) -> float:
    return float(np.sqrt(case.cost_ratio))


def _baseline(case: _Case) -> str:
    return (
        f"Accuracy would mislead: predicting {case.majority_py!r} for everything already "
        f"scores {case.top_share:.3g}."
    )


def _only(case: _Case) -> tuple[str, str, str]:
    """(metric, the errors that cost, what to predict to game it) when one side is free."""
    if case.c_fp == 0:
        return "recall_score", "misses", "everything"
    return "precision_score", "false alarms", "almost nothing"


@dataclass(frozen=True)
class Rule:
    """One row of the advice table: when it applies and what it advises.

    ``metric``, ``kwargs``, ``reasons`` and ``alternatives`` are functions of the case,
    because the advice names the data's own classes and costs.
    """

    name: str
    applies: Callable[[_Case], bool]
    metric: Callable[[_Case], str]
    kwargs: Callable[[_Case], dict[str, Any]]
    reasons: Callable[[_Case], list[str]]
    alternatives: Callable[[_Case], list[MetricChoice]]


def _has_binary_costs(case: _Case) -> bool:
    return case.c_fp is not None


RULES: tuple[Rule, ...] = (
    Rule(
        "cost matrix with equal error costs",
        lambda c: c.matrix is not None and _is_zero_one(c.matrix),
        lambda c: "accuracy_score",
        lambda c: {},
        lambda c: [
            "Every error costs the same in your cost matrix, so the average cost is "
            "the error rate: maximising accuracy minimises it.",
        ],
        lambda c: [_f1_macro("Macro-F1 shows whether the rare classes are served too.")],
    ),
    Rule(
        "cost matrix",
        lambda c: c.matrix is not None,
        lambda c: "expected_cost",
        lambda c: {"cost_matrix": c.matrix.tolist(), "labels": list(c.classes)},  # type: ignore[union-attr]
        lambda c: [
            "You stated what each kind of error costs, so the metric is the average cost "
            "per sample (lower is better): it ranks models exactly as your costs do.",
            "Make the predictions with bayes_decision(model.predict_proba(X), cost_matrix, "
            "classes=model.classes_): it picks, per sample, the class of least expected "
            "cost, which is not the most probable class when costs differ.",
        ],
        lambda c: [
            _f1_macro("Macro-F1 is a cost-free view in which every class counts the same."),
            MetricChoice(
                "balanced_accuracy_score",
                {},
                "Balanced accuracy (mean recall over classes) shows which classes are missed.",
            ),
        ],
    ),
    Rule(
        "multiclass, balanced",
        lambda c: c.k > 2 and c.level == "balanced",
        lambda c: "accuracy_score",
        lambda c: {},
        lambda c: [
            "The classes are balanced and no costs were stated, so every error counts "
            "the same and accuracy (the share of correct predictions) is the direct, "
            "readable measure.",
        ],
        lambda c: [
            _f1_macro("Macro-F1 checks that no single class is neglected."),
            _mcc(c),
            _auc(c),
        ],
    ),
    Rule(
        "multiclass, imbalanced",
        lambda c: c.k > 2,
        lambda c: "f1_score",
        lambda c: {"average": "macro"},
        lambda c: [
            f"The classes are {'strongly ' if c.level == 'strong' else ''}imbalanced, so "
            f"accuracy is dominated by the largest class ({c.majority_py!r}): predicting "
            f"it always already scores {c.top_share:.3g}.",
            "Macro-F1 averages the F1 score of each class with equal weight, so a rare "
            "class that is never found pulls it down.",
        ],
        lambda c: [
            MetricChoice(
                "balanced_accuracy_score",
                {},
                "Balanced accuracy is the mean recall over classes; its chance level is "
                f"1/{c.k} whatever the imbalance.",
            ),
            _mcc(c),
            _auc(c),
        ],
    ),
    Rule(
        "binary, equal costs",
        lambda c: _has_binary_costs(c) and c.c_fp == c.c_fn,
        lambda c: "accuracy_score",
        lambda c: {},
        lambda c: [
            *c.pos_reasons,
            "A false positive and a false negative cost the same, so the average cost "
            "is proportional to the error rate: maximising accuracy minimises it.",
            *(
                [
                    f"Beware: predicting {c.majority_py!r} for everything already "
                    f"scores {c.top_share:.3g}; compare models against that."
                ]
                if c.level != "balanced"
                else []
            ),
        ],
        lambda c: [
            MetricChoice(
                "balanced_accuracy_score",
                {},
                "Balanced accuracy shows whether both classes are found.",
            ),
            _mcc(c),
            _auc(c),
        ],
    ),
    Rule(
        "binary, only one kind of error costs",
        lambda c: _has_binary_costs(c) and (c.c_fp == 0 or c.c_fn == 0),
        lambda c: _only(c)[0],
        lambda c: {"pos_label": c.pos},
        lambda c: [
            *c.pos_reasons,
            f"Only {_only(c)[1]} cost anything, so {_only(c)[0].split('_')[0]} of class "
            f"{c.pos!r} is what you pay for; note that it can be maximised trivially "
            f"(predict {_only(c)[2]} positive), so check the other side too.",
            _threshold_tip(c),
        ],
        lambda c: [_cost_choice(c), _mcc(c)],
    ),
    Rule(
        "binary, unequal costs, rare positive class",
        lambda c: _has_binary_costs(c) and c.positive_is_rare,
        lambda c: "fbeta_score",
        lambda c: {"beta": _beta(c), "pos_label": c.pos},
        lambda c: [
            *c.pos_reasons,
            f"The positive class {c.pos!r} is rare and "
            f"{'misses' if c.cost_ratio > 1 else 'false alarms'} are the costly error "
            f"(a false negative costs {c.cost_ratio:.3g}x a false positive), so "
            "accuracy would mostly reward getting the easy negatives right.",
            f"F-beta = (1+b²)TP / ((1+b²)TP + b²FN + FP) counts a miss b² times a false "
            f"alarm; with b = sqrt(cost_fn / cost_fp) = {_beta(c):.3g} that is exactly "
            "your cost ratio, and it is not inflated by the many true negatives.",
            _threshold_tip(c),
        ],
        lambda c: [_cost_choice(c), _ap(c), _mcc(c)],
    ),
    Rule(
        "binary, unequal costs",
        _has_binary_costs,
        lambda c: "expected_cost",
        lambda c: {"cost_matrix": _cost_matrix_2x2(c), "labels": [c.neg, c.pos]},
        lambda c: [
            *c.pos_reasons,
            f"Errors cost different amounts (a false negative costs {c.cost_ratio:.3g}x a "
            "false positive), so the metric is the average cost per sample: it ranks "
            "models exactly as your costs do (lower is better).",
            _threshold_tip(c),
        ],
        lambda c: [
            MetricChoice(
                "fbeta_score",
                {"beta": _beta(c), "pos_label": c.pos},
                f"F-beta with beta={_beta(c):.3g} weighs each miss beta**2 = "
                f"{c.cost_ratio:.3g} false alarms, as your costs do, and ignores true "
                "negatives.",
            ),
            _mcc(c),
            _auc(c),
        ],
    ),
    Rule(
        "binary, balanced",
        lambda c: c.level == "balanced",
        lambda c: "accuracy_score",
        lambda c: {},
        lambda c: [
            "The classes are balanced and no costs were stated, so both kinds of error "
            "count the same and accuracy is the direct, readable measure.",
        ],
        lambda c: [
            _f1_macro("Macro-F1 checks that neither class is neglected."),
            _mcc(c),
            _auc(c),
        ],
    ),
    Rule(
        "binary, imbalanced",
        lambda c: c.level == "imbalanced",
        lambda c: "balanced_accuracy_score",
        lambda c: {},
        lambda c: [
            _baseline(c),
            "Balanced accuracy is the mean of the recall of each class; its chance level "
            "is 0.5 whatever the imbalance, and it needs no choice of positive class.",
        ],
        lambda c: [
            MetricChoice(
                "f1_score",
                {"pos_label": c.focus},
                f"F1 of the rarer class {c.focus!r} if that is the class you care about.",
            ),
            _mcc(c),
            _auc(c),
        ],
    ),
    Rule(
        "binary, strong imbalance",
        lambda c: True,
        lambda c: "f1_score",
        lambda c: {"pos_label": c.focus},
        lambda c: [
            _baseline(c),
            f"With strong imbalance the rare class {c.focus!r} is usually the one that "
            "matters; F1 scores how well it is found (recall) and how clean the alarms are "
            "(precision), and the many easy negatives do not inflate it.",
            "If misses cost more than false alarms, state costs={'fp': a, 'fn': b} to get an "
            "F-beta weighted accordingly.",
        ],
        lambda c: [
            _ap(c),
            _mcc(c),
            MetricChoice(
                "balanced_accuracy_score",
                {},
                "Balanced accuracy (mean recall per class) has chance level 0.5.",
            ),
        ],
    ),
)
