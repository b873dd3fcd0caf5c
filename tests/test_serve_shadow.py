"""The shadow's worker (in process): slices predicted at once and logged per request,
failures and drops counted, nothing queued lost at stop."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from _serve_helpers import ROW, ROW2, ServerProcess, Trained
from polyclass.predlog import read_log
from polyclass.preprocess import Table
from polyclass.serve._manager import ModelManager
from polyclass.serve._metrics import ServerMetrics
from polyclass.serve._mlflow import parse_invocation
from polyclass.serve._served import Prediction, ServedModel
from polyclass.serve._shadow import SHADOW_QUEUE, SHADOW_ROWS, ShadowRunner, join_tables


class _Logged:
    """What the shadow handed to the log: (request id, version, index, proba), in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int | None, Any, Any]] = []

    def __call__(self, request_id: str, model: ServedModel, prediction: Prediction) -> None:
        self.rows.append((request_id, model.version, prediction.index, prediction.proba))


def _managers(trained: Trained) -> tuple[ModelManager, ModelManager]:
    registry = str(trained.registry)
    served = ModelManager("penguins:1", registry=registry, poll_interval=0)
    shadow = ModelManager("penguins:2", registry=registry, poll_interval=0)
    return served, shadow


def _table(model: ServedModel, body: dict[str, Any]) -> Table:
    table, _ = parse_invocation(json.dumps(body).encode(), "application/json", model.plan)
    return table


def _requests(model: ServedModel, n: int) -> list[Table]:
    """``n`` requests of 1 to 3 rows in two JSON forms, some values missing."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        rows = []
        for _ in range(1 + i % 3):
            row = dict(ROW if rng.random() < 0.5 else ROW2)
            row["body_mass_g"] = float(rng.normal(4200, 800))
            rows.append(row)
        body = (
            {"dataframe_records": rows}
            if i % 2
            else {
                "dataframe_split": {"columns": list(ROW), "data": [list(r.values()) for r in rows]}
            }
        )
        out.append(_table(model, body))
    return out


def _submit(
    runner: ShadowRunner, served: ServedModel, tables: list[Table], prefix: str = "r"
) -> None:
    for i, table in enumerate(tables):
        answer = served.predict(table)
        runner.submit(f"{prefix}{i}", table, answer.index, served.class_array, served.feature_names)


def test_each_request_is_logged_under_its_id_as_if_predicted_alone(
    trained: Trained,
) -> None:
    served_manager, shadow_manager = _managers(trained)
    served, shadow = served_manager.current, shadow_manager.current
    tables = _requests(served, 150)  # more than one slice
    logged = _Logged()
    runner = ShadowRunner(shadow_manager, 100.0, logged)
    _submit(runner, served, tables)  # queued before the worker starts: slices of many
    runner.start()
    runner.stop()
    assert [r[0] for r in logged.rows] == [f"r{i}" for i in range(len(tables))]
    agreed = 0
    for (_, version, index, proba), table in zip(logged.rows, tables, strict=True):
        alone = shadow.predict(table)
        assert version == 2
        np.testing.assert_array_equal(index, alone.index)
        np.testing.assert_allclose(proba, alone.proba, rtol=1e-12)
        answer = served.predict(table).index
        agreed += int(np.sum(shadow.class_array[alone.index] == served.class_array[answer]))
    counts = runner.counts.to_dict()
    n_rows = sum(t.n_rows for t in tables)
    assert counts == {
        "requests": len(tables),
        "rows": n_rows,
        "agreement": agreed / n_rows,
        "dropped": 0,
        "errors": 0,
    }
    assert 0 < agreed < n_rows  # v2 is a different model: both outcomes are counted


def test_a_request_the_shadow_refuses_is_counted_and_spares_its_slice(
    trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    tables = _requests(served, 5)
    logged = _Logged()
    runner = ShadowRunner(shadow_manager, 100.0, logged)
    _submit(runner, served, tables)
    bad = _table(served, {"dataframe_records": [ROW]})
    bad.columns["body_mass_g"] = ["heavy"]  # what only a shadow with other checks refuses
    runner.submit("bad", bad, np.zeros(1, dtype=np.intp), served.class_array, served.feature_names)
    _submit(runner, served, tables, prefix="s")
    runner.start()
    runner.stop()
    assert [r[0] for r in logged.rows] == [f"r{i}" for i in range(5)] + [f"s{i}" for i in range(5)]
    assert runner.counts.errors == 1 and runner.counts.requests == 10
    assert "shadow 2 failed" in capsys.readouterr().err


def test_agreement_follows_the_classes_of_the_version_that_answered(trained: Trained) -> None:
    served_manager, shadow_manager = _managers(trained)
    served, shadow = served_manager.current, shadow_manager.current
    table = _requests(served, 3)[2]
    own = shadow.predict(table).index
    # an answering version whose classes come in another order, and one with a class the
    # shadow lacks: agreement compares labels, not positions
    reordered = served.class_array[::-1].copy()
    other = np.array(["Adelie", "Unknown", "Gentoo"], dtype=object)
    runner = ShadowRunner(shadow_manager, 100.0, _Logged())
    labels = shadow.class_array[own]
    answers = {
        "same": (own, served.class_array),
        "reordered": (np.array([list(reordered).index(c) for c in labels]), reordered),
        "other": (np.ones(len(own), dtype=np.intp), other),
    }
    for key, (index, classes) in answers.items():
        runner.submit(key, table, np.asarray(index, dtype=np.intp), classes, served.feature_names)
    runner.start()
    runner.stop()
    expected = 2 * len(own)  # "same" and "reordered" agree on every row, "other" on none
    assert runner.counts.rows == 3 * len(own)
    assert runner.counts.agreed == expected


def test_a_full_queue_drops_samples_and_counts_them(trained: Trained) -> None:
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    table = _requests(served, 1)[0]
    answer = served.predict(table).index
    logged = _Logged()
    runner = ShadowRunner(shadow_manager, 100.0, logged)
    for i in range(SHADOW_QUEUE + 7):  # the worker is not running: the queue fills
        runner.submit(f"r{i}", table, answer, served.class_array, served.feature_names)
    assert runner.counts.dropped == 7
    runner.start()
    runner.stop()  # the queued ones are logged at stop
    runner.submit(
        "late", table, answer, served.class_array, served.feature_names
    )  # after stop: dropped
    assert runner.counts.requests == SHADOW_QUEUE and runner.counts.dropped == 8
    assert len(logged.rows) == SHADOW_QUEUE


_SERIES = ("requests", "rows", "agreed_rows", "dropped", "errors")


def _shadow_series(text: str, version: str = "2") -> dict[str, float]:
    """The shadow counters of ``version`` in a ``/metrics`` text (summed over workers)."""
    out = {}
    for name in _SERIES:
        prefix = f'polyclass_shadow_{name}_total{{model="penguins",version="{version}"}} '
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        assert len(lines) == 1, (name, text)
        out[name] = float(lines[0][len(prefix) :])
    return out


def test_the_prometheus_counters_say_what_the_shadow_did(trained: Trained) -> None:
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    tables = _requests(served, 5)
    metrics = ServerMetrics()
    runner = ShadowRunner(shadow_manager, 100.0, _Logged(), metrics=metrics)
    runner.start()  # the series exist at 0 from the start
    assert _shadow_series(metrics.exposition().decode()) == dict.fromkeys(_SERIES, 0.0)
    runner.stop()
    _submit(runner, served, tables)  # stopped: every one dropped
    bad = _table(served, {"dataframe_records": [ROW]})
    bad.columns["body_mass_g"] = ["heavy"]
    runner.start()
    runner.submit("bad", bad, np.zeros(1, dtype=np.intp), served.class_array, served.feature_names)
    _submit(runner, served, tables, prefix="s")
    runner.stop()
    counts = runner.counts
    assert (counts.requests, counts.dropped, counts.errors) == (5, 5, 1)
    assert _shadow_series(metrics.exposition().decode()) == {
        "requests": 5.0,
        "rows": float(counts.rows),
        "agreed_rows": float(counts.agreed),
        "dropped": 5.0,
        "errors": 1.0,
    }


@pytest.mark.slow
def test_two_workers_sum_the_shadow_counters_and_they_match_the_log(
    trained: Trained, tmp_path: Path
) -> None:
    server = ServerProcess(
        ["penguins@production", "--registry", str(trained.registry), "--log-dir",
         str(tmp_path), "--poll-interval", "0", "--no-access-log", "--monitor-interval", "0",
         "--shadow", "penguins:2", "--workers", "2"],
        cwd=tmp_path,
    )  # fmt: skip
    n = 40
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for k in range(n):
                rows = [dict(ROW, body_mass_g=2500.0 + 100 * k), ROW2][: 1 + k % 2]
                res = client.post("/invocations", json={"dataframe_records": rows})
                assert res.status_code == 200, res.text
            for _ in range(600):  # the shadows work off the response path: wait for them
                seen = _shadow_series(client.get("/metrics").text)
                if seen["requests"] + seen["dropped"] + seen["errors"] == n:
                    break
                time.sleep(0.1)
    finally:
        assert server.stop() in (0, -15), server.stderr
    data = read_log(tmp_path / "logs" / "penguins")
    versions = np.asarray(data.model_version)
    keys = list(zip(data.request_id.to_pylist(), data.row.tolist(), strict=True))
    predictions = data.prediction.to_pylist()
    served = {key: p for key, p, v in zip(keys, predictions, versions, strict=True) if v == 1}
    shadow = [(key, p) for key, p, v in zip(keys, predictions, versions, strict=True) if v == 2]
    shadowed = len({request_id for (request_id, _), _ in shadow})
    assert seen == {
        "requests": float(shadowed),
        "rows": float(len(shadow)),
        "agreed_rows": float(sum(served[key] == p for key, p in shadow)),
        "dropped": float(n - shadowed),
        "errors": 0.0,
    }


def test_queued_rows_are_bounded_but_a_lone_large_request_is_taken(trained: Trained) -> None:
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    big = Table(SHADOW_ROWS + 1, {n: v * (SHADOW_ROWS + 1) for n, v in _columns(served).items()})
    small = Table(1, _columns(served))
    runner = ShadowRunner(shadow_manager, 100.0, _Logged())
    runner.submit(
        "big", big, np.zeros(big.n_rows, dtype=np.intp), served.class_array, served.feature_names
    )
    runner.submit(
        "small", small, np.zeros(1, dtype=np.intp), served.class_array, served.feature_names
    )
    assert runner.counts.dropped == 1  # the rows bound is reached
    runner.start()
    runner.stop()
    assert runner.counts.requests == 1 and runner.counts.rows == SHADOW_ROWS + 1


def _columns(model: ServedModel) -> dict[str, list[Any]]:
    return {name: [ROW[name]] for name in model.feature_names}


def test_stop_logs_every_queued_request_even_while_the_worker_rests(trained: Trained) -> None:
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    tables = _requests(served, 40)
    logged = _Logged()
    # a tiny share: after its first slice the worker rests far longer than this test runs
    runner = ShadowRunner(shadow_manager, 100.0, logged, share=1e-6)
    runner.start()
    _submit(runner, served, tables)
    runner.stop()
    assert [r[0] for r in logged.rows] == [f"r{i}" for i in range(40)]
    assert runner.counts.requests == 40 and runner.counts.dropped == 0


def test_join_tables_keeps_rows_in_order_and_refuses_mixed_forms() -> None:
    a = Table(2, matrix=np.arange(6.0).reshape(2, 3), matrix_keys={"x": 0, "y": 1, "z": 2})
    b = Table(1, matrix=np.full((1, 3), 9.0), matrix_keys={"x": 0, "y": 1, "z": 2})
    joined = join_tables([a, b])
    assert joined is not None and joined.n_rows == 3 and joined.matrix is not None
    np.testing.assert_array_equal(joined.matrix, [[0, 1, 2], [3, 4, 5], [9, 9, 9]])
    c = Table(1, {"x": [1.0], "y": ["u"]})
    d = Table(2, {"x": [None, 2.0], "y": ["v", None]})
    lists = join_tables([c, d])
    assert lists is not None and lists.columns == {"x": [1.0, None, 2.0], "y": ["u", "v", None]}
    assert join_tables([a, c]) is None  # a matrix and lists
    assert join_tables([c, Table(1, {"x": [1.0]})]) is None  # other columns
    assert join_tables([c, Table(1, {"x": np.ones(1), "y": ["u"]})]) is None  # an array


def test_share_must_be_a_fraction(trained: Trained) -> None:
    _, shadow_manager = _managers(trained)
    with pytest.raises(ValueError, match=r"share must lie in \(0, 1\]"):
        ShadowRunner(shadow_manager, 100.0, _Logged(), share=0.0)


def test_a_server_stopped_with_requests_queued_logs_every_shadow_prediction(
    trained: Trained, tmp_path: Path
) -> None:
    """SIGTERM right after the last answer (the shadow rests at least 10 ms between
    slices, so the last requests are usually still queued): every request's shadow rows
    are logged before the server exits."""
    server = ServerProcess(
        ["penguins@production", "--registry", str(trained.registry), "--log-dir",
         str(tmp_path), "--poll-interval", "0", "--no-access-log", "--monitor-interval", "0",
         "--shadow", "penguins:2"],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            ids = []
            for k in range(60):
                res = client.post(
                    "/invocations", json={"dataframe_records": [ROW, ROW2][: 1 + k % 2]}
                )
                assert res.status_code == 200, res.text
                ids.append(res.headers["x-request-id"])
            shadow = client.get("/admin/routing").json()["shadow"]
    finally:
        assert server.stop() in (0, -15), server.stderr  # both are a clean stop
    assert shadow["dropped"] == 0 and shadow["errors"] == 0
    data = read_log(tmp_path / "logs" / "penguins")
    versions = np.asarray(data.model_version)
    request_ids = np.asarray(data.request_id.to_pylist(), dtype=object)
    for version in (1, 2):
        logged = request_ids[versions == version]
        assert sorted(set(logged)) == sorted(ids)
        assert len(logged) == sum(1 + k % 2 for k in range(60))  # every row, once


def _numeric_model(columns: list[str], out: Path) -> Path:
    """A logistic regression on three numeric inputs, taken in the order ``columns``."""
    import pandas as pd

    from polyclass import LogisticRegression
    from polyclass.data import infer_schema
    from polyclass.model import Model
    from polyclass.preprocess import Preprocessor

    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 90)]
    shift = {"a": 0.0, "b": 2.0, "c": 4.0}
    df = pd.DataFrame(
        {"x": rng.normal(size=90), "y": rng.normal(size=90) * 3, "z": rng.normal(size=90)}
    )
    df["x"] += np.array([shift[v] for v in y])
    df = df[columns].assign(target=y)
    schema = infer_schema(df, "target")
    pre = Preprocessor(schema).fit(df)
    est = LogisticRegression(max_iter=200).fit(pre.transform(df), y)
    return Model(schema=schema, preprocessor=pre, estimator=est).save(out)


def test_a_shadow_reading_its_inputs_in_another_order_gets_them_by_name(tmp_path: Path) -> None:
    served = ModelManager(str(_numeric_model(["x", "y", "z"], tmp_path / "a")), poll_interval=0)
    other = ModelManager(str(_numeric_model(["z", "x", "y"], tmp_path / "b")), poll_interval=0)
    model, shadow = served.current, other.current
    assert model.plan.all_numeric and shadow.feature_names == ["z", "x", "y"]
    rows = [[-1.0, 2.0, 0.5], [3.0, -4.0, 0.0], [1.5, 0.0, -2.0]]
    logged = _Logged()
    runner = ShadowRunner(other, 100.0, logged)
    for i in range(3):  # three one-row requests, each a matrix in the served order
        table = _table(model, {"dataframe_split": {"columns": ["x", "y", "z"], "data": [rows[i]]}})
        assert table.matrix is not None
        answer = model.predict(table).index
        runner.submit(f"r{i}", table, answer, model.class_array, model.feature_names)
    runner.start()
    runner.stop()
    by_name = Table(3, {name: [r[j] for r in rows] for j, name in enumerate(["x", "y", "z"])})
    expected = shadow.predict(by_name)
    np.testing.assert_array_equal(np.concatenate([r[2] for r in logged.rows]), expected.index)
    np.testing.assert_allclose(np.concatenate([r[3] for r in logged.rows]), expected.proba)
    assert runner.counts.errors == 0 and runner.counts.requests == 3


def test_the_logs_cost_of_its_rows_counts_in_the_workers_share(trained: Trained) -> None:
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    tables = _requests(served, 41)
    logged = _Logged()
    costs: list[int] = []

    def log_cost() -> float:  # the log's writer spends 1000 s a row: the worker must rest
        costs.append(1)
        return 1000.0

    # half the time: its own work (milliseconds) alone would make it rest milliseconds
    runner = ShadowRunner(shadow_manager, 100.0, logged, share=0.5, log_cost=log_cost)
    runner.start()
    _submit(runner, served, tables[:1])
    deadline = time.monotonic() + 30
    while runner.counts.requests < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.counts.requests == 1 and costs
    _submit(runner, served, tables[1:], prefix="s")
    time.sleep(0.3)
    assert runner.counts.requests == 1  # resting for the charged cost, not taking more
    runner.stop()  # a stop ends the rest and logs every queued request
    assert runner.counts.requests == 41 and runner.counts.dropped == 0
