"""Thousands of malformed requests: never a 5xx, always a JSON error with a place, and the
server still answers correctly afterwards. Schemathesis drives our own OpenAPI document
(bounded examples, derandomised); a seeded mutation fuzzer covers bodies the schema
cannot describe (broken JSON, wrong nesting, odd types, wrong content types)."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from _serve_helpers import ROW, ROW2, Trained, expected_proba, oip_inputs
from polyclass.serve import ServeConfig, create_app

INFER = "/v2/models/penguins/infer"


def _app(trained: Trained, tmp_path: Path) -> Any:
    config = ServeConfig(
        "penguins:1",
        registry=str(trained.registry),
        log_dir=str(tmp_path),
        poll_interval=0,
        access_log=False,
        max_body_bytes=200_000,
    )
    return create_app(config)


def test_schemathesis_finds_no_server_error(trained: Trained, tmp_path: Path) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", _app(trained, tmp_path))
    n_operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        n_operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (case.path, case.body, response.text)
            if response.status_code >= 400 and response.status_code != 405:
                body = response.json()
                assert isinstance(body["error"], str)
                assert isinstance(body.get("loc", []), list)

        check()
    assert n_operations == 17  # every route but /openapi.json itself


def _valid_bodies() -> list[tuple[str, Any]]:
    rows = [ROW, ROW2]
    return [
        (INFER, {"id": "x", "inputs": oip_inputs(rows)}),
        (
            "/invocations",
            {"dataframe_split": {"columns": list(ROW), "data": [list(r.values()) for r in rows]}},
        ),
        ("/invocations", {"dataframe_records": rows}),
        ("/invocations", {"instances": [list(r.values()) for r in rows]}),
        ("/invocations", {"inputs": {k: [r[k] for r in rows] for k in ROW}}),
        ("/feedback", [{"request_id": "a", "label": "Adelie", "row": 0}]),
    ]


_ODD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**70,
    1e308,
    -0.0,
    "",
    "x" * 300,
    "Dream",
    [],
    [[]],
    {},
    {"a": 1},
    [None],
    ["Dream", 1],
    3.5,
    "NaN",
    [1, [2, [3]]],
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _odd(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(_ODD))


def _mutate(body: Any, rng: random.Random) -> Any:
    body = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(body)
        path = rng.choice(paths)
        if not path:
            return _odd(rng)
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.6:
            parent[path[-1]] = _odd(rng)
        elif action < 0.8:
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "inputs", "data", "shape", "name"])] = _odd(rng)
        else:
            parent.append(_odd(rng))
    return body


@pytest.mark.slow
def test_seeded_fuzzer_gets_only_4xx_and_the_server_keeps_answering(
    trained: Trained, tmp_path: Path
) -> None:
    rng = random.Random(20240605)
    valid = _valid_bodies()
    statuses: dict[int, int] = {}
    with TestClient(_app(trained, tmp_path)) as client:
        for i in range(2500):
            path, body = rng.choice(valid)
            headers = {
                "content-type": rng.choice(
                    ["application/json"] * 8 + ["text/csv", "text/plain", ""]
                )
            }
            kind = rng.random()
            if kind < 0.75:
                content = json.dumps(_mutate(body, rng)).encode()
            elif kind < 0.9:
                raw = json.dumps(body).encode()
                cut = rng.randrange(len(raw))
                content = raw[:cut] + bytes([rng.randrange(256)]) + raw[cut + 1 :]
            else:
                content = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            if rng.random() < 0.05:
                path = rng.choice(
                    [
                        "/v2/models/x/infer",
                        "/v2/models/penguins/versions/0/infer",
                        "/invocations/extra",
                        "/v2/models/penguins",
                    ]
                )
            r = client.post(path, content=content, headers=headers)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (i, path, content[:300], r.text)
            if r.status_code >= 400 and r.status_code != 405:
                assert "error" in r.json() and "loc" in r.json(), r.text
        assert sum(n for code, n in statuses.items() if code >= 400) > 1000
        r = client.post(INFER, json={"inputs": oip_inputs([ROW, ROW2])})
        np.testing.assert_allclose(
            np.reshape(r.json()["outputs"][1]["data"], (2, 3)),
            expected_proba(trained.model_dir, [ROW, ROW2]),
            atol=1e-12,
        )
        assert client.post("/invocations", json={"instances": [ROW]}).json() == {
            "predictions": ["Adelie"]
        }
