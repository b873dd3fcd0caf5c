"""Error costs of a training run: a false-positive/false-negative pair or a matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.pipeline._config import ConfigError, TrainConfig


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
    plain = [c.item() if isinstance(c, np.generic) else c for c in classes]
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
        return Costs(matrix, plain, float(cfg.cost_fp), float(cfg.cost_fn))
    if cfg.cost_matrix is None:
        return None
    return Costs(_read_matrix(Path(cfg.cost_matrix), classes), plain)


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
