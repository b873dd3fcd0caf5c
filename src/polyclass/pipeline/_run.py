"""What one training run knows so far (:class:`Run`), and what it returns (:class:`TrainResult`)."""

from __future__ import annotations

import multiprocessing
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
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
from polyclass.pipeline._tune import n_workers


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
    #: Whether ``evaluate_aside`` may fork (not beside a Dask client's threads and sockets).
    may_fork: bool = True
    pending: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)

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

    def evaluate_aside(self, name: str, rows: NDArray[Any], pred: NDArray[Any], proba: Any) -> None:
        """Set ``self.<name>`` to ``self.evaluate(rows, pred, proba)``, computed in a forked
        process beside the steps that follow when the run may use more than one core
        (``collect`` waits for it), else now.

        A process, not a thread: ``evaluate`` turns the warnings raised while it runs into
        notes, and Python's warning filters are process-wide, so a thread would record
        (or lose) other threads' warnings.
        """
        work = partial(self.evaluate, rows, pred, proba)
        # a daemonic process (a run inside another's worker) may not start children
        forks = "fork" in multiprocessing.get_all_start_methods()
        forks = forks and not multiprocessing.current_process().daemon
        if self.may_fork and forks and n_workers(self.cfg.n_jobs) > 1:
            self.pending[name] = _in_child(work)
        else:
            setattr(self, name, work())

    def collect(self) -> None:
        """Wait for the evaluations ``evaluate_aside`` started, and store them."""
        while self.pending:
            name, result = next(iter(self.pending.items()))
            del self.pending[name]
            setattr(self, name, result())


def _in_child(work: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Start ``work`` in a forked child process; returns a function that waits for its
    result (or raises its exception)."""
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)

    def child() -> None:
        try:
            outcome: tuple[bool, Any] = (True, work())
        except BaseException as exc:  # handed to the parent, which raises it
            outcome = (False, exc)
            try:  # the parent must be able to rebuild it, or it would get another error
                pickle.loads(pickle.dumps(exc))
            except Exception:
                outcome = (False, RuntimeError(f"{type(exc).__name__}: {exc}"))
        writer.send(outcome)

    process = context.Process(target=child, daemon=True)
    with warnings.catch_warnings():
        # Python 3.12+ warns on any fork beside threads; the child only computes metrics on
        # arrays it already holds and takes none of the locks the other threads use.
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        process.start()
    writer.close()

    def result() -> dict[str, Any]:
        try:
            ok, value = reader.recv()
        except EOFError:
            process.join()
            raise RuntimeError(
                f"an evaluation's process ended without a result (exit code "
                f"{process.exitcode}); the machine may be out of memory."
            ) from None
        finally:
            reader.close()
        process.join()
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    return result
