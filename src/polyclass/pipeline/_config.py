"""The options of one training run, from the CLI, a TOML file or Python."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

STRATEGIES = ("multinomial", "ovr", "ovo")
SEARCHES = ("grid", "random")
CLASS_WEIGHTS = ("none", "balanced")


class ConfigError(ValueError):
    """An option of the training run is invalid; the message names it and the fix."""


@dataclass
class TrainConfig:
    """Every option of ``polyclass train``; the defaults are the embedded ones.

    Parameters
    ----------
    data : str or Path
        CSV or Parquet file with one row per example.
    target : str
        Name of the column holding the class labels.
    metric : str
        ``'auto'`` (the metrics library's recommendation for this class balance and
        these costs) or a metric name: ``accuracy``, ``balanced_accuracy``, ``f1_macro``,
        ``f1_weighted``, ``f1``, ``mcc``, ``roc_auc``, ``average_precision``,
        ``log_loss``, ``expected_cost``.
    positive_class : str, optional
        The positive class of a binary problem (default: the minority class).
    cost_fp, cost_fn : float, optional
        Binary problems: the cost of a false positive and of a false negative.
    cost_matrix : str or Path, optional
        Multiclass problems: a CSV whose first column and header both list the classes;
        cell (i, j) is the cost of predicting j when the truth is i.
    strategies, class_weight, drop : list of str, or one comma-separated string
        ``strategies`` from ``multinomial``, ``ovr``, ``ovo``; ``class_weight`` from
        ``none``, ``balanced``; ``drop`` names columns to leave out.
    C, l1_ratio : list of float, or one comma-separated string
        The values the search tries (``C = [0.1, 1]`` and ``C = "0.1,1"`` are the same).
    out : str or Path
        Output folder. A folder that already holds a run (``model/``, ``report.html``
        or ``metrics.json``) is refused unless ``overwrite`` is true.
    overwrite : bool
        Replace the run already in ``out``.
    command : str, optional
        The command line that started the run, recorded in the report (the CLI sets it).
    families : list of str, or one comma-separated string
        Model families to compare (``linear``, ``boosting``, ``forest``, ``mlp``, ...).
        Empty: a default set for the table's size. ``linear`` is always included.
    n_jobs : int
        Parallel fits (threads) in the search (-1: every core, -2: all but one).
    halving : bool
        Successive halving: score every candidate on two folds, then only the best
        third (and each family's best) on the rest.
    time_budget : float, optional
        Seconds for the search: no new fit starts once they are spent.
    refit_all : bool
        After the single test, refit the chosen configuration on every row (train,
        validation and test) for the saved and registered model.

    See ``examples/train.toml`` for a TOML file with every option.
    """

    data: str | Path
    target: str
    metric: str = "auto"
    positive_class: str | None = None
    cost_fp: float | None = None
    cost_fn: float | None = None
    cost_matrix: str | Path | None = None
    column_types: dict[str, str] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    test_size: float = 0.2
    val_size: float = 0.2
    seed: int = 0
    strategies: list[str] = field(default_factory=lambda: list(STRATEGIES))
    C: list[float] = field(default_factory=lambda: [0.1, 1.0, 10.0])
    l1_ratio: list[float] = field(default_factory=lambda: [0.0])
    class_weight: list[str] = field(default_factory=lambda: list(CLASS_WEIGHTS))
    search: str = "grid"
    n_trials: int = 30
    cv: int = 5
    n_bootstrap: int = 1000
    out: str | Path = "out"
    name: str | None = None
    registry: str | None = None
    register: bool = True
    n_jobs: int = -1
    overwrite: bool = False
    command: str | None = None
    families: list[str] = field(default_factory=list)
    halving: bool = True
    time_budget: float | None = None
    refit_all: bool = False

    def __post_init__(self) -> None:
        for name in _WORD_LISTS:
            setattr(self, name, _words(name, getattr(self, name)))
        for name in _NUMBER_LISTS:
            setattr(self, name, _numbers(name, getattr(self, name)))
        for name, kind in _SCALARS.items():
            setattr(self, name, _scalar(name, getattr(self, name), kind))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` on the first invalid option."""
        if not str(self.target):
            raise ConfigError("target is empty: pass the name of the label column (--target).")
        _check_subset("strategies", self.strategies, STRATEGIES)
        _check_subset("class_weight", self.class_weight, CLASS_WEIGHTS)
        _check_families(self.families)
        if self.n_jobs == 0:
            raise ConfigError("n_jobs must be a positive number of workers, or -1 for every core.")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(
                f"time_budget must be a positive number of seconds, got {self.time_budget!r}."
            )
        for name in ("halving", "refit_all"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}.")
        if self.search not in SEARCHES:
            raise ConfigError(f"search must be one of {SEARCHES}, got {self.search!r}.")
        for name in ("test_size", "val_size"):
            value = getattr(self, name)
            if not 0.0 < value < 0.9:
                raise ConfigError(f"{name} must be a fraction in (0, 0.9), got {value!r}.")
        if self.test_size + self.val_size >= 0.9:
            raise ConfigError(
                f"test_size + val_size = {self.test_size + self.val_size:g} leaves too little "
                "data to train on; keep their sum below 0.9."
            )
        if not self.C or any(not (c > 0) for c in self.C):
            raise ConfigError(f"C must be a non-empty list of positive numbers, got {self.C!r}.")
        if not self.l1_ratio or any(not 0.0 <= r <= 1.0 for r in self.l1_ratio):
            raise ConfigError(f"l1_ratio values must lie in [0, 1], got {self.l1_ratio!r}.")
        if self.cv < 2:
            raise ConfigError(f"cv must be at least 2 folds, got {self.cv}.")
        if self.n_trials < 1:
            raise ConfigError(f"n_trials must be at least 1, got {self.n_trials}.")
        for name in ("cost_fp", "cost_fn"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"{name} must be a non-negative number, got {value!r}.")
        if (self.cost_fp is None) != (self.cost_fn is None):
            raise ConfigError("give both --cost-fp and --cost-fn, or neither.")
        if self.cost_matrix is not None and self.cost_fp is not None:
            raise ConfigError(
                "give either --cost-fp/--cost-fn (binary) or --cost-matrix, not both."
            )

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Read options from a TOML file (keys as in this class); ``overrides`` win.

        The file may hold the options at the top level or under a ``[train]`` table.
        """
        p = Path(path)
        try:
            document = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}.") from None
        options = dict(document.get("train", document))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"config file {p} has unknown option(s) {unknown}; known options: {sorted(known)}."
            )
        options.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**options)
        except TypeError as exc:
            raise ConfigError(f"config file {p}: {exc}.") from None


#: Options holding several values: a list, or one comma-separated string as on the CLI.
_WORD_LISTS = ("strategies", "class_weight", "drop", "families")
_NUMBER_LISTS = ("C", "l1_ratio")
#: Options holding one number (None allowed where the default is None).
_SCALARS: dict[str, type] = {
    "test_size": float,
    "val_size": float,
    "seed": int,
    "n_trials": int,
    "cv": int,
    "n_bootstrap": int,
    "n_jobs": int,
    "cost_fp": float,
    "cost_fn": float,
    "time_budget": float,
}


def _items(name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise ConfigError(
        f"{name} must be a list or a comma-separated string (e.g. {name} = "
        f'["a", "b"] or "a,b"), got {value!r}.'
    )


def _words(name: str, value: Any) -> list[str]:
    items = _items(name, value)
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{name} must hold names (text), got {bad!r}.")
    return [v.strip() for v in items]


def _numbers(name: str, value: Any) -> list[float]:
    items = [value] if isinstance(value, int | float) and not isinstance(value, bool) else None
    out = []
    for v in items if items is not None else _items(name, value):
        try:
            if isinstance(v, bool):
                raise ValueError
            out.append(float(v))
        except (TypeError, ValueError):
            raise ConfigError(
                f'{name} must hold numbers (e.g. {name} = [0.1, 1.0] or "0.1,1"), got {v!r}.'
            ) from None
    return out


def _scalar(name: str, value: Any, kind: type) -> Any:
    if value is None and name in ("cost_fp", "cost_fn", "time_budget"):
        return None
    whole = kind is int
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and whole and isinstance(value, float):
        ok = value.is_integer()
    if not ok:
        what = "a whole number" if whole else "a number"
        raise ConfigError(f"{name} must be {what}, got {value!r}.")
    return kind(value)


class OutputExistsError(ValueError):
    """``out`` already holds a run; the message names the fix."""


#: What marks a folder as holding a previous run.
RUN_FILES = ("model", "report.html", "metrics.json")


def check_out(out: str | Path, overwrite: bool) -> None:
    """Refuse to write over a previous run unless ``overwrite`` (nothing is touched yet)."""
    folder = Path(out)
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if found and not overwrite:
        raise OutputExistsError(
            f"{folder} already holds a run ({', '.join(found)}). Pass --overwrite "
            "(overwrite = true) to replace it, or choose a new folder with --out."
        )


def _check_subset(name: str, values: list[str], allowed: tuple[str, ...]) -> None:
    if not values:
        raise ConfigError(f"{name} is empty; choose from {list(allowed)}.")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ConfigError(f"{name} has unknown value(s) {bad}; choose from {list(allowed)}.")


def _check_families(names: list[str]) -> None:
    """Unknown names list the known families; a missing library names its extra."""
    from polyclass.families import FAMILIES

    bad = [n for n in names if n not in FAMILIES]
    if bad:
        raise ConfigError(
            f"families has unknown value(s) {bad}; polyclass knows {', '.join(FAMILIES)}."
        )
    for name in names:
        try:
            FAMILIES[name].require()
        except ImportError as exc:
            raise ConfigError(str(exc)) from None
