"""The whole loop, every step a command or a request, no file edited by hand.

Train on the penguins of 2007-2008; serve with a prediction log; send the 2009 penguins
with their body mass scaled (a shift), post their true labels; ``monitor`` alerts;
``feedback export``; ``retrain`` builds a challenger significantly better on the newest
feedback; it is served as a shadow, then as a canary, then promoted (the server hot-swaps,
no request fails); ``monitor`` on the new traffic is quiet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from polyclass.cli import app
from polyclass.datasets import penguins_path
from polyclass.serve import ServeConfig, create_app

runner = CliRunner()
FEATURES = [
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
]
SHIFT = 2.0  # 2009 body masses from a scale that reads double


def _cli(*args: str) -> Any:
    res = runner.invoke(app, list(args))
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


@contextmanager
def _server(registry: Path, logs: Path, **routing: str) -> Iterator[TestClient]:
    config = ServeConfig(
        "penguins@production",
        registry=str(registry),
        log_dir=str(logs),
        poll_interval=0,
        monitor_interval=0,
        access_log=False,
        **routing,
    )
    with TestClient(create_app(config)) as client:
        yield client


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None)
    return [dict(r) for r in rows.to_dict(orient="records")]


def _send(
    client: TestClient, frame: pd.DataFrame, *, feedback: bool = True, key: str | None = None
) -> list[str]:
    """One request per row; the true label posted as feedback. Returns each answer's version."""
    versions = []
    for i, (row, label) in enumerate(zip(_records(frame), frame["species"], strict=True)):
        headers = {"x-routing-key": f"{key}-{i}"} if key else {}
        res = client.post("/invocations", json={"dataframe_records": [row]}, headers=headers)
        assert res.status_code == 200, res.text
        versions.append(res.headers["x-model-version"])
        if feedback:
            rid = res.headers["x-request-id"]
            ok = client.post("/feedback", json={"request_id": rid, "label": label})
            assert ok.status_code == 200
    return versions


def _monitor(registry: Path, logs: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    res = _cli(
        "monitor",
        "penguins@production",
        "--registry",
        str(registry),
        "--log",
        str(logs / "logs" / "penguins"),
        "--format",
        "json",
        "--drift-alert",
        "share",
        *extra,
    )
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.stdout)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_whole_loop(tmp_path: Path) -> None:
    registry, logs = tmp_path / "registry", tmp_path / "serving"
    penguins = pd.read_csv(penguins_path()).dropna(subset=["species"])
    old = penguins[penguins["year"] <= 2008]
    new = penguins[penguins["year"] == 2009].sample(frac=1.0, random_state=0)
    new = new.assign(body_mass_g=new["body_mass_g"] * SHIFT)
    old.to_csv(tmp_path / "old.csv", index=False)

    # 1. the champion, trained on 2007-2008 only
    res = _cli(
        "train",
        str(tmp_path / "old.csv"),
        "--target",
        "species",
        "--name",
        "penguins",
        "--registry",
        str(registry),
        "--out",
        str(tmp_path / "v1"),
        "--C",
        "1,100",
        "--class-weight",
        "none",
        "--strategies",
        "multinomial",
        "--families",
        "linear",
        "--cv",
        "3",
    )
    assert res.exit_code == 0, res.output
    assert _cli("registry", "promote", "penguins", "1", "--registry", str(registry)).exit_code == 0

    # 2. 2009 traffic, shifted, answered by version 1 and labelled
    with _server(registry, logs) as client:
        assert set(_send(client, new)) == {"1"}

    # 3. monitor alerts: live accuracy fell
    code, doc = _monitor(registry, logs)
    assert code == 1 and doc["alerts"], doc["alerts"]

    # 4. feedback export
    export = tmp_path / "feedback.parquet"
    res = _cli(
        "feedback", "export", "penguins@production", "--registry", str(registry),
        "--log", str(logs / "logs" / "penguins"), "-o", str(export),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    labelled = pd.read_parquet(export)
    assert len(labelled) == len(new)
    assert {*FEATURES, "species", "prediction", "model_version"} <= set(labelled.columns)
    assert labelled["body_mass_g"].sort_values().tolist() == pytest.approx(
        new["body_mass_g"].sort_values().tolist(), nan_ok=True
    )

    # 5. retrain: a challenger better with significance on the newest feedback
    res = _cli(
        "retrain", "penguins@production", "--data", str(tmp_path / "old.csv"),
        "--feedback", str(export), "--registry", str(registry), "--out", str(tmp_path / "rt"),
    )  # fmt: skip
    assert res.exit_code in (0, 1), res.output
    comparison = json.loads((tmp_path / "rt" / "comparison.json").read_text())
    assert res.exit_code == 0, (res.output, comparison)
    assert comparison["decision"]["better"] and not comparison["decision"]["promoted"]
    assert comparison["difference"]["low"] > 0
    assert comparison["challenger_version"] == 2
    assert 'id="comparison"' in (tmp_path / "rt" / "challenger" / "report.html").read_text()

    # 6. the challenger as a shadow: answers stay version 1, both are logged
    with _server(registry, logs, shadow="penguins@challenger") as client:
        assert set(_send(client, new.iloc[:40], feedback=False)) == {"1"}
        routing = client.get("/admin/routing").json()
    # 7. then as a canary for half the users, promoted while requests flow
    with _server(registry, logs, canary="penguins@challenger=50") as client:
        versions = _send(client, new.iloc[:60], key="user")
        assert set(versions) == {"1", "2"}
        assert (
            _cli("registry", "promote", "penguins", "2", "--registry", str(registry)).exit_code == 0
        )
        assert client.post("/admin/reload").json()["model_version"] == "2"
        assert set(_send(client, new.iloc[60:80], feedback=False, key="user")) == {"2"}
    _, doc = _monitor(registry, logs, "--format", "json")
    side = doc["versions"]
    assert {v["version"] for v in side["versions"]} == {1, 2}
    assert side["agreement"] and 0.0 < side["agreement"][0]["agreement"] < 1.0
    assert routing["shadow"]["requests"] + routing["shadow"]["dropped"] <= 40
    res = _cli(
        "monitor", "penguins:2", "--registry", str(registry), "--log",
        str(logs / "logs" / "penguins"), "--out", str(tmp_path / "mon"),
    )  # fmt: skip
    page = (tmp_path / "mon" / "monitor.html").read_text()
    assert 'id="versions"' in page and "predict the same class on" in page

    # 8. the new production on new traffic: quiet
    since = datetime.now(UTC).isoformat()
    with _server(registry, logs) as client:
        assert set(_send(client, new)) == {"2"}
    code, doc = _monitor(registry, logs, "--since", since)
    assert code == 0, doc["alerts"]
    assert doc["live"]["overall"]["accuracy"] > 0.9


def test_feedback_export_reports_what_does_not_join(tmp_path: Path, trained: Any) -> None:
    logs = tmp_path / "serving"
    with _server(trained.registry, logs) as client:
        rows = pd.read_csv(penguins_path()).dropna(subset=["species"]).iloc[:6]
        ids = []
        for row in _records(rows):
            res = client.post("/invocations", json={"dataframe_records": [row]})
            ids.append(res.headers["x-request-id"])
        client.post(
            "/feedback",
            json=[
                {"request_id": ids[0], "label": "Adelie"},
                {"request_id": ids[1], "label": "Gentoo"},
                {"request_id": ids[1], "label": "Chinstrap"},
                {"request_id": ids[1], "label": "Adelie"},  # corrected twice: the last wins
                {"request_id": ids[2], "label": "Emperor"},  # not a class of the model
                {"request_id": "never-predicted", "label": "Adelie"},
            ],
        )
    out = tmp_path / "fb.csv"
    res = _cli(
        "feedback", "export", "penguins@production", "--registry", str(trained.registry),
        "--log", str(logs / "logs" / "penguins"), "-o", str(out),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "1 feedback item(s) name a request id" in text and "never-predicted" in text
    assert "1 row(s) were labelled more than once (2 label(s) superseded)" in text
    assert "'Emperor': 1" in text
    table = pd.read_csv(out)
    assert table["request_id"].tolist() == ids[:2]
    assert table["species"].tolist() == ["Adelie", "Adelie"]
    assert table["year"].dtype.kind == "i"  # an integer column stays integer (not 2007.0)
    assert np.allclose(table[[c for c in table if c.startswith("proba.")]].sum(axis=1), 1.0)
    again = ["feedback", "export", "penguins@production", "--registry", str(trained.registry),
             "--log", str(logs / "logs" / "penguins"), "-o", str(out)]  # fmt: skip
    res = _cli(*again)
    assert res.exit_code == 2 and "--overwrite" in res.output  # an existing file is kept
    assert _cli(*again, "--overwrite").exit_code == 0


def test_feedback_refuses_a_negative_row(tmp_path: Path, trained: Any) -> None:
    with _server(trained.registry, tmp_path / "serving") as client:
        res = client.post("/feedback", json={"request_id": "r-1", "label": "Adelie", "row": -1})
        assert res.status_code == 422 and "leave it out to label every row" in res.text
        assert client.post("/feedback", json={"request_id": "r-1", "label": "Adelie"}).json() == {
            "accepted": 1
        }


def test_feedback_export_with_no_feedback_names_the_fix(tmp_path: Path, trained: Any) -> None:
    logs = tmp_path / "serving"
    with _server(trained.registry, logs) as client:
        rows = pd.read_csv(penguins_path()).dropna(subset=["species"]).iloc[:2]
        for row in _records(rows):
            client.post("/invocations", json={"dataframe_records": [row]})
    res = _cli(
        "feedback", "export", "penguins@production", "--registry", str(trained.registry),
        "--log", str(logs / "logs" / "penguins"), "-o", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert res.exit_code == 2
    assert "no feedback" in res.output and "/feedback" in res.output
    assert not (tmp_path / "x.parquet").exists()


def test_feedback_export_counts_add_up_when_nothing_is_left(tmp_path: Path, trained: Any) -> None:
    logs = tmp_path / "serving"
    with _server(trained.registry, logs) as client:
        row = _records(pd.read_csv(penguins_path()).dropna(subset=["species"]).iloc[:1])[0]
        rid = client.post("/invocations", json={"dataframe_records": [row]}).headers["x-request-id"]
        for label in ("Gentoo", "Chinstrap", "Dragon"):
            client.post("/feedback", json={"request_id": rid, "label": label})
        client.post("/feedback", json={"request_id": "nope-999", "label": "Gentoo"})
    res = _cli(
        "feedback", "export", "penguins@production", "--registry", str(trained.registry),
        "--log", str(logs / "logs" / "penguins"), "-o", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    text = " ".join(res.output.split())
    assert res.exit_code == 2
    assert "from the 4 feedback items" in text and "1 name request ids" in text
    assert "3 match logged predictions" in text and "['Dragon']" in text
