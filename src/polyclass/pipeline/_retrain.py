"""``polyclass retrain``: a challenger trained like the champion, compared on the same rows.

Steps: resolve the champion (a registry reference) and its stored training options →
read the original data and the feedback rows, check their columns and classes → hold
out the newest feedback rows as the test set (time order: the challenger is judged on
the world as it is now) → train the challenger with :func:`polyclass.pipeline.train`
on the original data plus the older feedback rows → score both models on exactly the
test rows → paired comparison (:mod:`polyclass.metrics`: bootstrap of the metric
difference, McNemar, DeLong) → alias ``challenger``, ``comparison.json`` and
``comparison.html`` → with ``promote_if_better``, move ``production`` only when the
challenger is better with the interval of the difference excluding zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.pipeline._compare import compare, write_comparison
from polyclass.pipeline._config import TrainConfig
from polyclass.pipeline._evaluate import fitted_rows

#: Share of the feedback rows (the newest) held out as the common test set.
TEST_FRACTION = 0.5
#: Fewer test rows than this make any comparison too noisy to act on.
MIN_TEST_ROWS = 20
_TIME_COLUMNS = ("labelled_at", "predicted_at")


class RetrainError(ValueError):
    """The retrain cannot run as asked; the message names the fix."""


@dataclass
class RetrainResult:
    """The challenger, the comparison and what was decided."""

    name: str
    champion_version: int
    challenger_version: int
    comparison: dict[str, Any]
    promoted: bool
    out: Path

    @property
    def better(self) -> bool:
        """Whether the challenger is better with the interval excluding zero."""
        return bool(self.comparison["decision"]["better"])


@dataclass
class _Champion:
    name: str
    version: int
    model: Any
    config: dict[str, Any]
    warnings: list[str]


def retrain(
    model: str,
    data: str | Path,
    *,
    feedback: str | Path | None = None,
    out: str | Path = "retrain",
    promote_if_better: bool = False,
    alpha: float = 0.05,
    test_fraction: float = TEST_FRACTION,
    n_resamples: int = 2000,
    registry: str | None = None,
    overwrite: bool = False,
) -> RetrainResult:
    """Train a challenger with the champion's options and compare them on the same rows.

    Parameters
    ----------
    model : str
        Registry reference of the champion (``name``, ``name@production``, ``name:3``).
    data : str or Path
        The original training table (CSV or Parquet).
    feedback : str or Path, optional
        Labelled rows from ``polyclass feedback export``; the newest ``test_fraction``
        of them are the test set, the others join the training data.
    out : str or Path
        Folder for the challenger's run and the comparison.
    promote_if_better : bool
        Move ``production`` to the challenger when it is significantly better.
    alpha : float
        1 - the confidence level of the interval (and the tests' level).
    test_fraction : float
        Share of the feedback rows held out (newest first).
    n_resamples : int
        Bootstrap resamples of the paired comparison.
    registry : str, optional
        Registry URL or folder.
    overwrite : bool
        Replace a previous run in ``out``.

    Returns
    -------
    RetrainResult
    """
    from polyclass.pipeline._train import train
    from polyclass.registry import Registry

    if not 0.0 < alpha < 0.5:
        raise RetrainError(f"--alpha must lie in (0, 0.5), got {alpha!r}; 0.05 is usual.")
    if not 0.0 < test_fraction < 1.0:
        raise RetrainError(f"test_fraction must lie in (0, 1), got {test_fraction!r}.")
    champion = _champion(model, registry)
    target = str(champion.model.info.get("target"))
    features = champion.model.feature_names
    original = _read(data, "--data", features, target)
    fb = _read(feedback, "--feedback", features, target) if feedback is not None else None
    classes = np.asarray(champion.model.classes_)
    _check_classes(original, fb, target, classes)
    train_frame, test_frame, test_source = _split(original, fb, features, target, test_fraction)
    warnings = [*champion.warnings, *_champion_saw(champion.model, test_frame, fb is None)]
    if test_source == "feedback (last rows of the file)":
        warnings.append(
            f"--feedback {feedback} has no labelled_at or predicted_at column: its last "
            f"{len(test_frame)} rows are the test set, in file order. Export with "
            "`polyclass feedback export` (which writes both) to test on the newest rows."
        )
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    train_path = folder / "challenger-data.parquet"
    train_frame.to_parquet(train_path, index=False)
    cfg = _challenger_config(champion, train_path, folder, registry, overwrite)
    result = train(cfg)
    challenger = result.model
    if result.registered is None:
        raise RetrainError("the challenger was not registered; this is a bug, please report it.")
    version = int(result.registered["version"])
    if not np.array_equal(np.asarray(challenger.classes_), classes):
        raise RetrainError(
            f"the challenger (version {version}) predicts classes "
            f"{np.asarray(challenger.classes_).tolist()} but the champion {classes.tolist()}: "
            "a comparison would be meaningless. Retrain on data with exactly the champion's "
            "classes, or train a new model with `polyclass train`."
        )
    comparison = compare(
        champion.model,
        challenger,
        test_frame,
        target,
        alpha=alpha,
        n_resamples=n_resamples,
        seed=int(champion.config.get("seed", 0)),
    )
    comparison.update(
        name=champion.name,
        champion_version=champion.version,
        challenger_version=version,
        test_rows_from=test_source,
        training_rows=len(train_frame),
        warnings=warnings,
    )
    promoted = False
    with Registry(registry) as store:
        store.set_alias(champion.name, "challenger", version)
        if promote_if_better and comparison["decision"]["better"]:
            store.promote(champion.name, version)
            promoted = True
    comparison["decision"]["promoted"] = promoted
    write_comparison(folder, comparison)
    return RetrainResult(champion.name, champion.version, version, comparison, promoted, folder)


def _champion(ref: str, registry: str | None) -> _Champion:
    from polyclass.model import Model
    from polyclass.registry import Registry

    if Path(ref).exists():
        raise RetrainError(
            f"{ref} is a folder; retrain needs the champion as a registry reference "
            "(name or name@production) so the challenger is registered beside it."
        )
    with Registry(registry) as store:
        version = store.resolve(ref)
    model = Model.load(version.path)
    options, warnings = _stored_options(model, version.version)
    return _Champion(version.name, int(version.version or 0), model, options, warnings)


def _stored_options(model: Any, version: Any) -> tuple[dict[str, Any], list[str]]:
    """The champion's training options, and a warning when they were rebuilt from its
    info (trained before they were stored: only metric, positive class and seed are)."""
    info = model.info
    stored = info.get("train_config")
    if isinstance(stored, dict):
        return dict(stored), []
    metric = (info.get("metric") or {}).get("name")
    options: dict[str, Any] = {"seed": int(info.get("seed", 0))}
    if metric is not None:
        options["metric"] = metric
    if info.get("positive_class") is not None:
        options["positive_class"] = str(info["positive_class"])
    kept = ", ".join(f"{k}={v}" for k, v in options.items())
    warning = (
        f"the champion (version {version}) was trained before polyclass stored its training "
        f"options: only {kept} were recovered; strategies, costs, cost matrix, search space "
        "and the other `polyclass train` options take their defaults (the champion's family "
        f"was {info.get('family')!r}). To keep them, train the challenger yourself with "
        "`polyclass train retrain/challenger-data.parquet ...` and the champion's options."
    )
    return options, [warning]


def _champion_saw(model: Any, test: pd.DataFrame, from_data: bool) -> list[str]:
    """Warnings when the common test rows include rows the champion was fitted on (its
    score on them is optimistic, so the comparison favours it)."""
    n_seen, sampled = fitted_rows(model, test)
    if n_seen:
        return [
            f"{n_seen} of the {len(test)} test rows"
            + (" (found in a sample of the fitted rows: likely more)" if sampled else "")
            + " are rows the champion was fitted on: its score on them is optimistic, so the "
            "comparison favours it. Export feedback with --since the champion's "
            "registration time (`polyclass registry show NAME:VERSION`) so the test rows "
            "are new to it."
        ]
    if from_data:
        return [
            "without --feedback the test rows are a random 20% of --data; if the champion "
            "was trained on that table it has seen them (none found among its recorded "
            "rows, which may be a sample). Pass --feedback with newly labelled rows for a "
            "fair comparison."
        ]
    return []


def _read(path: str | Path, option: str, features: list[str], target: str) -> pd.DataFrame:
    from polyclass.data import load_table

    try:
        frame = load_table(path)
    except FileNotFoundError:
        raise RetrainError(f"{option} {path} does not exist; pass the table's path.") from None
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        hint = (
            " Export it with `polyclass feedback export MODEL -o FILE`, which writes the "
            "model's columns."
            if option == "--feedback"
            else ""
        )
        raise RetrainError(
            f"{option} {path} lacks the model's column(s) {missing} (it has "
            f"{list(frame.columns)[:12]}); give a table with every feature and the target "
            f"{target!r}.{hint}"
        )
    if len(frame) == 0 or frame[target].notna().sum() == 0:
        raise RetrainError(
            f"{option} {path} holds no labelled row; "
            + (
                "post true labels to /feedback and export them again."
                if option == "--feedback"
                else "pass the original training table."
            )
        )
    return frame


def _check_classes(
    original: pd.DataFrame, fb: pd.DataFrame | None, target: str, classes: NDArray[Any]
) -> None:
    from polyclass.pipeline._labels import labels_of

    frames = [original] if fb is None else [original, fb]
    seen = np.unique(np.concatenate([labels_of(f[target].dropna()) for f in frames]))
    if seen.dtype.kind != classes.dtype.kind:
        seen = np.unique(seen.astype(classes.dtype)) if classes.dtype.kind in "iuf" else seen
    if not np.array_equal(np.sort(seen.astype(str)), np.sort(classes.astype(str))):
        seen_text = {str(c) for c in seen.tolist()}  # plain str: no np.str_ in the message
        class_text = {str(c) for c in classes.tolist()}
        extra, absent = sorted(seen_text - class_text), sorted(class_text - seen_text)
        raise RetrainError(
            f"the data's classes differ from the champion's {classes.tolist()} (new: {extra}, "
            f"missing: {absent}): a challenger with different classes cannot be compared "
            "with it. Drop or relabel those rows, or train a new model with `polyclass train`."
        )


def _split(
    original: pd.DataFrame,
    fb: pd.DataFrame | None,
    features: list[str],
    target: str,
    test_fraction: float,
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Training rows and the common test rows, and where the test rows came from."""
    columns = [*features, target]
    if fb is None:
        # No feedback: a seeded random share of the original data (the champion may have
        # been trained on some of it, which favours the champion).
        order = np.random.default_rng(0).permutation(len(original))
        n_test = max(MIN_TEST_ROWS, round(len(original) * 0.2))
        test = original.iloc[order[:n_test]][columns]
        rest = original.iloc[order[n_test:]][columns]
        return rest.reset_index(drop=True), test.reset_index(drop=True), "data"
    when = next((c for c in _TIME_COLUMNS if c in fb.columns), None)
    ordered = fb.sort_values(when, kind="stable") if when is not None else fb
    n_test = round(len(ordered) * test_fraction)
    if n_test < MIN_TEST_ROWS:
        raise RetrainError(
            f"--feedback has {len(fb)} rows, so only {n_test} would be held out for the test; "
            f"at least {MIN_TEST_ROWS} are needed for a comparison worth acting on. Collect "
            "more feedback before retraining."
        )
    test = ordered.iloc[len(ordered) - n_test :][columns]
    older = ordered.iloc[: len(ordered) - n_test][columns]
    train = pd.concat([original[columns], older], ignore_index=True)
    if when is None:
        return train, test.reset_index(drop=True), "feedback (last rows of the file)"
    return train, test.reset_index(drop=True), "feedback (newest)"


def _challenger_config(
    champion: _Champion, data: Path, folder: Path, registry: str | None, overwrite: bool
) -> TrainConfig:
    from dataclasses import fields

    known = {f.name for f in fields(TrainConfig)} - {
        "data",
        "target",
        "out",
        "name",
        "registry",
        "register",
        "overwrite",
        "command",
    }
    # Options a newer or older polyclass stored but this one lacks are left out.
    options = {k: v for k, v in champion.config.items() if k in known}
    matrix = champion.model.decision.cost_matrix
    if options.get("cost_matrix") is not None and matrix is not None:
        # The path given at training may be gone: write the matrix the champion decides with.
        classes = [str(c) for c in np.asarray(champion.model.classes_).tolist()]
        path = folder / "cost-matrix.csv"
        pd.DataFrame(np.asarray(matrix), index=classes, columns=classes).to_csv(path)
        options["cost_matrix"] = str(path)
    return TrainConfig(
        data=data,
        target=str(champion.model.info.get("target")),
        out=folder / "challenger",
        name=champion.name,
        registry=registry,
        register=True,
        overwrite=overwrite,
        command=None,
        **options,
    )
