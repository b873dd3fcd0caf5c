"""An all-numeric model: the one-pass number paths (np.fromiter) agree with the exact ones,
and OIP numeric tensors refuse what their datatype cannot hold, naming the place."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from polyclass import LogisticRegression
from polyclass.data import infer_schema
from polyclass.model import Model
from polyclass.preprocess import Preprocessor
from polyclass.serve import ServeConfig, create_app, load_served
from polyclass.serve._tables import from_records, from_rows

COLUMNS = ["a", "b", "c"]
INFER = "/v2/models/num/infer"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * [1, 10, 100]
    y = np.where(X[:, 0] + X[:, 1] / 10 > 0, "up", "down")
    y[X[:, 2] > 120] = "far"
    df = pd.DataFrame(X, columns=COLUMNS).assign(target=y)
    schema = infer_schema(df, "target")
    pre = Preprocessor(schema).fit(df)
    est = LogisticRegression(max_iter=300).fit(pre.transform(df), y)
    out = tmp_path_factory.mktemp("numeric") / "num"
    return Model(schema=schema, preprocessor=pre, estimator=est).save(out)


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    config = ServeConfig(str(model_dir), prediction_log=False, access_log=False, poll_interval=0)
    with TestClient(create_app(config)) as c:
        yield c


ROWS = [[0.5, -3.0, 20.0], [None, 4.0, 150.0], [-1.0, 0.0, None], [2, 7, -50]]


def _post(client: TestClient, path: str, body: Any) -> Any:
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def test_every_format_gives_the_exact_paths_answer(client: TestClient, model_dir: Path) -> None:
    served = load_served(model_dir)
    plan = served.plan
    slow = from_rows(ROWS, None, plan, ["body"])  # np.array + per-column fallback
    records = [dict(zip(COLUMNS, r, strict=True)) for r in ROWS]
    np.testing.assert_array_equal(
        plan.encode(from_records(records, plan, ["body"])).X, plan.encode(slow).X
    )
    expected = [served.classes[i] for i in served.predict(slow).index]
    bodies = [
        {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
        {
            "dataframe_split": {
                "columns": ["c", "a", "b"],
                "data": [[r[2], r[0], r[1]] for r in ROWS],
            }
        },
        {"inputs": ROWS},
        {"instances": records},
        {"dataframe_records": records},
        {"dataframe_records": [{k: v for k, v in r.items() if v is not None} for r in records]},
    ]
    for body in bodies:
        r = _post(client, "/invocations", body)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected, body
    tensor = {"name": "x", "shape": [4, 3], "datatype": "FP64"}
    columns = [
        {"name": c, "shape": [4], "datatype": "FP32", "data": [r[j] for r in ROWS]}
        for j, c in enumerate(COLUMNS)
    ]
    flat = [v for r in ROWS for v in r]
    for inputs in (
        [{**tensor, "data": ROWS}],
        [{**tensor, "data": flat}],
        columns,
        [{**tensor, "data": ROWS, "datatype": "FP32"}],
    ):
        r = _post(client, INFER, {"inputs": inputs, "id": 'say "hi"'})  # a quote elsewhere
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == expected


@pytest.mark.parametrize(
    "body, loc",
    [
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 2.0, 3.0], [1.0, "2.5", 3.0]]}},
            ["body", "dataframe_split", "data", 1, 1],
        ),
        ({"inputs": [[1.0, 2.0, 3.0], [1.0, 2.0, "3"]]}, ["body", "inputs", 1, 2]),
        (
            {"dataframe_records": [{"a": 1.0, "b": 2.0, "c": 3.0}, {"a": "1", "b": 2.0, "c": 3.0}]},
            ["body", "dataframe_records", 1, "a"],
        ),
    ],
)
def test_a_number_sent_as_text_is_refused_with_its_place(
    client: TestClient, body: Any, loc: list[Any]
) -> None:
    r = _post(client, "/invocations", body)
    assert r.status_code == 422, r.text
    assert r.json()["loc"] == loc
    assert "expects numbers" in r.json()["error"]


@pytest.mark.parametrize(
    "datatype, data, place, words",
    [
        ("FP64", [[1.0, 2.0, 3.0], [1.0, True, 3.0]], [1, 1], "True (bool)"),
        ("FP64", [1.0, 2.0, 3.0, 1.0, 2.0, False], [5], "False (bool)"),
        ("FP64", [[1.0, 2.0, 3.0], [1.0, "2.0", 3.0]], [1, 1], "(str)"),
        ("FP32", [[1.0, 2.0, 3.0], [1.0, 2.0, 1e300]], [1, 2], "beyond the largest FP32"),
        ("FP16", [[1.0, 2.0, 3.0], [70000.0, 2.0, 3.0]], [1, 0], "beyond the largest FP16"),
        ("INT64", [[1, 2, 3], [2**63, 2, 3]], [1, 0], "outside the INT64 range"),
        ("INT64", [[1, 2, 3], [2**70, 2, 3]], [1, 0], "outside the INT64 range"),
        ("INT64", [[1, 2, 3], [1, True, 3]], [1, 1], "True (bool)"),
        ("INT64", [[1, 2, 3], [1, 2.5, 3]], [1, 1], "2.5 (float)"),
        ("INT32", [[1, 2, 3], [1, 2, 2**40]], [1, 2], "outside the INT32 range"),
        ("UINT8", [[1, 2, 3], [-1, 2, 3]], [1, 0], "outside the UINT8 range"),
        ("UINT64", [[1, 2, 3], [1, 2, "3"]], [1, 2], "(str)"),
    ],
)
def test_oip_tensor_refuses_values_its_datatype_cannot_hold(
    client: TestClient, datatype: str, data: list[Any], place: list[int], words: str
) -> None:
    tensor = {"name": "x", "shape": [2, 3], "datatype": datatype, "data": data}
    r = _post(client, INFER, {"inputs": [tensor]})
    assert r.status_code == 422, r.text
    assert r.json()["loc"] == ["body", "inputs", 0, "data", *place]
    assert words in r.json()["error"] and datatype in r.json()["error"]
    if place[1:] == [1]:  # the bad value is in column b: the per-column path refuses it too
        column = {"name": "b", "shape": [2], "datatype": datatype, "data": [d[1] for d in data]}
        others = [
            {"name": c, "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]} for c in ("a", "c")
        ]
        r = _post(client, INFER, {"inputs": [others[0], column, others[1]]})
        assert r.status_code == 422, r.text
        assert r.json()["loc"] == ["body", "inputs", 1, "data", place[0]]


def test_oip_tensor_accepts_what_its_datatype_holds(client: TestClient) -> None:
    for datatype, data in [
        ("FP64", [[2**70, 2, 3], [None, 1e300, -1.5]]),
        ("INT64", [[2**63 - 1, 2, 3], [-(2**63), None, 0]]),
        ("UINT64", [[2**64 - 1, 2, 3], [0, 1, 2]]),
        ("FP16", [[65504.0, 2, 3], [0.5, 1, 2]]),
    ]:
        tensor = {"name": "x", "shape": [2, 3], "datatype": datatype, "data": data}
        r = _post(client, INFER, {"inputs": [tensor]})
        assert r.status_code == 200, (datatype, r.text)


_NAMES = ["a", "b", "c"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"inputs": [[1, null, 3]]}',  # null: the exact path makes it missing
        b'{"inputs": [[1, true, 3]]}',
        b'{"inputs": [[1, "2", 3]]}',
        b'{"inputs": [[1, 2, 3], [4, 5]]}',  # ragged
        b'{"inputs": [[1, [2], 3]]}',  # nested
        b'{"inputs": [[1, 2, 3, [4]], [5, 6]]}',  # nested, the right count of numbers
        b'{"inputs": [[1, 2, 3], 4]}',
        b'{"inputs": [[1, 2, 3]], "params": {}}',
        b'{"inputs": [[1, 2, 3]], "inputs": [[4, 5, 6]]}',  # a repeated key
        b'{"inputs": []}',
        b'{"inputs": [[1, 2, 3]],}',  # malformed
        b'{"inputs": [[1, 2, 3e999]]}',
        b'{"inputs": [[1, 2, 123456789012345678901234567890]]}',
        b'{"inputs": [{"a": 1, "b": 2, "c": 3}]}',
        b'{"dataframe_records": [[1, 2, 3]]}',
        b'{"dataframe_split": {"columns": ["c", "b", "a"], "data": [[1, 2, 3]]}}',
        b'{"dataframe_split": {"data": [[1, 2, 3]]}}',
        b'{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]], "index": [0]}}',
        b'{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]], "data": []}}',
        b"[[1, 2, 3]]",
        b'{"inputs": [[1, 2, 3]]} trailing',
        b'{"inputs": [[1, 2, 3]], "k": "\xff"}',
        b'\xef\xbb\xbf{"inputs": [[1, 2, 3]]}',  # a byte-order mark: orjson refuses it
    ],
)
def test_fast_json_leaves_anything_but_plain_number_rows_to_the_exact_path(raw: bytes) -> None:
    from polyclass.serve._fastjson import numeric_rows

    assert numeric_rows(raw, _NAMES) is None


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.one_of(
                st.floats(allow_nan=False, allow_infinity=False),
                st.integers(min_value=-(2**63), max_value=2**64 - 1),
            ),
            min_size=3,
            max_size=3,
        ),
        min_size=1,
        max_size=20,
    ),
    split=st.booleans(),
    spaced=st.booleans(),
)
def test_fast_json_numbers_equal_orjsons(rows: list[list[Any]], split: bool, spaced: bool) -> None:
    import orjson

    from polyclass.serve._fastjson import numeric_rows

    document: Any = (
        {"dataframe_split": {"columns": _NAMES, "data": rows}} if split else {"instances": rows}
    )
    raw = json.dumps(document, indent=1 if spaced else None).encode()
    fast = numeric_rows(raw, _NAMES)
    expected = np.array(
        orjson.loads(raw)[next(iter(document))]["data"]
        if split
        else orjson.loads(raw)["instances"],
        dtype=np.float64,
    )
    assert fast is not None
    assert fast[0] == next(iter(document))
    np.testing.assert_array_equal(fast[1], expected)
    assert fast[1].dtype == np.float64 and fast[1].shape == (len(rows), 3)


def test_fast_json_answers_as_the_exact_path_does(client: TestClient) -> None:
    rows = np.random.default_rng(1).normal(size=(50, 3)).round(6).tolist()
    plain = _post(client, "/invocations", {"dataframe_split": {"columns": COLUMNS, "data": rows}})
    # a key order the fast path does not take: the exact path
    exact = client.post(
        "/invocations",
        content=json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}, "params": {}}),
        headers={"content-type": "application/json"},
    )
    assert plain.status_code == exact.status_code == 200
    assert plain.json() == exact.json()


def test_a_byte_order_mark_is_refused_on_every_path(client: TestClient) -> None:
    for body in (b'{"inputs": [[1, 2, 3]]}', b'{"inputs": [[1, null, 3]]}'):
        answer = client.post(
            "/invocations",
            content=b"\xef\xbb\xbf" + body,
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 400, answer.text


def test_fast_json_large_bodies_get_a_parser_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from polyclass.serve import _fastjson

    monkeypatch.setattr(_fastjson, "REUSE_BYTES", 16)
    shared = _fastjson._parser()
    got = _fastjson.numeric_rows(b'{"inputs": [[1, 2, 3], [4, 5, 6.5]]}', _NAMES)
    assert got is not None and got[1].tolist() == [[1, 2, 3], [4, 5, 6.5]]
    assert _fastjson._parser() is shared  # the long-lived parser kept no large buffers
    assert _fastjson.numeric_rows(b'{"inputs": [[1, 2, 3]],}', _NAMES) is None


_TENSOR = {"name": "x", "shape": [2, 3], "datatype": "FP64"}


@pytest.mark.parametrize(
    "document",
    [
        {"inputs": [{**_TENSOR, "data": [[1, None, 3], [4, 5, 6]]}]},
        {"inputs": [{**_TENSOR, "data": [[1, True, 3], [4, 5, 6]]}]},
        {"inputs": [{**_TENSOR, "data": [[1, 2, 3], [4, 5]]}]},
        {"inputs": [{**_TENSOR, "data": [[1, 2, 3, 4], [5, 6]]}]},
        {"inputs": [{**_TENSOR, "data": [1, 2, 3, [4], 5, 6]}]},
        {"inputs": [{**_TENSOR, "data": [1, 2, 3, 4, 5]}]},
        {"inputs": [{**_TENSOR, "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]},
        {"inputs": [{**_TENSOR, "shape": [2, 4], "data": [1, 2, 3, 4, 5, 6, 7, 8]}]},
        {"inputs": [{**_TENSOR, "shape": [6], "data": [1, 2, 3, 4, 5, 6]}]},
        {"inputs": [{**_TENSOR, "parameters": {}, "data": [1, 2, 3, 4, 5, 6]}]},
        {"inputs": [{**_TENSOR, "data": [1, 2, 3, 4, 5, 6]}], "outputs": [{"name": "label"}]},
        {"inputs": [{**_TENSOR, "data": [1, 2, 3, 4, 5, 6]}], "id": 7},
        {"inputs": [{**_TENSOR, "name": "x[0]", "data": [1, 2, 3, 4, 5, 6]}]},
        {"inputs": [{**_TENSOR, "data": [1, 2, 3, 4, 5, 6]}] * 2},
    ],
)
def test_fast_tensor_leaves_anything_else_to_the_exact_path(document: Any) -> None:
    from polyclass.serve._fastjson import numeric_tensor

    assert numeric_tensor(json.dumps(document).encode(), 3) is None


def test_fast_tensor_answers_as_the_exact_path_does(client: TestClient) -> None:
    from polyclass.serve._fastjson import numeric_tensor

    rows = np.random.default_rng(2).normal(size=(40, 3)).round(6).tolist()
    tensor = {"name": "x", "shape": [40, 3], "datatype": "FP64"}
    flat = [v for r in rows for v in r]
    for data in (rows, flat):
        fast_body = {"id": "q", "inputs": [{**tensor, "data": data}]}
        got = numeric_tensor(json.dumps(fast_body).encode(), 3)
        assert got is not None and got[0] == "x" and got[2] == "q"
        np.testing.assert_array_equal(got[1], np.array(rows))
        fast = _post(client, INFER, fast_body)
        exact = _post(client, INFER, {**fast_body, "parameters": {}})  # not a fast body
        assert fast.status_code == exact.status_code == 200
        assert fast.json() == exact.json()


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        # plain numbers: the simdjson fast path sees the repeat and hands over
        ("/invocations", b'{"inputs": [[1, 2, 3]], "inputs": [[4, 5, 6]]}', ["body", "inputs"]),
        (
            "/invocations",
            b'{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]], '
            b'"data": [[4, 5, 6]]}}',
            ["body", "dataframe_split", "data"],
        ),
        (
            INFER,
            b'{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", '
            b'"data": [1, 2, 3], "data": [4, 5, 6]}]}',
            ["body", "inputs", 0, "data"],
        ),
        # the exact path: objects inside rows, a null, text
        (
            "/invocations",
            b'{"dataframe_records": [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3, "a": 9}]}',
            ["body", "dataframe_records", 1, "a"],
        ),
        ("/invocations", b'{"inputs": [[1, null, 3]], "inputs": [[4, 5, 6]]}', ["body", "inputs"]),
    ],
)
def test_a_repeated_key_is_refused_with_its_place(
    client: TestClient, path: str, body: bytes, loc: list[Any]
) -> None:
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["loc"] == loc
    assert "more than once" in r.json()["error"]


def test_colons_in_text_are_not_taken_for_repeated_keys() -> None:
    import orjson

    from polyclass.serve._jsonbody import duplicate_key

    raw = b'{"a": "x:y:z", "b": [{"c": "::", "d": 1}], "e": {"f": {"g": ":"}}}'
    assert duplicate_key(raw, orjson.loads(raw)) is None
    raw = b'{"a": "x:y:z", "b": [{"c": "::", "d": 1, "c": 2}]}'
    assert duplicate_key(raw, orjson.loads(raw)) == ("c", ["b", 0])
