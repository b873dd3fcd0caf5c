"""Error costs of a training run and the decision they lead to.

The costs are a false-positive/false-negative pair or a matrix; which class is
"positive" is named by the user or is the rare class; the binary threshold is chosen
on validation rows, or on out-of-fold predictions when validation has few positives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from polyclass import metrics
from polyclass._json import plain
from polyclass.data import DataError
from polyclass.model import Decision
from polyclass.pipeline._config import ConfigError, TrainConfig

#: A binary class is "rare" when it holds at most this share of the rows.
RARE_MAX_SHARE = 0.2
#: Fewer validation positives than this are too few to choose a threshold on.
MIN_THRESHOLD_POSITIVES = 30


def positive_class_of(cfg: TrainConfig, y: NDArray[Any], classes: NDArray[Any]) -> Any:
    """The positive class of a binary target, as a plain Python value; None otherwise.

    The class named by ``--positive-class``; else 1/True for 0/1 or boolean labels;
    else the rare class (at most ``RARE_MAX_SHARE`` of the rows). When neither class is
    rare, binary costs need the user to say which class is positive (an error says so);
    without costs the smaller class is taken.
    """
    if len(classes) != 2:
        if cfg.positive_class is not None:
            raise DataError(
                f"--positive-class applies to binary targets; {cfg.target!r} has "
                f"{len(classes)} classes. Drop the option."
            )
        return None
    names = [plain(c) for c in classes]
    if cfg.positive_class is not None:
        for c in names:
            if str(c) == str(cfg.positive_class):
                return c
        raise DataError(
            f"--positive-class {cfg.positive_class!r} is not a class of {cfg.target!r}; "
            f"the classes are {names}."
        )
    if classes.dtype.kind == "b" or (
        classes.dtype.kind in "iuf" and set(classes.tolist()) in ({0, 1}, {-1, 1})
    ):
        return names[-1]
    counts = [int((y == c).sum()) for c in classes]
    small = int(np.argmin(counts))
    share = counts[small] / max(sum(counts), 1)
    if share > RARE_MAX_SHARE and cfg.cost_fp is not None and cfg.cost_fn is not None:
        shares = ", ".join(
            f"{c!r} {n / sum(counts):.1%}" for c, n in zip(names, counts, strict=True)
        )
        raise ConfigError(
            f"--cost-fp/--cost-fn need to know which class of {cfg.target!r} is positive, and "
            f"neither is rare ({shares}). Name it: --positive-class {names[small]} (or "
            f"{names[1 - small]})."
        )
    return names[small]


@dataclass
class Costs:
    """``matrix[i, j]`` is the cost of predicting class j when the truth is class i."""

    matrix: NDArray[np.float64]
    classes: list[Any]
    cost_fp: float | None = None
    cost_fn: float | None = None

    def for_advice(self) -> dict[str, float] | NDArray[np.float64]:
        """The costs in the form ``metrics.recommend_metric`` takes."""
        if self.cost_fp is not None and self.cost_fn is not None:
            return {"fp": self.cost_fp, "fn": self.cost_fn}
        return self.matrix

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "matrix": self.matrix.tolist(),
            "cost_fp": self.cost_fp,
            "cost_fn": self.cost_fn,
        }


def read_costs(cfg: TrainConfig, classes: NDArray[Any], positive_class: Any) -> Costs | None:
    """The costs the options give, checked against the classes; None when none are given."""
    names = [plain(c) for c in classes]
    if cfg.cost_fp is not None and cfg.cost_fn is not None:
        if len(classes) != 2:
            raise ConfigError(
                f"--cost-fp/--cost-fn describe a binary problem, but the target has "
                f"{len(classes)} classes; give a cost matrix CSV with --cost-matrix instead."
            )
        pos = int(np.flatnonzero(classes == positive_class)[0])
        matrix = np.zeros((2, 2))
        matrix[1 - pos, pos] = cfg.cost_fp  # truth negative, predicted positive
        matrix[pos, 1 - pos] = cfg.cost_fn  # truth positive, predicted negative
        return Costs(matrix, names, float(cfg.cost_fp), float(cfg.cost_fn))
    if cfg.cost_matrix is None:
        return None
    return Costs(_read_matrix(Path(cfg.cost_matrix), classes), names)


def _read_matrix(path: Path, classes: NDArray[Any]) -> NDArray[np.float64]:
    try:
        table = pd.read_csv(path, index_col=0)
    except FileNotFoundError:
        raise ConfigError(f"cost matrix file {path} does not exist.") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"cost matrix file {path} is not a readable CSV: {exc}.") from None
    names = [str(c) for c in classes]
    rows = [str(r) for r in table.index]
    cols = [str(c) for c in table.columns]
    if sorted(rows) != sorted(names) or sorted(cols) != sorted(names):
        raise ConfigError(
            f"cost matrix {path} must list exactly the classes {names} as its first column "
            f"(true class) and as its header (predicted class); got rows {rows} and "
            f"columns {cols}."
        )
    table.index = rows
    table.columns = cols
    try:
        matrix = table.loc[names, names].to_numpy(dtype=np.float64)
    except ValueError:
        raise ConfigError(f"cost matrix {path} has a cell that is not a number.") from None
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ConfigError(f"cost matrix {path} must hold finite, non-negative costs.")
    return matrix


@dataclass
class ChosenDecision:
    """The decision rule and what it was chosen on (said in the report)."""

    decision: Decision
    chosen_on: str | None = None
    warning: str | None = None


def choose_decision(
    costs: Costs | None,
    y_val: NDArray[Any],
    proba: NDArray[np.float64],
    classes: NDArray[Any],
    positive_class: Any,
    out_of_fold: Callable[[], tuple[NDArray[Any], NDArray[np.float64]]],
) -> ChosenDecision:
    """The decision rule the costs call for.

    Binary: the threshold of least cost on the validation rows, or, when they hold
    fewer than ``MIN_THRESHOLD_POSITIVES`` positives, on ``out_of_fold()`` (labels and
    cross-validated probabilities of the training rows), with a warning. More classes:
    the cost-matrix rule (nothing to choose).
    """
    if costs is None:
        return ChosenDecision(Decision())
    if len(classes) != 2:
        return ChosenDecision(Decision("cost", cost_matrix=costs.matrix.tolist()))
    pos = int(np.flatnonzero(classes == positive_class)[0])
    n_pos = int((y_val == positive_class).sum())
    chosen_on = f"the validation rows ({len(y_val)} rows, {n_pos} of class {positive_class!r})"
    warning = None
    if n_pos < MIN_THRESHOLD_POSITIVES:
        y_val, proba = out_of_fold()
        n_oof = int((y_val == positive_class).sum())
        chosen_on = (
            f"out-of-fold predictions on the training rows ({len(y_val)} rows, {n_oof} of "
            f"class {positive_class!r})"
        )
        warning = (
            f"Only {n_pos} validation row(s) are of the positive class {positive_class!r}: too "
            f"few to choose a threshold on (fewer than {MIN_THRESHOLD_POSITIVES}). It was "
            f"chosen on {chosen_on} instead."
        )
    choice = metrics.select_threshold(
        y_val == positive_class,
        proba[:, pos],
        criterion="cost",
        cost_fp=float(costs.matrix[1 - pos, pos]),
        cost_fn=float(costs.matrix[pos, 1 - pos]),
    )
    decision = Decision("threshold", float(choice.threshold), positive_class)
    return ChosenDecision(decision, chosen_on, warning)


def out_of_fold_proba(
    fit_predict: Callable[[NDArray[np.intp], NDArray[np.intp]], NDArray[np.float64]],
    y: NDArray[Any],
    rows: NDArray[np.intp],
    n_classes: int,
    *,
    n_splits: int,
    seed: int,
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Labels of ``rows`` and their cross-validated probabilities.

    ``fit_predict(fit_rows, predict_rows)`` fits on ``fit_rows`` and returns the
    probabilities of ``predict_rows``; every row is predicted by a model that did not
    see it (stratified folds, at least 2).
    """
    folds = StratifiedKFold(n_splits=max(n_splits, 2), shuffle=True, random_state=seed)
    proba = np.empty((len(rows), n_classes), dtype=np.float64)
    for fit_idx, pred_idx in folds.split(np.zeros(len(rows)), y[rows]):
        proba[pred_idx] = fit_predict(rows[fit_idx], rows[pred_idx])
    return y[rows], proba
