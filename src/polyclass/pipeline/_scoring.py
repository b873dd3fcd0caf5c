"""The metric a training run optimises: a name, how to compute it, which way is better."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass import metrics
from polyclass.decision import decide

# name -> (metric function name in polyclass.metrics, input kind, kwargs, greater is better)
# input kind: "label" takes predicted labels, "proba" the probability matrix,
# "positive" the positive-class probability of a binary problem.
_NAMED: dict[str, tuple[str, str, dict[str, Any], bool]] = {
    "accuracy": ("accuracy_score", "label", {}, True),
    "balanced_accuracy": ("balanced_accuracy_score", "label", {}, True),
    "f1": ("f1_score", "label", {"average": "binary"}, True),
    "f1_macro": ("f1_score", "label", {"average": "macro"}, True),
    "f1_weighted": ("f1_score", "label", {"average": "weighted"}, True),
    "mcc": ("matthews_corrcoef", "label", {}, True),
    "roc_auc": ("roc_auc_score", "positive", {}, True),
    "roc_auc_ovr": ("roc_auc_score", "proba", {"multi_class": "ovr", "average": "macro"}, True),
    "average_precision": ("average_precision_score", "positive", {}, True),
    "log_loss": ("log_loss", "proba", {}, False),
}
METRIC_CHOICES = ("auto", *sorted(_NAMED), "expected_cost")
_SCORE_METRICS = {"roc_auc_score", "average_precision_score"}
_PROBA_METRICS = {"log_loss", "brier_score_loss"}


@dataclass
class Scorer:
    """A metric bound to its arguments.

    ``score(y_true, y_pred, proba)`` returns the value; ``greater_is_better`` says
    which way to optimise. ``reasons`` explain why this metric was chosen.
    """

    name: str
    function: str
    kind: str
    kwargs: dict[str, Any]
    greater_is_better: bool
    reasons: list[str] = field(default_factory=list)
    cost_matrix: NDArray[np.float64] | None = None

    def score(
        self,
        y_true: NDArray[Any],
        y_pred: NDArray[Any],
        proba: NDArray[np.float64],
        classes: NDArray[Any],
        positive_class: Any = None,
    ) -> float:
        """The metric on one set of predictions."""
        if self.function == "expected_cost":
            if self.cost_matrix is None:
                raise ValueError("expected_cost needs a cost matrix (--cost-matrix or costs).")
            t = np.searchsorted(classes, y_true)
            p = np.searchsorted(classes, y_pred)
            return float(self.cost_matrix[t, p].mean())
        fn: Callable[..., Any] = getattr(metrics, self.function)
        kwargs = dict(self.kwargs)
        if self.kind == "label":
            if kwargs.get("average") == "binary" and "pos_label" not in kwargs:
                kwargs["pos_label"] = positive_class
            return float(fn(y_true, y_pred, **kwargs))
        if self.kind == "positive":
            pos = int(np.searchsorted(classes, positive_class))
            kwargs.pop("pos_label", None)
            return float(fn(y_true == positive_class, proba[:, pos], **kwargs))
        if len(classes) == 2 and self.function in _SCORE_METRICS:
            return float(fn(y_true == classes[1], proba[:, 1], **kwargs))
        return float(fn(y_true, proba, labels=classes, **kwargs))

    def decide(
        self, proba: NDArray[np.float64], classes: NDArray[Any], default: NDArray[Any]
    ) -> NDArray[Any]:
        """Labels to score: the least-expected-cost class when costs are known (the rule
        the final model will use), else the estimator's own ``default`` prediction."""
        if self.cost_matrix is None:
            return default
        return np.asarray(classes[decide(proba, "cost", cost_matrix=self.cost_matrix)])

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` beats value ``b``."""
        return a > b if self.greater_is_better else a < b

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "function": self.function,
            "kwargs": {k: v for k, v in self.kwargs.items()},
            "greater_is_better": self.greater_is_better,
            "reasons": list(self.reasons),
        }


def named_scorer(name: str, n_classes: int) -> Scorer:
    """The scorer for a metric name given on the command line."""
    if name not in _NAMED:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRIC_CHOICES)}.")
    function, kind, kwargs, greater = _NAMED[name]
    if n_classes > 2 and kind == "positive":
        raise ValueError(
            f"metric {name!r} needs a binary target, but there are {n_classes} classes; "
            "use roc_auc_ovr or f1_macro."
        )
    if n_classes > 2 and name == "f1":
        raise ValueError("metric 'f1' is binary; with several classes use f1_macro or f1_weighted.")
    return Scorer(name, function, kind, dict(kwargs), greater, [f"chosen with --metric {name}"])


def scorer_from_advice(function: str, kwargs: dict[str, Any], reasons: list[str]) -> Scorer:
    """The scorer for a metric the metrics library recommended."""
    if function in _SCORE_METRICS:
        kind = (
            "positive"
            if kwargs.get("average") in (None, "binary") and "multi_class" not in kwargs
            else "proba"
        )
    elif function in _PROBA_METRICS:
        kind = "proba"
    else:
        kind = "label"
    greater = function not in {"log_loss", "brier_score_loss", "hamming_loss", "expected_cost"}
    name = function.removesuffix("_score")
    if "average" in kwargs and kwargs["average"] not in (None, "binary"):
        name = f"{name}_{kwargs['average']}"
    if "beta" in kwargs:
        name = f"{name}(beta={kwargs['beta']:g})"
    return Scorer(name, function, kind, dict(kwargs), greater, list(reasons))
