"""``train --dask``: the same steps as on one machine, for a table held by a Dask cluster.

Only the passes over the whole table run on the cluster: the labels (one column comes
to the driver for the stratified split), the preprocessing statistics, the final fit
(polyclass's Newton-CG on a loss summed over the parts) and the test metrics (merged
per-part states). Checking, exploring, tuning and validating run the single-machine
steps on a stratified sample of the table gathered to the driver: the training part's
rows that the single-machine run tunes on (at most ``TUNE_MAX_ROWS``), and at most
``SAMPLE_MAX_ROWS`` of the validation and test parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.data import DataError
from polyclass.data import stratified_split as split_rows
from polyclass.model import Model
from polyclass.pipeline._config import ConfigError, TrainConfig
from polyclass.pipeline._final import (
    FLOAT32_MIN_ROWS,
    REFERENCE_MAX_ROWS,
    attach_reference,
    explain,
    info,
)
from polyclass.pipeline._fit import sample_rows, stratified_sample
from polyclass.pipeline._labels import labels_of
from polyclass.pipeline._run import Run
from polyclass.pipeline._steps import TUNE_MAX_ROWS, check_table
from polyclass.preprocess import Preprocessor

#: Validation and test rows gathered to the driver (validation, the operating point,
#: intervals, curves, importance); the test metrics' values use every test row.
SAMPLE_MAX_ROWS = 50_000


#: Solver tolerance of the final fit on the cluster, by precision: a warm start from a
#: sample and the single-machine default (1e-4) stop it while its coefficients are still
#: ~1e-2 from the optimum; a few more round trips bring them within 1e-4 of a converged
#: fit (float32 blocks cannot resolve a line search much below 1e-5).
FINAL_TOL = {"float64": 1e-7, "float32": 1e-5}


@dataclass
class Spread:
    """Where the run's rows live on the cluster: the parts, the rows with a label
    (positions in the parts' concatenation), the whole table's split (positions among
    those rows) and the sample gathered to the driver."""

    client: Any
    address: str
    table: Any = None
    offsets: NDArray[np.intp] = field(default_factory=lambda: np.zeros(1, np.intp))
    labelled: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))
    split: dict[str, NDArray[np.intp]] = field(default_factory=dict)
    sample: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))


def check_options(cfg: TrainConfig) -> TrainConfig:
    """The options with which a distributed run can fit its final model (linear family,
    L2 penalty), or a ConfigError naming the option and the fix."""
    others = [f for f in cfg.families if f != "linear"]
    if others:
        raise ConfigError(
            f"--dask fits the linear family only (its final fit runs on the cluster); got "
            f"--families {','.join(cfg.families)}. Drop {others} or train without --dask "
            "on a sample of the table."
        )
    if any(r > 0 for r in cfg.l1_ratio):
        raise ConfigError(
            f"--dask fits the L2 penalty only (Newton-CG on the cluster); got --l1-ratio "
            f"{','.join(f'{r:g}' for r in cfg.l1_ratio)}. Use --l1-ratio 0."
        )
    return replace(cfg, families=["linear"])


def load_and_check(run: Run, spread: Spread) -> None:
    """Read the parts on the workers, split the whole table by its labels, then check
    the gathered sample with the single-machine checks."""
    from polyclass.scale import gather_column, gather_rows, read_table, table_fingerprint

    cfg = run.cfg
    spread.table = read_table(spread.client, str(cfg.data), cfg.target)
    columns = gather_column(spread.table, cfg.target)
    spread.offsets = np.concatenate([[0], np.cumsum([len(c) for c in columns])]).astype(np.intp)
    values = columns_values(columns)
    spread.labelled = np.flatnonzero(~pd.isna(values))
    if spread.labelled.size == 0:
        raise DataError(f"No rows with a value in target column {cfg.target!r}; nothing to learn.")
    y = labels_of(pd.Series(values[spread.labelled]))
    parts = split_rows(y, test_size=cfg.test_size, val_size=cfg.val_size, seed=cfg.seed)
    spread.split = {"train": parts.train, "val": parts.val, "test": parts.test}
    spread.sample = _sample(spread.split, y, cfg.seed)
    frame = gather_rows(spread.table, _by_part(spread, spread.sample))
    check_table(run, frame)
    run.fingerprint = table_fingerprint(spread.table)
    run.n_rows = int(spread.labelled.size)
    missing = len(values) - run.n_rows
    if missing:
        run.warnings.insert(0, _note("missing_target", _missing_message(missing, cfg.target)))
    run.warnings.insert(0, _note("dask_sample", _sample_message(run, spread)))


def columns_values(columns: list[NDArray[Any]]) -> NDArray[Any]:
    """The parts' label arrays as one array: numeric if every part's is (pandas widens
    integers with missing values to floats, as the single-machine loader does)."""
    if not columns:
        return np.zeros(0, dtype=object)
    if all(c.dtype.kind in "iubf" for c in columns):
        return np.concatenate(columns)
    return np.concatenate([c.astype(object) for c in columns])


def _sample(split: dict[str, NDArray[np.intp]], y: NDArray[Any], seed: int) -> NDArray[np.intp]:
    """The labelled rows gathered to the driver: the training rows the single-machine
    run tunes on, and a stratified sample of validation and test."""
    caps = {"train": TUNE_MAX_ROWS, "val": SAMPLE_MAX_ROWS, "test": SAMPLE_MAX_ROWS}
    chosen = []
    for part, rows in split.items():
        if len(rows) > caps[part]:
            rows = stratified_sample(rows, y[rows], caps[part], seed)
        chosen.append(rows)
    return np.sort(np.concatenate(chosen))


def _by_part(spread: Spread, rows: NDArray[np.intp]) -> list[NDArray[np.intp]]:
    """Labelled-row positions → each part's local row numbers."""
    from polyclass.scale import split_by_part

    return split_by_part(spread.labelled[rows], spread.offsets)


def _note(code: str, message: str) -> dict[str, Any]:
    return {"column": None, "code": code, "message": message, "severity": "info"}


def _missing_message(missing: int, target: str) -> str:
    return f"{missing:,} row(s) have no value in target {target!r} and were dropped."


def _sample_message(run: Run, spread: Spread) -> str:
    rows = len(spread.sample)
    linear = "Only the linear family is compared (the one fitted on the cluster)."
    if rows == run.n_rows:
        return (
            f"Trained on Dask ({len(spread.table.frames)} parts): every one of the "
            f"{run.n_rows:,} rows was checked, explored, tuned and validated on the driver. "
            + linear
        )
    return (
        f"Trained on Dask ({len(spread.table.frames)} parts, {run.n_rows:,} rows): the "
        f"checks, the exploration, the tuning and the validation ran on a stratified sample "
        f"of {rows:,} rows; preprocessing statistics, the final fit and the test metrics' "
        "values use every row (intervals, curves and importance come from the test "
        "sample). " + linear
    )


def split(run: Run, spread: Spread) -> None:
    """The whole table's split, as row numbers of the gathered sample."""
    run.train_rows, run.val_rows, run.test_rows = (
        np.flatnonzero(np.isin(spread.sample, spread.split[part]))
        for part in ("train", "val", "test")
    )


def final_fit_and_test(run: Run, spread: Spread) -> None:
    """Fit on every train + validation row on the cluster, score every test row there;
    intervals, curves, explanations and reference statistics from the gathered sample."""
    cfg = run.cfg
    fit_rows = np.concatenate([spread.split["train"], spread.split["val"]])
    final = _fit_on_cluster(run, spread, fit_rows)
    test_frame = run.frame.iloc[run.test_rows]
    test_pred, test_proba = final.predict_with_proba(test_frame)
    run.test = run.evaluate(run.test_rows, test_pred, test_proba)
    exact = _test_on_cluster(run, spread, final)
    overlay_exact(run.test, exact, run.classes, run.positive_class)
    explain(run, final, test_frame, run.y[run.test_rows])
    fitted = fit_rows
    if cfg.refit_all:
        fitted = np.arange(run.n_rows)
        final = _fit_on_cluster(run, spread, fitted)
        run.refit = {
            "rows": int(run.n_rows),
            "tested_model_rows": len(fit_rows),
            "note": (
                f"The saved model was refitted on all {run.n_rows:,} rows (train, validation "
                "and test) after the single test; the test metrics are those of the same "
                "configuration fitted without the test rows."
            ),
        }
    reference_rows = sample_rows(
        np.concatenate([run.train_rows, run.val_rows]), REFERENCE_MAX_ROWS, cfg.seed
    )
    final.info = info(run)
    rows = np.sort(reference_rows)
    attach_reference(
        run, final, run.frame.iloc[rows], run.y[rows], test_proba, test_pred, len(fitted)
    )
    run.final = final
    run.frame = pd.DataFrame()
    # from here on the split means the whole table's (the report's counts)
    run.train_rows, run.val_rows, run.test_rows = (
        spread.split[part] for part in ("train", "val", "test")
    )


def _fit_on_cluster(run: Run, spread: Spread, rows: NDArray[np.intp]) -> Model:
    """Preprocessing and the chosen linear model fitted on ``rows`` of the whole table."""
    from polyclass.scale import encode, fit_logistic, fit_preprocessor, select_rows

    dtype: Literal["float64", "float32"] = "float32" if len(rows) > FLOAT32_MIN_ROWS else "float64"
    table = select_rows(spread.table, _by_part(spread, rows), _Prepare(run.checked))
    pre, labels = fit_preprocessor(table, Preprocessor(run.schema, dtype=dtype))
    classes = sorted(labels)
    if [str(c) for c in classes] != [str(c) for c in run.classes]:
        raise DataError(
            f"The classes of the fitted rows {classes} differ from the sample's "
            f"{run.classes.tolist()}; this is a bug, please report it."
        )
    mass = np.array([labels[c][1] for c in classes])
    blocks = encode(table, pre, classes, dtype)
    template = run.best.candidate.build(1, dtype, seed=run.cfg.seed)
    inner = getattr(template, "estimator", template)  # one-vs-rest / one-vs-one wrap it
    inner.tol = min(float(inner.tol), FINAL_TOL[dtype])
    if inner.random_state is None:  # the warm start's sample: the same model run to run
        inner.random_state = run.cfg.seed
    n_features = len(pre.get_feature_names_out())
    estimator, how = fit_logistic(
        spread.client, blocks, template, classes, mass, len(rows), n_features
    )
    spread.client.cancel(blocks + table.frames)
    run.distributed = {
        "address": spread.address,
        "workers": len(spread.client.scheduler_info()["workers"]),
        "parts": len(spread.table.frames),
        "fitted_rows": len(rows),
        "sample_rows": len(spread.sample),
        "dtype": dtype,
        "solver_iterations": how.n_iter,
        "round_trips": how.round_trips,
        "objective": how.objective,
        "converged": how.converged,
    }
    return Model(schema=run.schema, preprocessor=pre, estimator=estimator, family="linear")


@dataclass(frozen=True)
class _Prepare:
    """The checks' column selection and text-number parsing, run on each part's rows
    (the rows without a label are already left out)."""

    checked: Any

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        return replace(self.checked, keep_rows=None).apply(frame)  # type: ignore[no-any-return]


def _test_on_cluster(run: Run, spread: Spread, model: Model) -> dict[str, Any]:
    from polyclass.scale import evaluate_frames, select_rows

    table = select_rows(spread.table, _by_part(spread, spread.split["test"]), _Prepare(run.checked))
    try:
        return evaluate_frames(spread.client, model, table)
    finally:
        spread.client.cancel(table.frames)


# evaluate()'s metric name -> the cluster summary's
_EXACT = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "matthews_corrcoef": "mcc",
    "f1_macro": "f1_macro",
    "f1_weighted": "f1_weighted",
    "log_loss": "log_loss",
    "roc_auc_ovr": "roc_auc_ovr",
}


def overlay_exact(
    test: dict[str, Any], exact: dict[str, Any], classes: NDArray[Any], positive: Any
) -> None:
    """Replace the sample's values by those over every test row where the cluster
    computes them exactly (the intervals stay the sample's, wider than the whole's)."""
    if test["n_samples"] == exact["rows"]:
        return  # the sample is every test row: nothing to replace
    metrics = test["metrics"]
    for name, key in _EXACT.items():
        if name in metrics:
            metrics[name]["value"] = float(exact[key])
    counts = np.asarray(exact["confusion_matrix"], dtype=np.float64)
    if len(classes) == 2 and "roc_auc" in metrics:
        p = int(np.flatnonzero(np.asarray(classes) == positive)[0])
        metrics["roc_auc"]["value"] = exact["roc_auc_by_class"][p]
        tp = counts[p, p]
        precision = tp / counts[:, p].sum() if counts[:, p].sum() else None
        recall = tp / counts[p, :].sum() if counts[p, :].sum() else None
        for name, value in (("precision", precision), ("recall", recall)):
            if name in metrics and value is not None:
                metrics[name]["value"] = float(value)
        if "f1" in metrics and precision and recall:
            metrics["f1"]["value"] = float(2 * precision * recall / (precision + recall))
    matrix = test.get("confusion_matrix")
    if isinstance(matrix, dict):
        sums = counts.sum(axis=1, keepdims=True)
        matrix["counts"] = counts.astype(np.int64).tolist()
        matrix["normalized"] = np.divide(
            counts, sums, out=np.zeros_like(counts), where=sums > 0
        ).tolist()
    test["sample_rows"] = test["n_samples"]
    test["n_samples"] = int(exact["rows"])
    test.setdefault("notes", []).append(
        f"Values of {', '.join(n for n in _EXACT if n in metrics)} and the confusion "
        f"matrix are over all {exact['rows']:,} test rows (merged on the cluster); "
        f"intervals, curves and per-class rows come from a stratified sample of "
        f"{test['sample_rows']:,} of them."
    )
