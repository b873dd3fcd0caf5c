"""What one training run knows so far (:class:`Run`), and what it returns (:class:`TrainResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.evaluation import evaluate
from polyclass.model import Decision, Model
from polyclass.pipeline._config import TrainConfig
from polyclass.pipeline._costs import Costs
from polyclass.pipeline._fit import add_objective
from polyclass.pipeline._record import default_name


@dataclass
class TrainResult:
    """What ``train`` produced: the model, its test metrics and where things went."""

    model: Model
    test_metrics: dict[str, Any]
    validation_metrics: dict[str, Any]
    scorer: dict[str, Any]
    strategies: list[dict[str, Any]]
    best_params: dict[str, Any]
    report_path: Path
    metrics_path: Path
    artifact_path: Path
    registered: dict[str, Any] | None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    tuning: dict[str, Any] = field(default_factory=dict)
    leaderboard: dict[str, Any] = field(default_factory=dict)
    refit: dict[str, Any] | None = None
    distributed: dict[str, Any] | None = None


@dataclass
class Run:
    """What one training run knows so far; each step of ``train`` adds a part."""

    cfg: TrainConfig
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    schema: Any = None
    checked: Any = None
    y: NDArray[Any] = field(default_factory=lambda: np.zeros(0))
    classes: NDArray[Any] = field(default_factory=lambda: np.zeros(0))
    positive_class: Any = None
    costs: Costs | None = None
    scorer: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    train_rows: NDArray[Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    val_rows: NDArray[Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    test_rows: NDArray[Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    tune_rows: NDArray[Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    results: list[Any] = field(default_factory=list)
    best: Any = None
    strategies: list[dict[str, Any]] = field(default_factory=list)
    leaderboard: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    decision: Decision = field(default_factory=Decision)
    chosen_on: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    final: Any = None
    test: dict[str, Any] = field(default_factory=dict)
    coefficients: dict[str, Any] = field(default_factory=dict)
    importance: dict[str, Any] = field(default_factory=dict)
    partial_dependence: dict[str, Any] = field(default_factory=dict)
    refit: dict[str, Any] | None = None
    distributed: dict[str, Any] | None = None
    fingerprint: str = ""
    n_rows: int = 0
    artifact_path: Path = Path()
    registered: dict[str, Any] | None = None
    report_path: Path = Path()
    metrics_path: Path = Path()

    @property
    def name(self) -> str:
        return self.cfg.name or default_name(self.cfg)

    def evaluate(self, rows: NDArray[Any], pred: NDArray[Any], proba: Any) -> dict[str, Any]:
        """Every metric with its interval on ``rows``, plus the optimised metric."""
        y = self.y[rows]
        out = evaluate(
            y,
            proba,
            self.classes,
            y_pred=pred,
            positive_class=self.positive_class,
            n_bootstrap=self.cfg.n_bootstrap,
            random_state=self.cfg.seed,
        )
        add_objective(out, self.scorer, y, pred, proba, self.classes, self.positive_class)
        return out
