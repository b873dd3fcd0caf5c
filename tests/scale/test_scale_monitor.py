"""``polyclass monitor --dask`` against a real cluster: the same result as ``monitor`` on
the same log (drifted windows, feedback, a corrupt segment)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import polyclass
from _monitor_log import HOUR, T0, write_feedback, write_predictions
from polyclass.cli import app
from polyclass.monitor import monitor

runner = CliRunner()


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    color = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2])
    score = x1 + x2 + (color == "red") * 0.5
    y = np.where(score > 0.8, "high", np.where(score < -0.8, "low", "mid"))
    return pd.DataFrame({"x1": x1, "x2": x2, "color": color, "y": y})


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model and a log of six segments over six hours: the last three drifted, one
    corrupt, feedback for half of them."""
    root = tmp_path_factory.mktemp("scale-monitor")
    data = root / "train.csv"
    _frame(np.random.default_rng(0), 1200).to_csv(data, index=False)
    trained = polyclass.train(
        data=str(data),
        target="y",
        out=str(root / "out"),
        register=False,
        cv=2,
        n_bootstrap=20,
        strategies=["multinomial"],
        families=["linear"],
        C=[1.0],
        n_jobs=1,
    )
    model = polyclass.load(trained.artifact_path)
    log = root / "log"
    for seq in range(1, 7):
        frame = _frame(np.random.default_rng(seq), 300, shift=0.0 if seq <= 3 else 1.5)
        ts = T0 + (seq - 1) * HOUR + np.arange(len(frame)) * 5_000_000
        write_predictions(
            log,
            classes=[str(c) for c in model.classes_],
            proba=model.predict_proba(frame),
            ts=ts,
            predictions=[str(p) for p in model.predict(frame)],
            model_name="toy",
            seq=seq,
            inputs={
                "x1": ("numeric", frame["x1"]),
                "x2": ("numeric", frame["x2"]),
                "color": ("categorical", frame["color"]),
            },
        )
        if seq % 2:
            write_feedback(
                log,
                request_ids=[f"r{seq}-{i}" for i in range(len(frame))],
                labels=list(frame["y"]),
                ts=ts + 5,
                seq=seq,
            )
    (log / "predictions" / "part-20260101T063000000000-4242-7.parquet").write_bytes(b"PAR1 no")
    return Path(trained.artifact_path), log


def _same(a: Any, b: Any, where: str = "") -> None:
    """Equal, floats to 1e-12 (bin sums are added in another order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), where
    else:
        assert a == b, where


def test_monitor_dask_equals_monitor(client: Any, logged: tuple[Path, Path]) -> None:
    model, log = logged
    single = monitor(model, log, window="1h").to_dict()
    spread = monitor(model, log, window="1h", dask=client.scheduler.address).to_dict()
    single.pop("timings")
    spread.pop("timings")
    _same(spread, single)
    # what the comparison covers: drift in the later windows, the problems reported
    assert single["drift"]["n_drifted"] >= 1
    assert sum(w["n_drifted"] for w in single["drift_windows"]) >= 1
    assert any("4242-7" in p["path"] for p in single["log"]["problems"])  # the corrupt one
    assert single["live"]["n_labelled"] == 900


def test_monitor_dask_cli(client: Any, logged: tuple[Path, Path], tmp_path: Path) -> None:
    model, log = logged
    args = ["monitor", str(model), "--log", str(log), "--format", "json", "--window", "1h"]
    single = runner.invoke(app, args)
    spread = runner.invoke(app, [*args, "--dask", client.scheduler.address])
    assert spread.exit_code == single.exit_code, spread.output
    a, b = json.loads(single.stdout), json.loads(spread.stdout)
    a.pop("timings")
    b.pop("timings")
    _same(b, a)


def test_monitor_dask_names_an_address_that_does_not_answer(logged: tuple[Path, Path]) -> None:
    model, log = logged
    result = runner.invoke(
        app, ["monitor", str(model), "--log", str(log), "--dask", "tcp://127.0.0.1:9"]
    )
    assert result.exit_code == 2
    assert "tcp://127.0.0.1:9" in result.output
