"""``polyclass train --dask`` against a real cluster: the same report, artifact and
registry entry as ``polyclass train``, and the same coefficients on the same rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from polyclass.cli import app
from polyclass.data import stratified_split
from polyclass.linear import LogisticRegression, OneVsRestClassifier
from polyclass.model import load
from polyclass.pipeline import train
from polyclass.registry import Registry

runner = CliRunner()
# one candidate and three folds: the test is about where the work runs, not the search
OPTIONS = {
    "strategies": "ovr",
    "C": "1",
    "class_weight": "balanced",
    "cv": 3,
    "n_bootstrap": 50,
    "families": "linear",
    "n_jobs": 1,
}
FLAGS = [
    "--strategies",
    "ovr",
    "--C",
    "1",
    "--class-weight",
    "balanced",
    "--cv",
    "3",
    "--n-jobs",
    "1",
]


def _coef(estimator: Any) -> np.ndarray:
    return np.vstack(
        [np.hstack([np.ravel(e.coef_), np.ravel(e.intercept_)]) for e in estimator.estimators_]
    )


def test_train_dask_matches_train(
    client: Any, table: tuple[pd.DataFrame, Path], tmp_path: Path
) -> None:
    df, folder = table
    whole = tmp_path / "whole.parquet"
    df.to_parquet(whole, index=False)
    single = train(data=whole, target="label", out=tmp_path / "single", register=False, **OPTIONS)
    registry = f"sqlite:///{tmp_path / 'reg' / 'registry.db'}"
    out = tmp_path / "dask"
    args = ["train", str(folder), "--target", "label", *FLAGS, "-o", str(out)]
    result = runner.invoke(
        app, [*args, "--name", "parts", "--registry", registry, "--dask", client.scheduler.address]
    )
    assert result.exit_code == 0, result.output
    assert "registered: parts:1" in result.output
    model = load("parts:1", registry=registry)
    assert model.family == "linear" and model.info["n_rows"] == len(df)
    assert model.info["best_params"] == single.best_params
    # the same split: the fitted rows are the single-machine run's train + validation rows
    y = df["label"].to_numpy().astype(str)
    split = stratified_split(y, test_size=0.2, val_size=0.2, seed=0)
    fitted = np.concatenate([split.train, split.val])
    X = model.preprocessor.transform(df.iloc[fitted])
    np.testing.assert_allclose(X, single.model.preprocessor.transform(df.iloc[fitted]), atol=1e-9)
    # its coefficients: those of a converged single-machine fit of these rows and parameters
    converged = OneVsRestClassifier(
        LogisticRegression(C=1.0, class_weight="balanced", tol=1e-8, random_state=0)
    ).fit(X, y[fitted])
    np.testing.assert_allclose(_coef(model.estimator), _coef(converged), atol=1e-4, rtol=0)
    # scored on the same test rows (every one, small table) as the single-machine run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == {"train": 3600, "validation": 1200, "test": 1200}
    assert metrics["test"]["n_samples"] == 1200
    for name, tol in (("accuracy", 0.005), ("log_loss", 1e-3), ("roc_auc_ovr", 1e-3)):
        assert metrics["test"]["metrics"][name]["value"] == pytest.approx(
            single.test_metrics["metrics"][name]["value"], abs=tol
        )
    assert metrics["dask"]["parts"] == 5 and metrics["dask"]["fitted_rows"] == 4800
    assert metrics["dask"]["converged"]
    assert (out / "report.html").stat().st_size > 0
    with Registry(registry) as reg:
        lineage = reg.get_version("parts", 1).lineage
    assert lineage["target"] == "label" and lineage["data_path"] == str(folder)


def test_train_dask_samples_a_large_table(
    client: Any, table: tuple[pd.DataFrame, Path], tmp_path: Path, monkeypatch: Any
) -> None:
    """Above the sample sizes the search runs on a sample; every row is still fitted
    (with --refit-all the test rows too)."""
    from polyclass.pipeline import _steps, _train_dask

    _, folder = table
    monkeypatch.setattr(_steps, "TUNE_MAX_ROWS", 1000)
    monkeypatch.setattr(_train_dask, "TUNE_MAX_ROWS", 1000)
    monkeypatch.setattr(_train_dask, "SAMPLE_MAX_ROWS", 500)
    done = train(
        data=str(folder),
        target="label",
        out=tmp_path / "out",
        register=False,
        dask=client.scheduler.address,
        refit_all=True,
        **OPTIONS,
    )
    assert done.distributed is not None and done.refit is not None
    assert done.distributed["fitted_rows"] == 6000 and done.refit["tested_model_rows"] == 4800
    assert done.model.reference is not None
    assert done.distributed["sample_rows"] < 2100
    assert done.tuning["sampled"] and done.tuning["of"] == 3600
    assert done.test_metrics["n_samples"] == 1200 and done.test_metrics["sample_rows"] < 600
    assert any(w["code"] == "dask_sample" for w in done.warnings)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--families", "linear,boosting"], "--dask fits the linear family only"),
        (["--l1-ratio", "0.5"], "--dask fits the L2 penalty only"),
    ],
)
def test_train_dask_refuses_what_it_cannot_fit(
    client: Any, table: tuple[pd.DataFrame, Path], tmp_path: Path, extra: list[str], says: str
) -> None:
    _, folder = table
    args = ["train", str(folder), "-t", "label", "-o", str(tmp_path / "o"), "--no-register"]
    # the scheduler named by the environment, as --dask would name it
    env = {"DASK_SCHEDULER_ADDRESS": client.scheduler.address}
    result = runner.invoke(app, [*args, *extra], env=env)
    assert result.exit_code == 2
    assert says in result.output


def test_train_dask_names_a_csv(client: Any, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("a,label\n1,x\n")
    args = ["train", str(path), "-t", "label", "-o", str(tmp_path / "o"), "--no-register"]
    result = runner.invoke(app, [*args, "--dask", client.scheduler.address])
    assert result.exit_code == 2
    assert "Cannot read" in result.output and "rows.csv" in result.output


def test_train_dask_names_an_address_that_does_not_answer(
    table: tuple[pd.DataFrame, Path], tmp_path: Path
) -> None:
    _, folder = table
    args = ["train", str(folder), "-t", "label", "-o", str(tmp_path / "o"), "--no-register"]
    result = runner.invoke(app, [*args, "--dask", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "tcp://127.0.0.1:9" in result.output and not (tmp_path / "o" / "model").exists()
