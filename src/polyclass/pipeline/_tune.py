"""Hyperparameter search by stratified k-fold cross-validation.

Folds are the outer loop and candidates the inner one, so only one fold's
preprocessed matrices are in memory at a time. Preprocessing is fitted inside each
fold (on that fold's training rows only) so no statistic leaks from the rows it is
scored on.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from polyclass.data import Schema
from polyclass.linear import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier
from polyclass.pipeline._scoring import Scorer
from polyclass.preprocess import Preprocessor

STRATEGY_LABELS = {
    "multinomial": "multinomial (softmax)",
    "ovr": "one-vs-rest",
    "ovo": "one-vs-one",
    "binary": "binary logistic",
}


@dataclass(frozen=True)
class Candidate:
    """One point of the search space."""

    strategy: str
    C: float
    l1_ratio: float
    class_weight: str

    def params(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "C": self.C,
            "l1_ratio": self.l1_ratio,
            "class_weight": self.class_weight,
        }

    def build(self, n_jobs: int = 1, dtype: str = "float64") -> Any:
        """A fresh, unfitted estimator for this candidate, computing in ``dtype``."""
        base = LogisticRegression(
            C=self.C,
            l1_ratio=self.l1_ratio,
            class_weight=None if self.class_weight == "none" else self.class_weight,
            max_iter=500,
            dtype=dtype,
        )
        if self.strategy == "ovr":
            return OneVsRestClassifier(base, n_jobs=n_jobs)
        if self.strategy == "ovo":
            return OneVsOneClassifier(base, n_jobs=n_jobs)
        return base


@dataclass
class CandidateResult:
    """Cross-validated scores of one candidate."""

    candidate: Candidate
    fold_scores: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_scores))

    @property
    def std(self) -> float:
        return float(np.std(self.fold_scores))

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.candidate.params(),
            "cv_mean": self.mean,
            "cv_std": self.std,
            "fold_scores": list(self.fold_scores),
            "fit_seconds": float(np.mean(self.fit_seconds)),
        }


def search_space(
    strategies: list[str],
    C: list[float],
    l1_ratio: list[float],
    class_weight: list[str],
    *,
    n_classes: int,
    search: str,
    n_trials: int,
    seed: int,
) -> list[Candidate]:
    """The candidates to cross-validate: the full grid, or ``n_trials`` drawn from it.

    With two classes the three strategies are the same model, so only one is tried.
    Random search keeps every strategy represented so they can be compared.
    """
    if n_classes == 2:
        strategies = ["binary"]
    grid = [
        Candidate(s, float(c), float(r), w)
        for s, c, r, w in itertools.product(strategies, C, l1_ratio, class_weight)
    ]
    if search == "grid" or n_trials >= len(grid):
        return grid
    rng = np.random.default_rng(seed)
    by_strategy = {s: [c for c in grid if c.strategy == s] for s in strategies}
    chosen: list[Candidate] = []
    for s in strategies:  # at least one candidate per strategy
        pool = by_strategy[s]
        chosen.append(pool[int(rng.integers(len(pool)))])
    rest = [c for c in grid if c not in chosen]
    extra = max(n_trials - len(chosen), 0)
    picks = rng.choice(len(rest), size=min(extra, len(rest)), replace=False)
    chosen.extend(rest[int(i)] for i in sorted(picks))
    return chosen


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
    progress: Callable[[int, int], None] | None = None,
) -> list[CandidateResult]:
    """Score every candidate on every fold; ``progress(done, total)`` after each fit."""
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    results = [CandidateResult(c) for c in candidates]
    total = n_splits * len(candidates)
    done = 0
    for train_idx, test_idx in folds.split(np.zeros(len(y)), y):
        pre = Preprocessor(schema).fit(frame.iloc[train_idx])
        X_train = pre.transform(frame.iloc[train_idx])
        X_test = pre.transform(frame.iloc[test_idx])
        y_train, y_test = y[train_idx], y[test_idx]
        for result in results:
            estimator = result.candidate.build(n_jobs)
            t0 = time.perf_counter()
            estimator.fit(X_train, y_train)
            result.fit_seconds.append(time.perf_counter() - t0)
            proba = np.asarray(estimator.predict_proba(X_test))
            y_pred = scorer.decide(proba, classes, np.asarray(estimator.predict(X_test)))
            result.fold_scores.append(scorer.score(y_test, y_pred, proba, classes, positive_class))
            done += 1
            if progress is not None:
                progress(done, total)
    return results


def best_result(results: list[CandidateResult], scorer: Scorer) -> CandidateResult:
    """The candidate with the best mean score; ties go to the simpler model
    (stronger regularisation, then the earlier strategy)."""
    best = results[0]
    for r in results[1:]:
        if scorer.better(r.mean, best.mean) and not np.isclose(
            r.mean, best.mean, rtol=0, atol=1e-12
        ):
            best = r
    return best


def strategy_summary(results: list[CandidateResult], scorer: Scorer) -> list[dict[str, Any]]:
    """The best candidate of each strategy, for comparing strategies side by side."""
    rows = []
    for strategy in dict.fromkeys(r.candidate.strategy for r in results):
        mine = [r for r in results if r.candidate.strategy == strategy]
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
