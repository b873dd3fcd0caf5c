"""A registry whose local artifacts are gone (restored from a backup) loads and serves
from the replicas it records, in file:// stores (no emulator needed)."""

from __future__ import annotations

import hashlib
import shutil
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest

import polyclass
from _serve_helpers import ROW, ServerProcess
from polyclass.cloud import (
    CacheDiscardedWarning,
    ReplicaFallbackWarning,
    Store,
    StoreError,
    fetch,
    replicate,
)
from polyclass.registry import Registry

ROWS = [ROW]


def _store(tmp_path: Path, name: str) -> str:
    (tmp_path / name).mkdir()
    return f"file://{tmp_path / name}"


def _drop_local(registry: str, ref: str) -> Path:
    with Registry(registry) as reg:
        local = reg.resolve(ref).path
    shutil.rmtree(local)
    return local


def test_load_falls_back_to_the_recorded_replicas_ok_first(registry: str, tmp_path: Path) -> None:
    expected = polyclass.load("penguins:1", registry=registry).predict(ROWS)
    first, second = _store(tmp_path, "storeA"), _store(tmp_path, "storeB")
    assert replicate("penguins:1", [first, second], registry=registry).ok
    Store(first).delete("models/penguins/1/manifest.json")  # a damaged first replica...
    with Registry(registry) as reg:  # ...that the registry already knows about
        reg.record_replica("penguins", 1, url=Store(first).url, cloud="file", status="missing")
    _drop_local(registry, "penguins:1")
    with pytest.warns(ReplicaFallbackWarning, match="storeB") as caught:
        model = polyclass.load("penguins:1", registry=registry)
    np.testing.assert_array_equal(model.predict(ROWS), expected)
    assert len(caught) == 1  # storeB (ok) was tried before storeA (missing): no skip warning


def test_load_without_a_usable_replica_names_them_and_the_store_option(
    registry: str, tmp_path: Path
) -> None:
    _drop_local(registry, "penguins:2")
    with pytest.raises(StoreError, match=r"records no replica of penguins:2.*--store"):
        polyclass.load("penguins:2", registry=registry)
    empty = _store(tmp_path, "empty")
    with Registry(registry) as reg:
        reg.record_replica("penguins", 2, url=Store(empty).url, cloud="file")
    with pytest.warns(ReplicaFallbackWarning), pytest.raises(StoreError) as raised:
        polyclass.load("penguins:2", registry=registry)
    assert empty in str(raised.value) and "--store" in str(raised.value)


def test_serve_falls_back_to_a_recorded_replica(registry: str, tmp_path: Path) -> None:
    expected = polyclass.load("penguins:1", registry=registry).predict(ROWS)
    store = _store(tmp_path, "storeA")
    assert replicate("penguins:1", [store], registry=registry).ok
    _drop_local(registry, "penguins:1")
    server = ServerProcess(
        ["penguins:1", "--registry", registry, "--no-prediction-log", "--monitor-interval", "0"],
        tmp_path,
        env={"POLYCLASS_CACHE": str(tmp_path / "serve-cache")},
    )
    try:
        server.wait_ready()
        reply = httpx.post(server.url + "/invocations", json={"dataframe_records": ROWS})
        assert reply.status_code == 200, reply.text
        assert reply.json()["predictions"] == list(expected)
    finally:
        server.stop()
    assert "storeA" in server.stderr


def test_replicate_to_a_missing_directory_does_not_promise_a_rerun_fixes_it(
    registry: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from polyclass.cli import app

    good = _store(tmp_path, "good")
    result = CliRunner().invoke(
        app,
        [
            "cloud",
            "replicate",
            "penguins:1",
            "--to",
            good,
            "--to",
            f"file://{tmp_path}/nonexistent",
            "--registry",
            registry,
        ],
    )
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "fix the problem each names" in text, text
    assert "run the same command again to resume" not in text


def _flip_a_byte(artifact: Path) -> str:
    """Damage the largest file of a cached artifact in place, its size kept (a disk error)."""
    victim = max((p for p in artifact.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0x40
    with open(victim, "r+b") as handle:  # in place: the blob it is linked to changes too
        handle.write(data)
    return victim.name


def test_a_damaged_cached_version_is_discarded_and_fetched_again(
    registry: str, tmp_path: Path
) -> None:
    expected = polyclass.load("penguins:1", registry=registry).predict(ROWS)
    store = _store(tmp_path, "storeA")
    assert replicate("penguins:1", [store], registry=registry).ok
    damaged = _flip_a_byte(fetch("penguins:1", [store]))
    with pytest.warns(CacheDiscardedWarning, match=f"penguins:1.*{damaged}.*again") as caught:
        again = fetch("penguins:1", [store])
    assert len(caught) == 1
    np.testing.assert_array_equal(polyclass.load(again).predict(ROWS), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # now intact: a warm start says nothing
        assert fetch("penguins:1", [store]) == again


def test_a_damaged_cache_and_a_damaged_store_name_the_store_and_repair(
    registry: str, tmp_path: Path
) -> None:
    store = _store(tmp_path, "storeA")
    assert replicate("penguins:1", [store], registry=registry).ok
    cached = fetch("penguins:1", [store])
    shas = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in cached.iterdir()}
    victim = _flip_a_byte(cached)
    stored = tmp_path / "storeA" / "blobs" / shas[victim]  # the store's copy is damaged too
    stored.write_bytes((cached / victim).read_bytes())
    with pytest.warns(CacheDiscardedWarning), pytest.raises(StoreError) as raised:
        fetch("penguins:1", [store])
    text = " ".join(str(raised.value).split())
    assert "storeA" in text and "corrupt" in text and "polyclass cloud repair" in text, text


def test_serve_from_a_store_heals_a_damaged_cache(registry: str, tmp_path: Path) -> None:
    store = _store(tmp_path, "storeA")
    assert replicate("penguins:1", [store], registry=registry).ok
    cache = tmp_path / "serve-cache"
    _flip_a_byte(fetch("penguins:1", [store], cache=cache))
    server = ServerProcess(
        ["penguins:1", "--store", store, "--no-prediction-log", "--monitor-interval", "0"],
        tmp_path,
        env={"POLYCLASS_CACHE": str(cache)},
    )
    try:
        server.wait_ready()
        reply = httpx.post(server.url + "/invocations", json={"dataframe_records": ROWS})
        assert reply.status_code == 200, reply.text
    finally:
        server.stop()
    assert "failed verification" in server.stderr and "again from the store" in server.stderr


def test_serve_from_a_store_follows_the_alias_and_fetches_the_new_version(
    registry: str, tmp_path: Path
) -> None:
    """Moving the alias reaches a server started with --store: the poll resolves it again
    and the new version comes from the store (the registry's own copy is gone), as soon
    as the store holds it."""
    expected = polyclass.load("penguins:2", registry=registry).predict(ROWS)
    store = _store(tmp_path, "storeA")
    assert replicate("penguins:1", [store], registry=registry).ok
    elsewhere = _store(tmp_path, "storeB")
    assert replicate("penguins:2", [elsewhere], registry=registry).ok
    _drop_local(registry, "penguins:2")
    with Registry(registry) as reg:
        reg.set_alias("penguins", "production", 1)
    server = ServerProcess(
        [
            "penguins@production",
            "--store",
            store,
            "--registry",
            registry,
            "--poll-interval",
            "0.2",
            "--no-prediction-log",
            "--monitor-interval",
            "0",
        ],
        tmp_path,
        env={"POLYCLASS_CACHE": str(tmp_path / "serve-cache")},
    )

    def served() -> httpx.Response:
        reply = httpx.post(server.url + "/invocations", json={"dataframe_records": ROWS})
        assert reply.status_code == 200, reply.text
        return reply

    try:
        server.wait_ready()
        assert served().headers["x-model-version"] == "1"
        with Registry(registry) as reg:
            reg.set_alias("penguins", "production", 2)
        deadline = time.monotonic() + 60  # not in the store yet: refused, version 1 stays
        while "cannot load penguins@production" not in server.stderr:
            assert time.monotonic() < deadline, server.stderr
            time.sleep(0.1)
        assert served().headers["x-model-version"] == "1"
        shutil.copytree(tmp_path / "storeB", tmp_path / "storeA", dirs_exist_ok=True)
        deadline = time.monotonic() + 60  # the next polls fetch it
        while served().headers["x-model-version"] != "2" and time.monotonic() < deadline:
            time.sleep(0.1)
        reply = served()
        assert reply.headers["x-model-version"] == "2", server.stderr
    finally:
        server.stop()
    assert reply.json()["predictions"] == list(expected)
