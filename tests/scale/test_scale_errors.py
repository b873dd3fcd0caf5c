"""Bad input and lost workers on a real cluster."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _scale_data import make_table, write_parts

from polyclass.data import infer_schema
from polyclass.linear import LogisticRegression
from polyclass.preprocess import Preprocessor
from polyclass.scale import ScaleError, connect, encode, fit_logistic, fit_preprocessor, read_table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_scheduler_names_the_address() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ScaleError, match=f"Cannot reach the Dask scheduler at '{address}'"):
        with connect(address):
            pass
    assert time.monotonic() - started < 30  # the 5 s timeout, plus a loaded machine


def test_schemas_that_differ_name_file_and_column(client: Any, tmp_path: Path) -> None:
    df = make_table(200)
    write_parts(df, tmp_path / "cols", 2)
    df.drop(columns=["d"]).to_parquet(tmp_path / "cols" / "part-009.parquet", index=False)
    with pytest.raises(ScaleError, match=r"part-009\.parquet' lacks column 'd'"):
        read_table(client, str(tmp_path / "cols"), "label")


def test_a_type_that_differs_between_parts(client: Any, tmp_path: Path) -> None:
    df = make_table(200)
    write_parts(df, tmp_path / "types", 2)
    bad = df.assign(b=df["b"].astype(str))
    bad.to_parquet(tmp_path / "types" / "part-009.parquet", index=False)
    with pytest.raises(ScaleError, match=r"Column 'b' has type string in .*part-009\.parquet"):
        read_table(client, str(tmp_path / "types" / "*.parquet"), "label")


def test_no_parquet_files(client: Any, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScaleError, match="holds no Parquet files"):
        read_table(client, str(tmp_path / "empty"), "label")
    with pytest.raises(ScaleError, match="No such file"):
        read_table(client, str(tmp_path / "nowhere"), "label")


def test_a_worker_killed_during_a_fit(tmp_path: Path) -> None:
    """Dask rebuilds the dead worker's blocks from their files on the other worker; the
    fit completes with the model a fit without the failure gives."""
    df = make_table(16_000, seed=3)
    write_parts(df, tmp_path / "parts", 8)
    schema = infer_schema(df.drop(columns=["w"]), "label")
    columns = ["a", "b", "c", "d", "flat", "colour"]
    template = LogisticRegression(tol=1e-8, random_state=0)
    with connect("local", n_workers=2) as client:
        table = read_table(client, str(tmp_path / "parts"), "label", columns=columns)
        pre, labels = fit_preprocessor(table, Preprocessor(schema))
        classes = sorted(labels)
        mass = np.array([labels[c][1] for c in classes])
        blocks = encode(table, pre, classes, "float64")
        address = sorted(client.run(os.getpid))[0]
        victim = client.run(os.getpid)[address]
        killed = threading.Event()

        def kill_once_solving() -> None:
            # SIGKILL the worker as soon as it holds solver state: mid-fit
            for _ in range(2000):
                try:
                    busy = client.run(_solving, workers=[address])[address]
                except Exception:
                    return
                if busy:
                    os.kill(victim, signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.005)

        killer = threading.Thread(target=kill_once_solving, daemon=True)
        killer.start()
        try:
            fitted, info = fit_logistic(
                client, blocks, template, classes, mass, len(df), pre.n_features_out_
            )
        except ScaleError as exc:  # the other acceptable outcome: a clear error
            assert "lost its data" in str(exc)
            return
        finally:
            killer.join(timeout=10)
        assert killed.is_set()
    single = LogisticRegression(tol=1e-8, random_state=0).fit(pre.transform(df), df["label"])
    assert info.converged
    np.testing.assert_allclose(fitted.coef_, single.coef_, atol=1e-4)


def _solving() -> int:
    from polyclass.scale import _blocks

    return len(_blocks._SOLVERS)


def test_a_class_present_in_some_parts_only(client: Any, table: tuple[pd.DataFrame, Path]) -> None:
    df, folder = table
    files = sorted(folder.glob("*.parquet"))
    assert "dog" not in set(pd.read_parquet(files[0])["label"])
    dtable = read_table(client, str(files[0].parent), "label")
    _, labels = fit_preprocessor(
        dtable, Preprocessor(infer_schema(df.drop(columns=["w"]), "label"))
    )
    assert sorted(labels) == ["ant", "bee", "cat", "dog"]
