"""What the search tries: the model families, and each family's candidates.

Logistic regression's candidates come from the run's options (strategies, C,
l1_ratio, class weight); every other family's from its own small search space
(:meth:`polyclass.families.Family.candidates`). All are scored in the same folds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyclass.families import FAMILIES, get_family

#: Above this many training rows the default leaves out the families whose fits grow
#: fastest with the rows (forests grow deep trees, networks run many epochs).
LARGE_TABLE_ROWS = 100_000


@dataclass(frozen=True, eq=True)
class Candidate:
    """One point of the search space: a family and its parameters."""

    family: str
    settings: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def strategy(self) -> str:
        """The linear strategy, or the family's name for the other families."""
        if self.family == "linear":
            return str(self.settings.get("strategy", "multinomial"))
        return self.family

    def params(self) -> dict[str, Any]:
        """The family and its parameters, as JSON-able values."""
        plain = {k: list(v) if isinstance(v, tuple) else v for k, v in self.settings.items()}
        return {"family": self.family, **plain}

    def label(self) -> str:
        """The parameters in one short line, for tables."""
        return ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in self.settings.items()
            if v is not None
        )

    def build(self, n_jobs: int = 1, dtype: str = "float64", seed: int = 0) -> Any:
        """A fresh, unfitted estimator for this candidate, computing in ``dtype``
        (the linear family; the others choose their own precision)."""
        if self.family == "linear":
            return _linear(self.settings, n_jobs, dtype)
        return get_family(self.family).build(dict(self.settings), random_state=seed, n_jobs=n_jobs)


def fit_quietly(estimator: Any, X: Any, y: Any) -> Any:
    """``estimator.fit(X, y)`` without scikit-learn's ConvergenceWarning: a network or
    solver stopped at its iteration cap is still scored (and compared) as it is."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _linear(settings: dict[str, Any], n_jobs: int, dtype: str) -> Any:
    from polyclass.linear import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier

    weight = settings.get("class_weight", "none")
    base = LogisticRegression(
        C=float(settings.get("C", 1.0)),
        l1_ratio=float(settings.get("l1_ratio", 0.0)),
        class_weight=None if weight == "none" else weight,
        max_iter=500,
        dtype=dtype,
    )
    strategy = settings.get("strategy", "multinomial")
    if strategy == "ovr":
        return OneVsRestClassifier(base, n_jobs=n_jobs)
    if strategy == "ovo":
        return OneVsOneClassifier(base, n_jobs=n_jobs)
    return base


@dataclass
class Skipped:
    """A family left out of the comparison, and why."""

    family: str
    reason: str


def default_families(n_rows: int) -> list[str]:
    """The families tried when none are named: every known one on tables up to
    :data:`LARGE_TABLE_ROWS` training rows, linear and boosting above."""
    if n_rows > LARGE_TABLE_ROWS:
        return [f for f in FAMILIES if f in ("linear", "boosting")]
    return list(FAMILIES)


def choose_families(named: list[str], n_rows: int) -> tuple[list[str], list[Skipped]]:
    """The families to search and those skipped (a library missing from the defaults).

    ``named`` empty means the defaults for ``n_rows``; linear is always included. A
    named family whose library is missing raises ImportError naming the extra.
    """
    chosen = list(dict.fromkeys(["linear", *(named or default_families(n_rows))]))
    skipped = []
    for name in list(chosen):
        family = get_family(name)
        if family.available():
            continue
        if named and name in named:
            family.require()  # raises, naming the extra to install
        chosen.remove(name)
        missing = [m for m in family.requires if not _installed(m)]
        extra = f"pip install 'polyclass[{family.extra}]'" if family.extra else "pip install"
        skipped.append(
            Skipped(name, f"{', '.join(missing)} is not installed ({extra} to include it)")
        )
    return chosen, skipped


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


#: ``class_weight='balanced'`` is left out of the search when the largest class has at
#: most this many times the rows of the smallest: its weights then differ by at most
#: this factor, so it fits nearly the model ``'none'`` fits, at the cost of a second fit.
BALANCED_RATIO = 1.1


def class_weights_to_search(class_weight: list[str], y: Any) -> tuple[list[str], str | None]:
    """The class weights worth searching for labels ``y``, and why one was left out.

    ``'balanced'`` is dropped (when ``'none'`` is searched too) if the classes are already
    balanced within :data:`BALANCED_RATIO`.
    """
    if "balanced" not in class_weight or "none" not in class_weight:
        return class_weight, None
    counts = np.unique(np.asarray(y), return_counts=True)[1]
    ratio = float(counts.max() / counts.min())
    if ratio > BALANCED_RATIO:
        return class_weight, None
    kept = [w for w in class_weight if w != "balanced"]
    return kept, (
        "The linear search left out class_weight 'balanced': the largest class has "
        f"{ratio:.2f}x the rows of the smallest (at most {BALANCED_RATIO:g}x), so its "
        "weights would fit nearly the same model as 'none'."
    )


def linear_candidates(
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
    """Logistic regression's candidates: the full grid, or ``n_trials`` drawn from it.

    With two classes the three strategies are the same model, so only one is tried.
    Random search keeps every strategy represented so they can be compared.
    """
    if n_classes == 2:
        strategies = ["binary"]
    grid = [
        Candidate("linear", {"strategy": s, "C": float(c), "l1_ratio": float(r), "class_weight": w})
        for s, c, r, w in itertools.product(strategies, C, l1_ratio, class_weight)
    ]
    if search == "grid" or n_trials >= len(grid):
        return grid
    rng = np.random.default_rng(seed)
    chosen: list[Candidate] = []
    for s in strategies:  # at least one candidate per strategy
        pool = [c for c in grid if c.strategy == s]
        chosen.append(pool[int(rng.integers(len(pool)))])
    rest = [c for c in grid if c not in chosen]
    extra = max(n_trials - len(chosen), 0)
    picks = rng.choice(len(rest), size=min(extra, len(rest)), replace=False)
    chosen.extend(rest[int(i)] for i in sorted(picks))
    return chosen


def family_candidates(
    families: list[str], n_rows: int, n_features: int, n_classes: int
) -> list[Candidate]:
    """Every non-linear family's own candidates for a table of this size."""
    out = []
    for name in families:
        if name == "linear":
            continue
        for params in get_family(name).candidates(n_rows, n_features, n_classes):
            out.append(Candidate(name, dict(params)))
    return out
