"""Evaluation on a cluster: each part scored on a worker into mergeable states (the
metrics package's confusion counts and exact score curves, and log-loss sums), merged
on the driver into the numbers one pass over the whole table gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from polyclass.metrics import ConfusionMatrixState, ScoreCurveState
from polyclass.scale._blocks import read_part
from polyclass.scale._errors import ScaleError
from polyclass.scale._loss import tree_sum
from polyclass.scale._parts import discover
from polyclass.scale._table import DaskTable

# probabilities are clipped as scikit-learn's log_loss clips them
_EPS = np.finfo(np.float64).eps


@dataclass
class EvalState:
    """One part's (or several merged parts') sufficient statistics."""

    confusion: ConfusionMatrixState
    curves: list[ScoreCurveState]  # one-vs-rest, one per class
    log_loss_sum: float
    rows: int

    def __add__(self, other: EvalState) -> EvalState:
        return EvalState(
            self.confusion.merge(other.confusion),
            [a.merge(b) for a, b in zip(self.curves, other.curves, strict=True)],
            self.log_loss_sum + other.log_loss_sum,
            self.rows + other.rows,
        )


def _evaluate_part(model: Any, url: str, target: str, options: dict[str, Any]) -> EvalState:
    frame = read_part(url, [*model.schema.feature_names, target], options)
    return _frame_state(model, frame, target, url)


def _frame_state(model: Any, frame: Any, target: str, where: str) -> EvalState:
    frame = frame[frame[target].notna()]
    y = frame[target].to_numpy()
    if len(frame):
        pred, proba = model.predict_with_proba(frame)
    else:  # a part written empty, or whose labels are all missing: the model refuses 0 rows
        pred, proba = y, np.empty((0, len(model.classes_)))
    classes = list(model.classes_)
    confusion = ConfusionMatrixState(labels=classes).update(y, pred)
    curves = []
    for j, c in enumerate(classes):
        state = ScoreCurveState(pos_label=c)
        state.update(y, proba[:, j])
        curves.append(state)
    index = {c: j for j, c in enumerate(classes)}
    codes = np.array([index.get(v, -1) for v in y.tolist()], dtype=np.intp)
    if (codes < 0).any():
        unseen = sorted({str(v) for v, k in zip(y.tolist(), codes, strict=True) if k < 0})
        raise ScaleError(
            f"{where!r} holds labels the model never saw: {unseen[:5]}. Evaluate on data "
            "whose labels are among the model's classes."
        )
    p = np.clip(proba, _EPS, 1 - _EPS)
    log_loss_sum = float(-np.sum(np.log(p[np.arange(len(codes)), codes])))
    return EvalState(confusion, curves, log_loss_sum, len(y))


def evaluate_parts(
    client: Any,
    model: Any,
    data: str,
    target: str,
    *,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The model's metrics on every row of ``data`` (Parquet file, directory or glob),
    computed on the cluster from per-part states merged on the driver.

    Returns
    -------
    dict
        ``rows``, ``accuracy``, ``balanced_accuracy``, ``f1_macro``, ``f1_weighted``,
        ``mcc``, ``log_loss``, ``roc_auc_ovr`` (macro, one-vs-rest) and
        ``confusion_matrix`` (rows true, columns predicted, in ``classes`` order).
    """
    options = dict(storage_options or {})
    parts = discover(client, data, options)
    if target not in parts.columns:
        raise ScaleError(f"The target column {target!r} is not in {parts.files[0]!r}.")
    shared = client.scatter(model, broadcast=True)
    futures = [
        client.submit(_evaluate_part, shared, url, target, options, pure=False)
        for url in parts.files
    ]
    return _summary(tree_sum(client, futures), model)


def evaluate_frames(client: Any, model: Any, table: DaskTable) -> dict[str, Any]:
    """As :func:`evaluate_parts`, on a table already in worker memory (labelled with
    ``table.target``), e.g. the test rows of a distributed training run."""
    if table.target is None:
        raise ScaleError("Evaluating needs the target column.")
    shared = client.scatter(model, broadcast=True)
    futures = [
        client.submit(_frame_state, shared, f, table.target, url, pure=False)
        for f, url in zip(table.frames, table.parts.files, strict=True)
    ]
    return _summary(tree_sum(client, futures), model)


def _summary(state: EvalState, model: Any) -> dict[str, Any]:
    cm = state.confusion
    aucs = [c.roc_auc_score() for c in state.curves]
    return {
        "rows": state.rows,
        "classes": [str(c) for c in model.classes_],
        "accuracy": cm.accuracy_score(),
        "balanced_accuracy": cm.balanced_accuracy_score(),
        "f1_macro": float(cm.f1_score(average="macro")),
        "f1_weighted": float(cm.f1_score(average="weighted")),
        "mcc": cm.matthews_corrcoef(),
        "log_loss": state.log_loss_sum / state.rows,
        "roc_auc_ovr": float(np.mean(aucs)),
        "roc_auc_by_class": [float(a) for a in aucs],
        "confusion_matrix": cm.confusion_matrix().tolist(),
    }


__all__ = ["evaluate_frames", "evaluate_parts"]
