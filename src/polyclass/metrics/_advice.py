"""Which metric to optimise: advice from the class balance and the stated costs.

The advice is a table of rules, ``RULES``: the first whose condition holds for the
data gives the metric, its arguments, the reasons and the alternatives. The rules, in
order (the reasoning is in ``docs/choosing-a-metric.md``):

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

from numpy.typing import ArrayLike

from ._advice_facts import (
    BALANCED_MAX_RATIO,
    RARE_MAX_SHARE,
    SMALL_CLASS,
    STRONG_MIN_RATIO,
    MetricChoice,
    _balance,
    _class_counts,
    _notes,
    _read_costs,
)
from ._advice_rules import RULES, Rule

__all__ = [
    "BALANCED_MAX_RATIO",
    "RARE_MAX_SHARE",
    "RULES",
    "SMALL_CLASS",
    "STRONG_MIN_RATIO",
    "MetricAdvice",
    "MetricChoice",
    "Rule",
    "recommend_metric",
]


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
    The advice is the first row of the table ``RULES`` whose condition holds.
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
    classes, counts = _class_counts(func, y)
    case = _read_costs(func, _balance(classes, counts), classes, costs, pos_label)
    rule = next(r for r in RULES if r.applies(case))
    balance, notes = _notes(case)
    return MetricAdvice(
        rule.metric(case),
        rule.kwargs(case),
        [balance, *rule.reasons(case), *notes],
        rule.alternatives(case),
        case.k,
        case.ratio,
        case.share,
    )
