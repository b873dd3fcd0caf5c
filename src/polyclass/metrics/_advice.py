"""Which metric to optimise: advice from the class balance and the stated costs.

The rules, in the order they are applied (the reasoning is in
``docs/choosing-a-metric.md``):

1. **A cost matrix was given** (any number of classes): the metric is the average cost
   per sample, :func:`expected_cost`, and :func:`bayes_decision` turns probabilities
   into the predictions that minimise it. A 0-1 matrix (equal off-diagonal costs) is
   the error rate, so the advice is then plain accuracy.
2. **Binary with costs** ``{'fp': a, 'fn': b}``:
   equal costs make the error rate the cost, so accuracy; unequal costs with a rare
   positive class give F-beta with ``beta = sqrt(b / a)`` -- in F-beta a miss weighs
   ``beta**2`` false alarms, the ratio of the costs, and the many easy negatives do
   not inflate it; unequal costs otherwise give :func:`expected_cost` directly.
3. **No costs**: balanced classes (largest/smallest count at most 1.5) give accuracy;
   binary imbalance gives balanced accuracy (chance level 0.5 whatever the imbalance)
   and strong binary imbalance (ratio at least 10) the F1 score of the rare class;
   multiclass imbalance gives macro-F1 (every class counts the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from polyclass._json import plain as _py

from ._decision import check_cost_matrix
from ._encode import check_label_types
from ._validation import check_real, column_or_1d

# Largest/smallest class count at or below which classes count as balanced.
BALANCED_MAX_RATIO = 1.5
# Largest/smallest class count from which the imbalance is called strong.
STRONG_MIN_RATIO = 10.0
# A binary class holding at most this share of the samples is called rare.
RARE_MAX_SHARE = 0.2
# Fewer samples than this in the smallest class make every estimate noisy.
SMALL_CLASS = 30


@dataclass(frozen=True)
class MetricChoice:
    """A metric of ``polyclass.metrics`` with the keyword arguments to call it with.

    ``inputs`` says what it scores: ``'labels'`` (call ``metric(y_true, y_pred,
    **kwargs)``) or ``'scores'`` (``metric(y_true, y_score, **kwargs)``).
    """

    metric: str
    kwargs: dict[str, Any]
    reason: str
    inputs: str = "labels"


@dataclass(frozen=True)
class MetricAdvice:
    """The metric to optimise, why, and what else to look at.

    Attributes
    ----------
    metric : str
        A name exported by ``polyclass.metrics``; it scores predicted labels, so call
        ``getattr(polyclass.metrics, metric)(y_true, y_pred, **kwargs)``.
    kwargs : dict
        Keyword arguments to call it with (e.g. ``pos_label``, ``beta``, ``average``).
    reasons : list of str
        Why, in plain words.
    alternatives : list of MetricChoice
        Other metrics worth reporting, each with its reason.
    n_classes : int
        Number of classes in ``y``.
    imbalance_ratio : float
        Count of the largest class over count of the smallest.
    minority_share : float
        Share of the samples in the smallest class.
    """

    metric: str
    kwargs: dict[str, Any]
    reasons: list[str]
    alternatives: list[MetricChoice] = field(default_factory=list)
    n_classes: int = 0
    imbalance_ratio: float = 1.0
    minority_share: float = 0.0


def _is_standard_binary(classes: NDArray[Any]) -> bool:
    if classes.dtype.kind == "b":
        return True
    return classes.dtype.kind in "iuf" and set(classes.tolist()) in ({0, 1}, {-1, 1})


def _parse_binary_costs(func: str, costs: Mapping[str, Any]) -> tuple[float, float]:
    keys = set(costs)
    if keys != {"fp", "fn"}:
        raise ValueError(
            f"{func}: binary costs must be a mapping with exactly the keys 'fp' and 'fn' "
            f"(cost of a false positive and of a false negative); got keys {sorted(keys)}. "
            "Pass e.g. costs={'fp': 1, 'fn': 10}."
        )
    fp = check_real(func, "costs['fp']", costs["fp"], low=0)
    fn = check_real(func, "costs['fn']", costs["fn"], low=0)
    if not (np.isfinite(fp) and np.isfinite(fn)) or fp + fn == 0:
        raise ValueError(
            f"{func}: costs['fp'] and costs['fn'] must be finite and not both zero; got "
            f"fp={fp:g}, fn={fn:g}."
        )
    return fp, fn


def _is_zero_one(c: NDArray[np.float64]) -> bool:
    off = c[~np.eye(len(c), dtype=bool)]
    diag = np.diag(c)
    return bool(np.all(off == off[0]) and np.all(diag == diag[0]) and diag[0] < off[0])


def recommend_metric(
    y: ArrayLike,
    costs: Mapping[str, float] | ArrayLike | None = None,
    *,
    pos_label: Any = None,
) -> MetricAdvice:
    """Recommend the metric to optimise from the class balance and the stated costs.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The target labels (training or validation labels; only their counts are used).
    costs : mapping or array-like, default=None
        What errors cost. Binary: ``{'fp': a, 'fn': b}``, the cost of one false
        positive and of one false negative. Any number of classes: a cost matrix with
        ``costs[i][j]`` the cost of predicting class ``j`` when the truth is class
        ``i``, classes in sorted order (as ``np.unique(y)``). None: costs unknown.
    pos_label : label, default=None
        Binary only: the positive class (the one ``'fp'``/``'fn'`` refer to). Default:
        1/True for {0, 1}, {-1, 1} or boolean labels, otherwise the rarer class.

    Returns
    -------
    MetricAdvice
        ``metric`` (a name exported by ``polyclass.metrics`` that scores predicted
        labels), ``kwargs`` to call it with, ``reasons`` in plain words and
        ``alternatives`` worth reporting beside it.

    Notes
    -----
    Balanced means the largest class is at most 1.5 times the smallest; strong
    imbalance means at least 10 times. The rules:

    - cost matrix → :func:`expected_cost` (accuracy for a 0-1 matrix), predictions
      from :func:`bayes_decision`;
    - binary, unequal costs, rare positive class → ``fbeta_score`` with
      ``beta = sqrt(cost_fn / cost_fp)``; otherwise unequal costs →
      :func:`expected_cost`; equal costs → ``accuracy_score``;
    - no costs: balanced → ``accuracy_score``; binary imbalance →
      ``balanced_accuracy_score``; strong binary imbalance → ``f1_score`` of the rare
      class; multiclass imbalance → macro ``f1_score``.

    Examples
    --------
    >>> from polyclass.metrics import recommend_metric
    >>> y = [0] * 95 + [1] * 5
    >>> advice = recommend_metric(y, costs={"fp": 1, "fn": 20})
    >>> advice.metric, advice.kwargs
    ('fbeta_score', {'beta': 4.47213595499958, 'pos_label': 1})
    >>> recommend_metric(["a", "b", "c"] * 10).metric
    'accuracy_score'
    """
    func = "recommend_metric"
    labels = column_or_1d(func, "y", y)
    if len(labels) == 0:
        raise ValueError(f"{func}: y is empty; pass the target labels.")
    check_label_types(func, labels)
    classes, counts = np.unique(labels, return_counts=True)
    k = len(classes)
    if k < 2:
        raise ValueError(
            f"{func}: y holds a single class ({_py(classes[0])!r}); a classification metric "
            "needs at least two classes."
        )
    n = int(counts.sum())
    ratio = float(counts.max() / counts.min())
    minority = classes[int(np.argmin(counts))]
    majority = classes[int(np.argmax(counts))]
    share = float(counts.min() / n)
    level = (
        "balanced"
        if ratio <= BALANCED_MAX_RATIO
        else ("strong" if ratio >= STRONG_MIN_RATIO else "imbalanced")
    )
    balance = (
        f"{k} classes; the largest has {ratio:.3g}x the samples of the smallest "
        f"({_py(minority)!r}: {counts.min()} of {n}, {share:.1%})"
    )
    notes: list[str] = []
    if counts.min() < SMALL_CLASS:
        notes.append(
            f"The smallest class has only {counts.min()} samples, so any metric measured on "
            "it is noisy: report a confidence interval (bootstrap_ci, or "
            "precision_recall_intervals per class) beside the number."
        )

    def advice(
        metric: str, kwargs: dict[str, Any], reasons: list[str], alts: list[MetricChoice]
    ) -> MetricAdvice:
        return MetricAdvice(metric, kwargs, [balance, *reasons, *notes], alts, k, ratio, share)

    # 1. A cost matrix, for any number of classes.
    if costs is not None and not isinstance(costs, Mapping):
        c = check_cost_matrix(func, costs, k)
        cls = [_py(v) for v in classes]
        if _is_zero_one(c):
            return advice(
                "accuracy_score",
                {},
                [
                    "Every error costs the same in your cost matrix, so the average cost is "
                    "the error rate: maximising accuracy minimises it.",
                ],
                [
                    MetricChoice(
                        "f1_score",
                        {"average": "macro"},
                        "Macro-F1 shows whether the rare classes are served too.",
                    )
                ],
            )
        return advice(
            "expected_cost",
            {"cost_matrix": c.tolist(), "labels": cls},
            [
                "You stated what each kind of error costs, so the metric is the average cost "
                "per sample (lower is better): it ranks models exactly as your costs do.",
                "Make the predictions with bayes_decision(model.predict_proba(X), cost_matrix, "
                "classes=model.classes_): it picks, per sample, the class of least expected "
                "cost, which is not the most probable class when costs differ.",
            ],
            [
                MetricChoice(
                    "f1_score",
                    {"average": "macro"},
                    "Macro-F1 is a cost-free view in which every class counts the same.",
                ),
                MetricChoice(
                    "balanced_accuracy_score",
                    {},
                    "Balanced accuracy (mean recall over classes) shows which classes are missed.",
                ),
            ],
        )

    if k > 2:
        if costs is not None:
            raise ValueError(
                f"{func}: y has {k} classes, so costs must be a {k}x{k} cost matrix "
                "(costs[i][j] = cost of predicting class j when the truth is class i, classes "
                "in sorted order), not a {'fp', 'fn'} mapping."
            )
        mcc = MetricChoice(
            "matthews_corrcoef",
            {},
            "Matthews' correlation uses the whole confusion matrix and is 0 for chance.",
        )
        auc = MetricChoice(
            "roc_auc_score",
            {"multi_class": "ovr", "average": "macro"},
            "If the model gives probabilities, one-vs-rest macro ROC AUC judges the ranking "
            "without choosing a decision rule.",
            inputs="scores",
        )
        if level == "balanced":
            return advice(
                "accuracy_score",
                {},
                [
                    "The classes are balanced and no costs were stated, so every error counts "
                    "the same and accuracy (the share of correct predictions) is the direct, "
                    "readable measure.",
                ],
                [
                    MetricChoice(
                        "f1_score",
                        {"average": "macro"},
                        "Macro-F1 checks that no single class is neglected.",
                    ),
                    mcc,
                    auc,
                ],
            )
        return advice(
            "f1_score",
            {"average": "macro"},
            [
                f"The classes are {'strongly ' if level == 'strong' else ''}imbalanced, so "
                f"accuracy is dominated by the largest class ({_py(majority)!r}): predicting "
                f"it always already scores {counts.max() / n:.3g}.",
                "Macro-F1 averages the F1 score of each class with equal weight, so a rare "
                "class that is never found pulls it down.",
            ],
            [
                MetricChoice(
                    "balanced_accuracy_score",
                    {},
                    "Balanced accuracy is the mean recall over classes; its chance level is "
                    f"1/{k} whatever the imbalance.",
                ),
                mcc,
                auc,
            ],
        )

    # Binary.
    if pos_label is not None:
        if not np.any(classes == pos_label):
            raise ValueError(
                f"{func}: pos_label={pos_label!r} is not a label of y "
                f"(labels: {[_py(c) for c in classes]}). Pass one of them."
            )
        positive = classes[np.flatnonzero(classes == pos_label)[0]]
        pos_note = None
    elif _is_standard_binary(classes):
        positive = classes[-1]
        pos_note = None
    else:
        positive = minority
        pos_note = (
            f"pos_label was not given and the labels are not 0/1, so the rarer class "
            f"{_py(positive)!r} is taken as positive."
        )
    negative = classes[0] if classes[1] == positive else classes[1]
    pos, neg = _py(positive), _py(negative)
    positive_is_rare = bool(positive == minority) and share <= RARE_MAX_SHARE
    focus = pos if pos_label is not None or positive_is_rare else _py(minority)

    auc = MetricChoice(
        "roc_auc_score",
        {},
        "If the model gives scores, ROC AUC judges the ranking without fixing a threshold.",
        inputs="scores",
    )
    ap = MetricChoice(
        "average_precision_score",
        {"pos_label": focus},
        f"If the model gives scores, average precision (PR AUC) of class {focus!r} judges "
        "the ranking of the rare class without fixing a threshold, and unlike ROC AUC it is "
        "not flattered by the many easy negatives.",
        inputs="scores",
    )
    mcc = MetricChoice(
        "matthews_corrcoef",
        {},
        "Matthews' correlation uses all four cells of the confusion matrix and is 0 for "
        "chance, so it is a fair single number under imbalance.",
    )
    pos_reasons = [pos_note] if pos_note else []

    if isinstance(costs, Mapping):
        c_fp, c_fn = _parse_binary_costs(func, costs)
        cost_matrix = [[0.0, c_fp], [c_fn, 0.0]]
        cost_choice = MetricChoice(
            "expected_cost",
            {"cost_matrix": cost_matrix, "labels": [neg, pos]},
            "The average cost per sample under your costs ranks models exactly as your "
            "costs do (lower is better).",
        )
        threshold_tip = (
            f"To turn scores into labels, pick the threshold with select_threshold(y_true, "
            f"y_score, criterion='cost', cost_fp={c_fp:g}, cost_fn={c_fn:g}, "
            f"pos_label={pos!r})."
        )
        if c_fp == c_fn:
            return advice(
                "accuracy_score",
                {},
                [
                    *pos_reasons,
                    "A false positive and a false negative cost the same, so the average cost "
                    "is proportional to the error rate: maximising accuracy minimises it.",
                    *(
                        [
                            f"Beware: predicting {_py(majority)!r} for everything already "
                            f"scores {counts.max() / n:.3g}; compare models against that."
                        ]
                        if level != "balanced"
                        else []
                    ),
                ],
                [
                    MetricChoice(
                        "balanced_accuracy_score",
                        {},
                        "Balanced accuracy shows whether both classes are found.",
                    ),
                    mcc,
                    auc,
                ],
            )
        if c_fp == 0 or c_fn == 0:
            only = "recall_score" if c_fp == 0 else "precision_score"
            which = "misses" if c_fp == 0 else "false alarms"
            return advice(
                only,
                {"pos_label": pos},
                [
                    *pos_reasons,
                    f"Only {which} cost anything, so {only.split('_')[0]} of class {pos!r} is "
                    "what you pay for; note that it can be maximised trivially (predict "
                    f"{'everything' if c_fp == 0 else 'almost nothing'} positive), so check "
                    "the other side too.",
                    threshold_tip,
                ],
                [cost_choice, mcc],
            )
        beta = float(np.sqrt(c_fn / c_fp))
        costly = "misses" if c_fn > c_fp else "false alarms"
        fbeta = MetricChoice(
            "fbeta_score",
            {"beta": beta, "pos_label": pos},
            f"F-beta with beta={beta:.3g} weighs each miss beta**2 = {c_fn / c_fp:.3g} false "
            "alarms, as your costs do, and ignores true negatives.",
        )
        if positive_is_rare:
            return advice(
                "fbeta_score",
                {"beta": beta, "pos_label": pos},
                [
                    *pos_reasons,
                    f"The positive class {pos!r} is rare and {costly} are the costly error "
                    f"(a false negative costs {c_fn / c_fp:.3g}x a false positive), so "
                    "accuracy would mostly reward getting the easy negatives right.",
                    f"F-beta = (1+b²)TP / ((1+b²)TP + b²FN + FP) counts a miss b² times a false "
                    f"alarm; with b = sqrt(cost_fn / cost_fp) = {beta:.3g} that is exactly "
                    "your cost ratio, and it is not inflated by the many true negatives.",
                    threshold_tip,
                ],
                [cost_choice, ap, mcc],
            )
        return advice(
            "expected_cost",
            {"cost_matrix": cost_matrix, "labels": [neg, pos]},
            [
                *pos_reasons,
                f"Errors cost different amounts (a false negative costs {c_fn / c_fp:.3g}x a "
                "false positive), so the metric is the average cost per sample: it ranks "
                "models exactly as your costs do (lower is better).",
                threshold_tip,
            ],
            [fbeta, mcc, auc],
        )
    if costs is not None:
        raise ValueError(
            f"{func}: costs must be None, a {{'fp': a, 'fn': b}} mapping or a cost matrix; "
            f"got {type(costs).__name__}."
        )

    # Binary, no costs.
    if level == "balanced":
        return advice(
            "accuracy_score",
            {},
            [
                "The classes are balanced and no costs were stated, so both kinds of error "
                "count the same and accuracy is the direct, readable measure.",
            ],
            [
                MetricChoice(
                    "f1_score",
                    {"average": "macro"},
                    "Macro-F1 checks that neither class is neglected.",
                ),
                mcc,
                auc,
            ],
        )
    baseline = (
        f"Accuracy would mislead: predicting {_py(majority)!r} for everything already "
        f"scores {counts.max() / n:.3g}."
    )
    if level == "imbalanced":
        return advice(
            "balanced_accuracy_score",
            {},
            [
                baseline,
                "Balanced accuracy is the mean of the recall of each class; its chance level "
                "is 0.5 whatever the imbalance, and it needs no choice of positive class.",
            ],
            [
                MetricChoice(
                    "f1_score",
                    {"pos_label": focus},
                    f"F1 of the rarer class {focus!r} if that is the class you care about.",
                ),
                mcc,
                auc,
            ],
        )
    return advice(
        "f1_score",
        {"pos_label": focus},
        [
            baseline,
            f"With strong imbalance the rare class {focus!r} is usually the one that matters; "
            "F1 scores how well it is found (recall) and how clean the alarms are "
            "(precision), and the many easy negatives do not inflate it.",
            "If misses cost more than false alarms, state costs={'fp': a, 'fn': b} to get an "
            "F-beta weighted accordingly.",
        ],
        [
            ap,
            mcc,
            MetricChoice(
                "balanced_accuracy_score",
                {},
                "Balanced accuracy (mean recall per class) has chance level 0.5.",
            ),
        ],
    )
