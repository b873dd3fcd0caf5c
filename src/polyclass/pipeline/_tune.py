"""Hyperparameter search by stratified k-fold cross-validation, in parallel, pruning early.

Every candidate of every family is scored in the same folds, so their scores are
paired. Preprocessing is fitted inside each fold (on that fold's training rows only)
so no statistic leaks from the rows it is scored on. Each (candidate, fold) fit is one
task; tasks run in threads of this process, one BLAS/OpenMP thread each: the fitting
libraries release the GIL in their numerical loops, and threads spare the search the
start-up and imports of worker processes and the copies of the folds they would need.

With ``halving``, every candidate is first scored on two folds; only the best third
go on to the remaining folds, with each other family's best unless it trails the leader
by more than twice the standard error of that difference (a bound for metrics that are
shares of rows; a family pruned so is on the leaderboard with the reason). With
``time_budget``, no new task starts once the budget is spent.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from polyclass.data import Schema
from polyclass.pipeline._scoring import Scorer
from polyclass.pipeline._search import Candidate
from polyclass.preprocess import Preprocessor

STRATEGY_LABELS = {
    "multinomial": "multinomial (softmax)",
    "ovr": "one-vs-rest",
    "ovo": "one-vs-one",
    "binary": "binary logistic",
}
#: Confidence bins of the calibration summary each fold returns.
CALIBRATION_BINS = 10
#: Halving scores every candidate on this many folds before pruning.
FIRST_RUNG_FOLDS = 2
#: Halving keeps this share of the candidates after the first rung.
KEEP_FRACTION = 1 / 3


@dataclass
class FoldScore:
    """What one (candidate, fold) task measured."""

    score: float = float("nan")
    fit_seconds: float = 0.0
    predict_seconds_per_1000: float = 0.0
    size_bytes: int | None = None
    calibration: NDArray[np.float64] | None = None  # (3, bins): count, sum conf, sum correct
    error: str | None = None


@dataclass
class CandidateResult:
    """Cross-validated scores of one candidate, fold by fold (``None``: not run)."""

    candidate: Candidate
    folds: list[FoldScore | None] = field(default_factory=list)
    pruned: str | None = None
    #: The rows the folds split (a screen's sample, or every tuning row).
    rows: int = 0

    @property
    def fold_scores(self) -> list[float]:
        return [f.score for f in self.folds if f is not None and f.error is None]

    @property
    def complete(self) -> bool:
        return bool(self.folds) and all(f is not None and f.error is None for f in self.folds)

    @property
    def error(self) -> str | None:
        return next((f.error for f in self.folds if f is not None and f.error), None)

    @property
    def mean(self) -> float:
        scores = self.fold_scores
        return float(np.mean(scores)) if scores else float("nan")

    @property
    def std(self) -> float:
        scores = self.fold_scores
        return float(np.std(scores)) if scores else float("nan")

    @property
    def fit_seconds(self) -> list[float]:
        return [f.fit_seconds for f in self.folds if f is not None and f.error is None]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.candidate.params(),
            "strategy": self.candidate.strategy,
            "cv_mean": self.mean if self.fold_scores else None,
            "cv_std": self.std if self.fold_scores else None,
            "fold_scores": list(self.fold_scores),
            "rows": self.rows,
            "fit_seconds": float(np.mean(self.fit_seconds)) if self.fit_seconds else None,
            "pruned": self.pruned,
            "error": self.error,
        }


@dataclass
class _Fold:
    X_train: Any
    y_train: NDArray[Any]
    X_test: Any
    y_test: NDArray[Any]


def n_workers(n_jobs: int) -> int:
    """joblib's meaning of ``n_jobs``: -1 is every core, -2 all but one."""
    cpus = os.cpu_count() or 1
    return max(1, cpus + 1 + n_jobs) if n_jobs < 0 else max(1, n_jobs)


def _folds(
    frame: pd.DataFrame, y: NDArray[Any], schema: Schema, n_splits: int, seed: int
) -> list[_Fold]:
    out = []
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
        pre = Preprocessor(schema).fit(frame.iloc[train_idx])
        out.append(
            _Fold(
                pre.transform(frame.iloc[train_idx]),
                y[train_idx],
                pre.transform(frame.iloc[test_idx]),
                y[test_idx],
            )
        )
    return out


def _calibration(proba: NDArray[np.float64], correct: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Per confidence bin: rows, summed top probability, rows predicted right."""
    confidence = proba.max(axis=1)
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(np.intp), CALIBRATION_BINS - 1)
    out = np.zeros((3, CALIBRATION_BINS))
    out[0] = np.bincount(bins, minlength=CALIBRATION_BINS)
    out[1] = np.bincount(bins, weights=confidence, minlength=CALIBRATION_BINS)
    out[2] = np.bincount(bins, weights=correct.astype(np.float64), minlength=CALIBRATION_BINS)
    return out


def _model_size(candidate: Candidate, estimator: Any) -> int | None:
    """Bytes of the fitted model's stored form (its arrays and metadata)."""
    import json

    from polyclass.families import get_family

    try:
        meta, arrays = get_family(candidate.family).export(estimator)
    except Exception:  # a model that cannot be stored has no size to show
        return None
    return int(sum(np.asarray(a).nbytes for a in arrays.values())) + len(
        json.dumps(meta, default=str)
    )


def fit_and_score(
    candidate: Candidate,
    fold: _Fold,
    scorer: Scorer,
    classes: NDArray[Any],
    positive_class: Any,
    seed: int,
    measure_size: bool,
) -> FoldScore:
    """Fit ``candidate`` on the fold's training rows and score its test rows (the caller
    sets the thread limits and warning filters).

    An estimator that cannot fit these rows is a result with ``error`` set, not a crash.
    """
    try:
        estimator = candidate.build(1, seed=seed)
        t0 = time.perf_counter()
        estimator.fit(fold.X_train, fold.y_train)
        t1 = time.perf_counter()
        proba = np.asarray(estimator.predict_proba(fold.X_test), dtype=np.float64)
        own = np.asarray(estimator.predict(fold.X_test))
        t2 = time.perf_counter()
    except (ValueError, ArithmeticError, MemoryError, RuntimeError) as exc:
        return FoldScore(error=f"{type(exc).__name__}: {exc}")
    y_pred = scorer.decide(proba, classes, own)
    score = scorer.score(fold.y_test, y_pred, proba, classes, positive_class)
    return FoldScore(
        score=float(score),
        fit_seconds=t1 - t0,
        predict_seconds_per_1000=(t2 - t1) * 1000 / max(len(fold.y_test), 1),
        size_bytes=_model_size(candidate, estimator) if measure_size else None,
        calibration=_calibration(proba, classes[np.argmax(proba, axis=1)] == fold.y_test),
    )


def _run_tasks(
    tasks: list[tuple[int, int]],
    results: list[CandidateResult],
    folds: list[_Fold],
    context: dict[str, Any],
    workers: int,
    deadline: float | None,
    tick: Callable[[], None],
    first_chunk_always: bool = False,
    size_fold: int = 0,
) -> bool:
    """Run (candidate, fold) tasks; False when the deadline stopped them.

    Without a deadline every task is queued at once, so no worker waits for another's
    slow fit. With one, tasks run in chunks and none starts once it has passed (the first
    chunk runs regardless with ``first_chunk_always``: a search has a result). The fits
    of fold ``size_fold`` also measure the stored model's size.
    """
    from joblib import Parallel, delayed  # type: ignore[import-untyped]
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    chunk = len(tasks) if deadline is None else max(workers * 2, 1)
    backend = "threading" if workers > 1 else "sequential"
    # BLAS/OpenMP limits and warning filters are process-wide: set once around every
    # thread's fits (a solver stopped at its iteration cap is still scored as it is)
    with (
        threadpool_limits(1 if workers > 1 else None),
        warnings.catch_warnings(),
        Parallel(n_jobs=workers, backend=backend, return_as="generator") as pool,
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for start in range(0, len(tasks), max(chunk, 1)):
            started = start > 0 or not first_chunk_always
            if started and deadline is not None and time.perf_counter() > deadline:
                return False
            part = tasks[start : start + chunk]
            scores = pool(
                delayed(fit_and_score)(
                    results[c].candidate,
                    folds[f],
                    measure_size=f == size_fold,
                    **context,
                )
                for c, f in part
            )
            for (c, f), score in zip(part, scores, strict=True):
                results[c].folds[f] = score
                tick()
    return True


def _survivors(
    results: list[CandidateResult],
    alive: set[int],
    scorer: Scorer,
    rung_labels: NDArray[Any],
    halve: bool,
) -> tuple[set[int], dict[str, str]]:
    """Of the ``alive`` candidates: with ``halve`` the best third, plus each other
    family's best; without, every candidate. A family whose best trails the leader by
    more than the noise of that difference is left out either way; returns the kept
    candidates and the families left out with why."""
    ranked = sorted(
        (i for i in alive if results[i].fold_scores and results[i].error is None),
        key=lambda i: results[i].mean,
        reverse=scorer.greater_is_better,
    )
    keep = set(ranked[: max(1, math.ceil(len(results) * KEEP_FRACTION))])
    dropped: dict[str, str] = {}
    if not ranked:
        return keep, dropped
    leader = results[ranked[0]]
    for family in dict.fromkeys(results[i].candidate.family for i in ranked):
        mine = [i for i in ranked if results[i].candidate.family == family]
        if mine[0] in keep:
            if not halve:
                keep.update(mine)
            continue
        best = results[mine[0]]
        margin = noise_margin(scorer, leader.mean, best.mean, rung_labels)
        if margin is not None and abs(leader.mean - best.mean) > margin:
            n = len(best.fold_scores)
            dropped[family] = (
                f"pruned after {n} fold{'s' if n > 1 else ''}: its best ({best.mean:.4f}) "
                f"trails {leader.candidate.family}'s {leader.mean:.4f} on the same rows by "
                f"{abs(leader.mean - best.mean):.4f}, more than twice the standard error of "
                f"that difference (at most {margin / 2:.4f})"
            )
        else:
            keep.update(mine if not halve else mine[:1])
    return keep, dropped


def noise_margin(scorer: Scorer, leader: float, other: float, labels: NDArray[Any]) -> float | None:
    """Twice an upper bound on the standard error of the paired difference of two scores
    that are shares of the rows ``labels`` (None for any other metric).

    Two classifiers disagree on at most the rows either gets wrong, so the difference of
    their accuracies on ``n`` rows has a variance of at most ``(e1 + e2) / n`` with error
    rates ``e1, e2``; a macro average over classes rests on the harmonic mean of the
    class sizes instead of ``n``.
    """
    average = scorer.kwargs.get("average")
    if scorer.function == "accuracy_score" or average == "weighted":
        rows = float(len(labels))
    elif scorer.function == "balanced_accuracy_score" or average == "macro":
        counts = np.unique(labels, return_counts=True)[1]
        rows = float(len(counts) ** 2 / np.sum(1.0 / counts))
    else:
        return None
    errors = min(max((1.0 - leader) + (1.0 - other), 0.0), 1.0)
    return 2.0 * math.sqrt(errors / max(rows, 1.0))


def cross_validate(
    frame: pd.DataFrame,
    y: NDArray[Any],
    schema: Schema,
    candidates: list[Candidate],
    scorer: Scorer,
    *,
    classes: NDArray[Any],
    positive_class: Any,
    n_splits: int,
    seed: int,
    n_jobs: int = 1,
    halving: bool = False,
    time_budget: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_folds: int | None = None,
) -> list[CandidateResult]:
    """Score the candidates fold by fold; ``progress(done, total)`` after each fit.

    With ``halving``, the search stops once one candidate is left after at least
    :data:`FIRST_RUNG_FOLDS` folds: its other folds would decide nothing. With
    ``max_folds`` (a screen), no candidate is scored on more folds than that.

    Returns every candidate's result; pruned or unfinished candidates have folds
    that are ``None`` and say why in ``pruned``.
    """
    start = time.perf_counter()
    deadline = None if time_budget is None else start + time_budget
    folds = _folds(frame, y, schema, n_splits, seed)
    results = [CandidateResult(c, [None] * n_splits, rows=len(y)) for c in candidates]
    workers = n_workers(n_jobs)
    context = {"scorer": scorer, "classes": classes, "positive_class": positive_class}
    context["seed"] = seed
    families = {c.family for c in candidates}
    prune = halving and n_splits > FIRST_RUNG_FOLDS and (len(candidates) > 3 or len(families) > 1)
    # the folds after which weak families (after the first fold) and weak candidates
    # (after the first rung) stop
    rungs = [1, FIRST_RUNG_FOLDS, n_splits] if prune else [n_splits]
    # the stored size is measured on one fold: the second when weak families stop after
    # the first (the leaderboard shows only families scored on more folds, and a
    # boosting model's export costs about its fit), unless a time budget may stop the
    # search before the second fold runs (the first chunk of fold 0 always does)
    size_fold = 1 if prune and deadline is None else 0
    if max_folds is not None:
        rungs = [r for r in rungs if r < max_folds] + [min(max_folds, n_splits)]
    total = len(candidates) * rungs[0]
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], max(total, done[0]))

    alive = set(range(len(results)))
    scored, finished = 0, True
    for end in rungs:
        total = done[0] + len(alive) * (end - scored)
        tasks = list(_tasks(sorted(alive), range(scored, end)))
        if deadline is None:
            tasks = _slow_first(tasks, results)
        finished = _run_tasks(
            tasks, results, folds, context, workers, deadline, tick, scored == 0, size_fold
        )
        scored = end
        if not finished or end == rungs[-1]:
            break
        labels = np.concatenate([folds[f].y_test for f in range(end)])
        halve = end >= FIRST_RUNG_FOLDS
        keep, dropped = _survivors(results, alive, scorer, labels, halve)
        for i in alive - keep:
            if results[i].error is None:
                results[i].pruned = dropped.get(
                    results[i].candidate.family,
                    f"pruned after {end} of {n_splits} folds (halving)",
                )
        alive = keep
        if len(alive) == 1 and end >= FIRST_RUNG_FOLDS:
            break  # the search has its winner
    if not finished:
        for r in results:
            if r.pruned is None and r.error is None and not r.complete:
                r.pruned = f"not finished within the time budget of {time_budget:g} s"
    return results


def _tasks(candidates: Any, folds: range) -> Iterator[tuple[int, int]]:
    """Fold-major order: a deadline stops the search with candidates on the same folds."""
    for f in folds:
        for c in candidates:
            yield c, f


def _slow_first(
    tasks: list[tuple[int, int]], results: list[CandidateResult]
) -> list[tuple[int, int]]:
    """Longest tasks first, so the workers finish a rung together: by the candidate's
    mean fit time on the folds it has run; before any, linear candidates last (the
    cheapest fits, multinomial cheapest of all). Short tasks at the end fill the
    workers' idle time while the last slow fits finish."""
    order = {"ovo": 1, "ovr": 2, "multinomial": 3, "binary": 3}

    def rank(task: tuple[int, int]) -> tuple[float, int]:
        result = results[task[0]]
        seconds = result.fit_seconds
        if seconds:
            return -float(np.mean(seconds)), 0
        candidate = result.candidate
        return 0.0, order.get(candidate.strategy, 0) if candidate.family == "linear" else 0

    return sorted(tasks, key=rank)


def advance(
    results: list[CandidateResult], scorer: Scorer, labels: NDArray[Any]
) -> tuple[list[int], dict[str, str]]:
    """After a screen on a sample: the candidates that go on to the larger sample, and
    the families left out with why.

    Of the candidates scored on the most folds, each family's best goes on unless it trails
    the leader by more than the noise of that difference on the sample's rows
    ``labels`` (the rule of the halving's rungs).
    """
    scored = [r for r in results if r.pruned is None and r.error is None and r.fold_scores]
    most = max((len(r.fold_scores) for r in scored), default=0)
    done = {i for i, r in enumerate(results) if r in scored and len(r.fold_scores) == most}
    keep, dropped = _survivors(results, done, scorer, labels, halve=True)
    best_of: dict[str, int] = {}
    for i in sorted(keep, key=lambda i: results[i].mean, reverse=scorer.greater_is_better):
        best_of.setdefault(results[i].candidate.family, i)
    return sorted(best_of.values()), dropped


def eligible(results: list[CandidateResult]) -> list[CandidateResult]:
    """The candidates scored without error on the most rows, and of those on the most
    folds: the paired comparison."""
    scored = [r for r in results if r.error is None and r.fold_scores]
    if not scored:
        return []
    rows = max(r.rows for r in scored)
    scored = [r for r in scored if r.rows == rows]
    most = max(len(r.fold_scores) for r in scored)
    return [r for r in scored if len(r.fold_scores) == most]


def best_result(results: list[CandidateResult], scorer: Scorer) -> CandidateResult:
    """The candidate with the best mean score among the eligible ones; ties go to the
    earlier candidate (the simpler model: linear first, stronger regularisation first)."""
    pool = eligible(results)
    if not pool:
        errors = sorted({r.error for r in results if r.error})
        raise ValueError(
            "No candidate could be fitted on the cross-validation folds: "
            + ("; ".join(errors) if errors else "the time budget ran out before any fit")
            + ". Check the data warnings, or give a larger --time-budget."
        )
    best = pool[0]
    for r in pool[1:]:
        if scorer.better(r.mean, best.mean) and not np.isclose(
            r.mean, best.mean, rtol=0, atol=1e-12
        ):
            best = r
    return best


def strategy_summary(results: list[CandidateResult], scorer: Scorer) -> list[dict[str, Any]]:
    """The best candidate of each linear strategy, for comparing strategies side by side."""
    rows = []
    linear = [r for r in results if r.candidate.family == "linear"]
    for strategy in dict.fromkeys(r.candidate.strategy for r in linear):
        mine = [r for r in linear if r.candidate.strategy == strategy]
        if not eligible(mine):
            continue
        top = best_result(mine, scorer)
        rows.append(
            {
                "strategy": strategy,
                "label": STRATEGY_LABELS.get(strategy, strategy),
                "cv_mean": top.mean,
                "cv_std": top.std,
                "fit_seconds": float(np.mean(top.fit_seconds)),
                "best_params": top.candidate.params(),
                "n_candidates": len(mine),
            }
        )
    return rows
