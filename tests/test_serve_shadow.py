"""The shadow: its process predicts slices at once and logs them per request; the
server's side never waits, counts drops and failures, follows hot swaps, loses nothing
queued at stop and leaves no process behind."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
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
from polyclass.serve._shadow import (
    SHADOW_BYTES,
    STOP_SECONDS,
    Frames,
    Item,
    ShadowRunner,
    context_frame,
    item_frame,
    model_frame,
)
from polyclass.serve._shadow_worker import Shadow, join_tables, slices


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


def _items(served: ServedModel, tables: list[Table], prefix: str = "r") -> list[Item]:
    out = []
    for i, table in enumerate(tables):
        answer = served.predict(table)
        out.append(
            Item(f"{prefix}{i}", table, answer.index, served.class_array, served.feature_names)
        )
    return out


def _shadow_all(shadow: Shadow, items: list[Item]) -> None:
    for batch in slices(items):
        shadow.predict(batch)


def test_each_request_is_logged_under_its_id_as_if_predicted_alone(
    trained: Trained,
) -> None:
    served_manager, shadow_manager = _managers(trained)
    served, model = served_manager.current, shadow_manager.current
    tables = _requests(served, 300)  # more than one slice
    logged = _Logged()
    shadow = Shadow(model, logged)
    items = _items(served, tables)
    assert len(slices(items)) > 1
    _shadow_all(shadow, items)
    assert [r[0] for r in logged.rows] == [f"r{i}" for i in range(len(tables))]
    agreed = 0
    for (_, version, index, proba), table in zip(logged.rows, tables, strict=True):
        alone = model.predict(table)
        assert version == 2
        np.testing.assert_array_equal(index, alone.index)
        np.testing.assert_allclose(proba, alone.proba, rtol=1e-12)
        answer = served.predict(table).index
        agreed += int(np.sum(model.class_array[alone.index] == served.class_array[answer]))
    counts = shadow.counts.to_dict()
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
    shadow = Shadow(shadow_manager.current, logged)
    bad = _table(served, {"dataframe_records": [ROW]})
    bad.columns["body_mass_g"] = ["heavy"]  # what only a shadow with other checks refuses
    bad_item = Item(
        "bad", bad, np.zeros(1, dtype=np.intp), served.class_array, served.feature_names
    )
    items = [*_items(served, tables), bad_item, *_items(served, tables, prefix="s")]
    _shadow_all(shadow, items)
    assert [r[0] for r in logged.rows] == [f"r{i}" for i in range(5)] + [f"s{i}" for i in range(5)]
    assert shadow.counts.errors == 1 and shadow.counts.requests == 10
    assert "shadow 2 failed" in capsys.readouterr().err


def test_agreement_follows_the_classes_of_the_version_that_answered(trained: Trained) -> None:
    served_manager, shadow_manager = _managers(trained)
    served, model = served_manager.current, shadow_manager.current
    table = _requests(served, 3)[2]
    own = model.predict(table).index
    # an answering version whose classes come in another order, and one with a class the
    # shadow lacks: agreement compares labels, not positions
    reordered = served.class_array[::-1].copy()
    other = np.array(["Adelie", "Unknown", "Gentoo"], dtype=object)
    shadow = Shadow(model, _Logged())
    labels = model.class_array[own]
    answers = {
        "same": (own, served.class_array),
        "reordered": (np.array([list(reordered).index(c) for c in labels]), reordered),
        "other": (np.ones(len(own), dtype=np.intp), other),
    }
    items = [
        Item(key, table, np.asarray(index, dtype=np.intp), classes, served.feature_names)
        for key, (index, classes) in answers.items()
    ]
    _shadow_all(shadow, items)
    expected = 2 * len(own)  # "same" and "reordered" agree on every row, "other" on none
    assert shadow.counts.rows == 3 * len(own)
    assert shadow.counts.agreed == expected


def test_frames_carry_requests_contexts_and_swaps_across_any_cut(trained: Trained) -> None:
    """What the server writes is what the shadow's process reads, however the pipe cuts
    it: matrices, columns, the answering version's classes and inputs, a swap."""
    served = ModelManager("penguins:1", registry=str(trained.registry), poll_interval=0).current
    matrix = Table(2, matrix=np.arange(6.0).reshape(3, 2).T.copy())  # any layout
    columns = _requests(served, 2)[1]
    served_index = np.array([2, 0], dtype=np.intp)
    wire = b"".join(
        context_frame(7, served.class_array, ["a", "b", "c"])
        + item_frame("m", 7, matrix, served_index)
        + model_frame(served)
        + item_frame("c", 7, columns, served_index)
    )
    frames = Frames()
    got = []
    for k in range(0, len(wire), 5):
        got.extend(frames.feed(wire[k : k + 5]))
    assert [kind for kind, _ in got] == ["item", "model", "item"]
    first, swap, second = (body for _, body in got)
    assert first.request_id == "m" and first.features == ["a", "b", "c"]
    np.testing.assert_array_equal(first.table.matrix, matrix.matrix)
    np.testing.assert_array_equal(first.served, served_index)
    assert list(first.classes) == list(served.class_array)
    assert tuple(swap) == (str(served.path), "penguins", 1)
    assert second.table.matrix is None and second.table.columns == columns.columns


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
    model, shadow_model = served.current, other.current
    assert model.plan.all_numeric and shadow_model.feature_names == ["z", "x", "y"]
    rows = [[-1.0, 2.0, 0.5], [3.0, -4.0, 0.0], [1.5, 0.0, -2.0]]
    logged = _Logged()
    shadow = Shadow(shadow_model, logged)
    items = []
    for i in range(3):  # three one-row requests, each a matrix in the served order
        table = _table(model, {"dataframe_split": {"columns": ["x", "y", "z"], "data": [rows[i]]}})
        assert table.matrix is not None
        answer = model.predict(table).index
        items.append(Item(f"r{i}", table, answer, model.class_array, model.feature_names))
    _shadow_all(shadow, items)
    by_name = Table(3, {name: [r[j] for r in rows] for j, name in enumerate(["x", "y", "z"])})
    expected = shadow_model.predict(by_name)
    np.testing.assert_array_equal(np.concatenate([r[2] for r in logged.rows]), expected.index)
    np.testing.assert_allclose(np.concatenate([r[3] for r in logged.rows]), expected.proba)
    assert shadow.counts.errors == 0 and shadow.counts.requests == 3


# ------------------------------------------------- the server's side and the process
def _log_spec(folder: Path) -> dict[str, Any]:
    return {"folder": str(folder), "options": {"rotate_seconds": 3600.0}}


def _logged_ids(folder: Path) -> list[tuple[str, int]]:
    """(request id, model version) of every logged row, in log order."""
    data = read_log(folder)
    return list(zip(data.request_id.to_pylist(), data.model_version.tolist(), strict=True))


def test_the_shadow_process_logs_every_request_and_reports_its_counts(
    trained: Trained, tmp_path: Path
) -> None:
    """Requests queued without waiting reach the shadow's process, which logs each under
    its id and the shadow's version; its counts reach ``counts`` and the Prometheus
    counters; after a stop, a request is dropped (counted) and no process is left."""
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    tables = _requests(served, 50)
    metrics = ServerMetrics()
    runner = ShadowRunner(shadow_manager, 100.0, metrics=metrics)

    async def serve() -> int:
        runner.start(_log_spec(tmp_path))
        assert _shadow_series(metrics.exposition().decode()) == dict.fromkeys(_SERIES, 0.0)
        pid = runner._child.pid if runner._child is not None else 0
        for item in _items(served, tables):
            runner.submit(*item)
            await asyncio.sleep(0)
        runner.stop()
        return pid

    pid = asyncio.run(serve())
    assert not Path(f"/proc/{pid}").exists()  # reaped
    assert _logged_ids(tmp_path) == [
        (f"r{i}", 2) for i, t in enumerate(tables) for _ in range(t.n_rows)
    ]
    counts = runner.counts
    n_rows = sum(t.n_rows for t in tables)
    assert (counts.requests, counts.rows, counts.dropped, counts.errors) == (50, n_rows, 0, 0)
    model = shadow_manager.current
    assert counts.agreed == sum(
        int(np.sum(model.class_array[model.predict(t).index] == served.class_array[a.index]))
        for t, a in ((t, served.predict(t)) for t in tables)
    )
    item = _items(served, tables[:1])[0]
    runner.submit(*item)  # stopped: dropped
    assert runner.counts.dropped == 1
    assert _shadow_series(metrics.exposition().decode()) == {
        "requests": 50.0,
        "rows": float(n_rows),
        "agreed_rows": float(counts.agreed),
        "dropped": 1.0,
        "errors": 0.0,
    }


def test_a_full_buffer_drops_samples_but_a_lone_large_request_is_taken(
    trained: Trained, tmp_path: Path
) -> None:
    """The loop never turns between these submits, so nothing is written to the child:
    the buffer fills, and what is beyond its bound is dropped and counted; what it held
    is logged at stop."""
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    n = SHADOW_BYTES // 16  # distinct numbers: pickle cannot share them
    big = Table(n, {name: [ROW[name]] * n for name in served.feature_names})
    for name in served.plan.numeric_names:
        big.columns[name] = (ROW[name] + np.arange(n) / n).tolist()
    answer = served.predict(big).index
    assert sum(map(len, item_frame("lone", 0, big, answer))) > SHADOW_BYTES
    runner = ShadowRunner(shadow_manager, 100.0)

    async def serve() -> None:
        runner.start(_log_spec(tmp_path))
        runner.submit("lone", big, answer, served.class_array, served.feature_names)
        k = 0
        while runner.counts.dropped == 0:
            runner.submit(f"r{k}", big, answer, served.class_array, served.feature_names)
            k += 1
        assert k == 1  # the lone large request filled the buffer on its own
        for _ in range(3000):  # written to the child (once it has started): room again
            if not runner._out:
                break
            await asyncio.sleep(0.01)
        runner.submit("after", big, answer, served.class_array, served.feature_names)
        runner.stop()

    asyncio.run(serve())
    assert sorted({rid for rid, _ in _logged_ids(tmp_path)}) == ["after", "lone"]
    assert runner.counts.requests == 2 and runner.counts.dropped == 1


def test_the_shadow_process_follows_its_reference(trained: Trained, tmp_path: Path) -> None:
    """The reference moves from version 1 to 2 while requests flow: rows sent before the
    swap are logged under version 1, those after under version 2."""
    from polyclass.registry import Registry

    alias = f"shadow-{tmp_path.name}"
    with Registry(str(trained.registry)) as reg:
        reg.set_alias("penguins", alias, 1)
    manager = ModelManager(f"penguins@{alias}", registry=str(trained.registry), poll_interval=0)
    served = manager.current
    tables = _requests(served, 6)
    runner = ShadowRunner(manager, 100.0)

    async def serve() -> None:
        runner.start(_log_spec(tmp_path))
        for item in _items(served, tables[:3], prefix="a"):
            runner.submit(*item)
        with Registry(str(trained.registry)) as reg:
            reg.set_alias("penguins", alias, 2)
        assert manager.reload().switched
        await asyncio.sleep(0.05)  # the swap reaches the loop
        for item in _items(served, tables[3:], prefix="b"):
            runner.submit(*item)
        runner.stop()

    asyncio.run(serve())
    versions = dict(_logged_ids(tmp_path))
    assert versions == {"a0": 1, "a1": 1, "a2": 1, "b0": 2, "b1": 2, "b2": 2}


def test_a_shadow_process_that_dies_is_started_again_later(
    trained: Trained,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dead shadow process stops the shadow, not the server: samples are dropped
    (counted) until a new process starts, after a back-off; it logs what follows."""
    from polyclass.serve import _shadow

    monkeypatch.setattr(_shadow, "RESTART_SECONDS", 0.2)
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    first, second = _items(served, _requests(served, 2))
    runner = ShadowRunner(shadow_manager, 100.0)

    async def serve() -> None:
        runner.start(_log_spec(tmp_path))
        assert runner._child is not None
        runner._child.kill()
        for _ in range(500):
            if runner._closed:
                break
            await asyncio.sleep(0.01)
        runner.submit(*first)  # no process: dropped
        for _ in range(500):
            if not runner._closed:
                break
            await asyncio.sleep(0.01)
        runner.submit(*second)
        runner.stop()

    asyncio.run(serve())
    assert runner.counts.dropped == 1 and runner.counts.requests == 1
    assert {rid for rid, _ in _logged_ids(tmp_path)} == {second[0]}
    assert "the shadow process exited" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_the_shadow_process_dies_with_a_killed_server(trained: Trained, tmp_path: Path) -> None:
    server = ServerProcess(
        ["penguins@production", "--registry", str(trained.registry), "--log-dir",
         str(tmp_path), "--poll-interval", "0", "--no-access-log", "--monitor-interval", "0",
         "--shadow", "penguins:2"],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        server.wait_ready()
        shadows = [
            pid
            for pid in _children(server.proc.pid)
            if b"_shadow_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(shadows) == 1
        res = httpx.post(server.url + "/invocations", json={"dataframe_records": [ROW]})
        assert res.status_code == 200
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        deadline = time.monotonic() + 30
        while _alive(shadows[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(shadows[0])
    finally:
        server.stop()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, reaped by init soon, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stop_logs_every_queued_request_even_while_the_process_rests(
    trained: Trained, tmp_path: Path
) -> None:
    """A tiny share: after its first read the shadow's process rests far longer than
    this test runs; the stop ends the rest and every request sent is logged."""
    served_manager, shadow_manager = _managers(trained)
    served = served_manager.current
    tables = _requests(served, 40)
    runner = ShadowRunner(shadow_manager, 100.0, share=1e-6)

    async def serve() -> None:
        runner.start(_log_spec(tmp_path))
        items = _items(served, tables)
        runner.submit(*items[0])
        while runner.counts.requests == 0:  # its first work done: resting now
            await asyncio.sleep(0.01)
        for item in items[1:]:
            runner.submit(*item)
            await asyncio.sleep(0)
        runner.stop()

    started = time.monotonic()
    asyncio.run(serve())
    assert time.monotonic() - started < STOP_SECONDS
    assert [rid for rid, _ in dict(_logged_ids(tmp_path)).items()] == [f"r{i}" for i in range(40)]
    assert runner.counts.requests == 40 and runner.counts.dropped == 0


def test_share_must_be_a_fraction(trained: Trained) -> None:
    _, shadow_manager = _managers(trained)
    with pytest.raises(ValueError, match=r"share must lie in \(0, 1\]"):
        ShadowRunner(shadow_manager, 100.0, share=0.0)
