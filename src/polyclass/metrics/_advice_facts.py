"""The facts ``recommend_metric`` decides on: class balance, costs and positive class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


# --------------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class _Case:
    """What the rules look at: the class balance, the costs and the positive class."""

    k: int
    n: int
    counts: NDArray[np.int64]
    ratio: float
    share: float
    level: str  # 'balanced', 'imbalanced' or 'strong'
    minority: Any
    majority: Any
    matrix: NDArray[np.float64] | None = None
    classes: tuple[Any, ...] = ()
    c_fp: float | None = None
    c_fn: float | None = None
    pos: Any = None
    neg: Any = None
    pos_note: str | None = None
    positive_is_rare: bool = False
    focus: Any = None

    @property
    def minority_py(self) -> Any:
        return _py(self.minority)

    @property
    def majority_py(self) -> Any:
        return _py(self.majority)

    @property
    def top_share(self) -> float:
        return float(self.counts.max() / self.n)

    @property
    def pos_reasons(self) -> list[str]:
        return [self.pos_note] if self.pos_note else []

    @property
    def cost_ratio(self) -> float:
        return float(self.c_fn) / float(self.c_fp)  # type: ignore[arg-type]


def _class_counts(func: str, y: ArrayLike) -> tuple[NDArray[Any], NDArray[np.int64]]:
    labels = column_or_1d(func, "y", y)
    if len(labels) == 0:
        raise ValueError(f"{func}: y is empty; pass the target labels.")
    check_label_types(func, labels)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            f"{func}: y holds a single class ({_py(classes[0])!r}); a classification metric "
            "needs at least two classes."
        )
    return classes, counts


def _balance(classes: NDArray[Any], counts: NDArray[np.int64]) -> _Case:
    ratio = float(counts.max() / counts.min())
    level = (
        "balanced"
        if ratio <= BALANCED_MAX_RATIO
        else ("strong" if ratio >= STRONG_MIN_RATIO else "imbalanced")
    )
    return _Case(
        k=len(classes),
        n=int(counts.sum()),
        counts=counts,
        ratio=ratio,
        share=float(counts.min() / counts.sum()),
        level=level,
        minority=classes[int(np.argmin(counts))],
        majority=classes[int(np.argmax(counts))],
    )


def _with_positive(func: str, case: _Case, classes: NDArray[Any], pos_label: Any) -> _Case:
    """Binary: the positive class, given or chosen, and the class to focus on."""
    if pos_label is not None:
        if not np.any(classes == pos_label):
            raise ValueError(
                f"{func}: pos_label={pos_label!r} is not a label of y "
                f"(labels: {[_py(c) for c in classes]}). Pass one of them."
            )
        positive, note = classes[np.flatnonzero(classes == pos_label)[0]], None
    elif _is_standard_binary(classes):
        positive, note = classes[-1], None
    else:
        positive = case.minority
        note = (
            f"pos_label was not given and the labels are not 0/1, so the rarer class "
            f"{_py(positive)!r} is taken as positive."
        )
    negative = classes[0] if classes[1] == positive else classes[1]
    rare = bool(positive == case.minority) and case.share <= RARE_MAX_SHARE
    focus = _py(positive) if pos_label is not None or rare else _py(case.minority)
    return _replace(
        case,
        pos=_py(positive),
        neg=_py(negative),
        pos_note=note,
        positive_is_rare=rare,
        focus=focus,
    )


def _replace(case: _Case, **changes: Any) -> _Case:
    return _Case(**{**case.__dict__, **changes})


def _read_costs(func: str, case: _Case, classes: NDArray[Any], costs: Any, pos_label: Any) -> _Case:
    """Validate ``costs`` (and, for binary data, ``pos_label``) into the case."""
    if costs is not None and not isinstance(costs, Mapping):
        matrix = check_cost_matrix(func, costs, case.k)
        return _replace(case, matrix=matrix, classes=tuple(_py(v) for v in classes))
    if case.k > 2:
        if costs is not None:
            raise ValueError(
                f"{func}: y has {case.k} classes, so costs must be a {case.k}x{case.k} cost "
                "matrix (costs[i][j] = cost of predicting class j when the truth is class i, "
                "classes in sorted order), not a {'fp', 'fn'} mapping."
            )
        return case
    case = _with_positive(func, case, classes, pos_label)
    if costs is None:
        return case
    c_fp, c_fn = _parse_binary_costs(func, costs)
    return _replace(case, c_fp=c_fp, c_fn=c_fn)


def _notes(case: _Case) -> tuple[str, list[str]]:
    """The balance sentence that opens the reasons, and the notes that close them."""
    smallest = int(case.counts.min())
    balance = (
        f"{case.k} classes; the largest has {case.ratio:.3g}x the samples of the smallest "
        f"({case.minority_py!r}: {smallest} of {case.n}, {case.share:.1%})"
    )
    notes = []
    if smallest < SMALL_CLASS:
        notes.append(
            f"The smallest class has only {smallest} samples, so any metric measured on "
            "it is noisy: report a confidence interval (bootstrap_ci, or "
            "precision_recall_intervals per class) beside the number."
        )
    return balance, notes
