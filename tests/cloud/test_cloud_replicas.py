"""Replicate, verify, repair and load models across real S3, GCS and Azure emulators."""

from __future__ import annotations

import functools
import json
import operator
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _cloud_emulators import AZURITE_KEY, free_port
from typer.testing import CliRunner

import polyclass
from polyclass.cli import app
from polyclass.cloud import (
    Store,
    StoreSkippedWarning,
    fetch,
    read_stores_file,
    repair,
    replicate,
    verify,
)
from polyclass.registry import Registry, ResidencyError

runner = CliRunner()
ROWS = [
    {
        "island": "Dream",
        "bill_length_mm": 40.1,
        "bill_depth_mm": 18.0,
        "flipper_length_mm": 190.0,
        "body_mass_g": 3800.0,
        "sex": "male",
        "year": 2008,
    },
    {
        "island": "Biscoe",
        "bill_length_mm": 47.5,
        "bill_depth_mm": 14.8,
        "flipper_length_mm": 217.0,
        "body_mass_g": 5200.0,
        "sex": None,
        "year": 2009,
    },
]

# s3fs and gcsfs hand aiohttp chunks as bytes; aiohttp's hint about that is theirs to act on.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning"),
    # adlfs's note when a container cannot be asked about (the store going down midway).
    pytest.mark.filterwarnings("ignore:Failed to fetch container properties:UserWarning"),
]


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _blob_names(url: str) -> set[str]:
    return set(Store(url).sizes("blobs"))


def test_replicate_to_three_clouds_once_then_nothing(
    registry: str, new_store: Callable[[str], str]
) -> None:
    stores = [new_store(c) for c in ("s3", "gcs", "azure", "file")]
    code, out = _cli(
        "cloud",
        "replicate",
        "penguins:1",
        *functools.reduce(operator.iadd, (["--to", s] for s in stores), []),
        "--registry",
        registry,
        "--json",
    )
    assert code == 0, out
    first = json.loads(out)
    assert first["ok"] and all(s["manifest_written"] for s in first["stores"])
    assert all(s["uploaded_bytes"] > 0 for s in first["stores"])

    again = replicate("penguins:1", stores, registry=registry)
    assert again.ok and again.uploaded_bytes == 0
    assert all(s.skipped_blobs == first["stores"][0]["uploaded_blobs"] for s in again.stores)

    # v2 differs from v1 only in its coefficients: the shared arrays are stored once.
    v2 = replicate("penguins:2", stores[:1], registry=registry)
    assert (
        0 < v2.stores[0].uploaded_blobs < v2.stores[0].uploaded_blobs + v2.stores[0].skipped_blobs
    )
    with Registry(registry) as reg:
        recorded = {(r.version, r.url): r for r in reg.replicas("penguins")}
    assert {url for _, url in recorded} == {Store(s).url for s in stores}
    assert recorded[(1, Store(stores[0]).url)].cloud == "aws"
    assert recorded[(1, Store(stores[0]).url)].status == "unverified"


def test_an_unchanged_replicate_lists_each_store_once_and_writes_nothing(
    registry: str, new_store: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = [new_store(c) for c in ("s3", "gcs", "azure", "file")]
    assert replicate("penguins:1", stores, registry=registry).ok
    calls: list[tuple[str, str]] = []

    def counted(method: str) -> Callable[..., object]:
        real = getattr(Store, method)

        def call(self: Store, *args: object, **kwargs: object) -> object:
            calls.append((method, self.url))
            return real(self, *args, **kwargs)

        return call

    for method in ("sizes", "write", "put_file"):
        monkeypatch.setattr(Store, method, counted(method))
    again = replicate("penguins:1", stores, registry=registry)
    assert again.ok and again.uploaded_bytes == 0
    assert sorted(calls) == sorted(("sizes", Store(s).url) for s in stores)


def test_a_replicate_that_changes_nothing_keeps_what_verify_found(
    registry: str, new_store: Callable[[str], str]
) -> None:
    stores = [new_store("s3"), new_store("file")]
    assert replicate("penguins:1", stores, registry=registry).ok
    assert all(c.ok for c in verify("penguins:1", registry=registry))

    def statuses() -> dict[str, tuple[str, object]]:
        with Registry(registry) as reg:
            return {r.url: (r.status, r.verified_at) for r in reg.replicas("penguins", 1)}

    verified = statuses()
    assert {status for status, _ in verified.values()} == {"ok"}
    assert replicate("penguins:1", stores, registry=registry).uploaded_bytes == 0
    assert statuses() == verified

    # A blob sent again changes that store: it is unverified until the next verify.
    damaged = Store(stores[0])
    damaged.delete(f"blobs/{sorted(damaged.sizes('blobs'))[0]}")
    again = replicate("penguins:1", stores, registry=registry)
    assert [s.changed for s in again.stores] == [True, False]
    after = statuses()
    assert after[damaged.url] == ("unverified", None)
    assert after[Store(stores[1]).url] == verified[Store(stores[1]).url]


def test_a_replicate_cut_midway_in_a_store_it_found_damaged_unverifies_it(
    registry: str, tmp_path: Path
) -> None:
    stores = []
    for name in ("damaged", "whole"):
        (tmp_path / name).mkdir()
        stores.append(f"file://{tmp_path / name}")
    assert replicate("penguins:1", stores, registry=registry).ok
    assert all(c.ok for c in verify("penguins:1", registry=registry))
    # A blob lost, and the store then refuses it back: the run fails there midway.
    blobs = tmp_path / "damaged" / "blobs"
    lost = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    lost.unlink()
    lost.mkdir()
    (lost / "in-the-way").write_text("x", encoding="utf-8")
    again = replicate("penguins:1", stores, registry=registry)
    assert [(s.ok, s.changed) for s in again.stores] == [(False, True), (True, False)]
    # the same thing would be in the way again: not "run the same command to resume"
    assert again.stores[0].transient is False and "Move it away" in str(again.stores[0].error)
    with Registry(registry) as reg:
        statuses = {r.url: r.status for r in reg.replicas("penguins", 1)}
    # not `ok`, which deploy check would trust, for a store known to lack a blob
    assert statuses == {Store(stores[0]).url: "unverified", Store(stores[1]).url: "ok"}


def test_damaged_replica_is_found_served_around_and_healed(
    registry: str, new_store: Callable[[str], str]
) -> None:
    s3, azure = new_store("s3"), new_store("azure")
    assert replicate("penguins:1", [s3, azure], registry=registry).ok
    blobs = sorted(_blob_names(s3))
    Store(s3).delete(f"blobs/{blobs[0]}")
    data = bytearray(Store(s3).read(f"blobs/{blobs[1]}"))
    data[-1] ^= 0xFF  # same size, different bytes: only re-hashing finds it
    Store(s3).write(f"blobs/{blobs[1]}", bytes(data))

    code, out = _cli("cloud", "verify", "penguins:1", "--registry", registry, "--json")
    assert code == 1
    [report] = json.loads(out)
    by_store = {r["store"]: r for r in report["replicas"]}
    assert by_store[Store(azure).url]["status"] == "ok"
    damaged = by_store[Store(s3).url]
    assert damaged["status"] == "corrupt"
    problems = {p["file"].split(" ")[0]: p["problem"] for p in damaged["problems"]}
    assert len(problems) == 2 and any(v.startswith("missing") for v in problems.values())
    assert any(v.startswith("corrupt") for v in problems.values())
    code, table = _cli("cloud", "verify", "penguins:1", "--registry", registry)
    assert code == 1 and "problems" in table and "missing" in table

    expected = polyclass.load("penguins:1", registry=registry).predict(ROWS)
    with pytest.warns(StoreSkippedWarning, match=f"Skipping store {s3}"):
        model = polyclass.load("penguins:1", stores=[s3, azure])
    np.testing.assert_array_equal(model.predict(ROWS), expected)

    code, out = _cli("cloud", "repair", "penguins:1", "--registry", registry)
    assert code == 0, out
    with Registry(registry) as reg:
        assert {r.status for r in reg.replicas("penguins", 1)} == {"ok"}
        assert all(r.verified_at for r in reg.replicas("penguins", 1))
    assert all(v.ok for v in verify("penguins", registry=registry))


def test_repair_heals_from_another_replica_without_the_local_copy(
    registry: str, new_store: Callable[[str], str]
) -> None:
    gcs, file = new_store("gcs"), new_store("file")
    assert replicate("penguins:1", [gcs, file], registry=registry).ok
    with Registry(registry) as reg:
        local = reg.resolve("penguins:1").path
    for path in local.iterdir():  # the registry's own copy is gone too
        path.unlink()
    Store(gcs).delete("models/penguins/1/manifest.json")
    Store(gcs).delete(f"blobs/{sorted(_blob_names(gcs))[0]}")
    [before] = verify("penguins:1", registry=registry)
    assert {r.url: r.status for r in before.replicas}[Store(gcs).url] == "missing"
    [after] = repair("penguins:1", registry=registry)
    assert after.ok, after


def test_replica_url_load_and_a_warm_cache_needs_no_store(
    registry: str, new_store: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = new_store("s3")
    assert replicate("penguins:2", [s3], registry=registry).ok
    expected = polyclass.load("penguins:2", registry=registry).predict(ROWS)
    model = polyclass.load(f"{s3}/models/penguins/2")
    np.testing.assert_array_equal(model.predict(ROWS), expected)
    assert model.path is not None and model.path.name == "penguins"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # S3 is gone
    warm = fetch("penguins:2", [s3])
    assert warm == model.path


def test_a_fetch_loads_only_the_library_of_its_store_and_a_warm_one_none(
    registry: str, new_store: Callable[[str], str], tmp_path: Path
) -> None:
    """Cold, only gcsfs is imported; warm, for a pinned name:N, no cloud library and no
    registry (SQLAlchemy) at all."""
    import subprocess
    import sys

    gcs = new_store("gcs")
    assert replicate("penguins:1", [gcs], registry=registry).ok
    code = (
        "import sys, polyclass.cloud as c; c.fetch('penguins:1', [sys.argv[1]]); "
        "print(*[m for m in ('s3fs', 'gcsfs', 'adlfs', 'sqlalchemy') if m in sys.modules])"
    )
    env = {**os.environ, "POLYCLASS_CACHE": str(tmp_path / "fresh-cache")}
    loaded = [
        subprocess.run(
            [sys.executable, "-c", code, gcs], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in ("cold", "warm")
    ]
    assert loaded == [["gcsfs"], []]


def test_a_store_down_midway_leaves_no_manifest_and_the_rerun_finishes(
    registry: str,
    new_store: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from _cloud_emulators import Emulator, azurite_command, emulator_environment, make_bucket

    from polyclass.artifact import save_artifact

    rng = np.random.default_rng(0)
    arrays = {f"a{i}": rng.random(128 * 1024) for i in range(12)}  # 12 files of 1 MiB
    with Registry(registry) as reg:
        reg.register("big", save_artifact(tmp_path / "big", {"k": 1}, arrays))
    port = free_port()
    (tmp_path / "az").mkdir()
    azurite = Emulator(
        "azurite-own",
        [
            str(azurite_command()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(tmp_path / "az"),
            "--skipApiVersionCheck",
            "--loose",
        ],
        port,
        tmp_path,
    )
    try:
        env = emulator_environment({"s3": 0, "gcs": 0, "azure": port})
        monkeypatch.setenv(
            "AZURE_STORAGE_CONNECTION_STRING", env["AZURE_STORAGE_CONNECTION_STRING"]
        )
        make_bucket("azure", "down")
        down = "az://down/models"
        others = [new_store("s3"), new_store("gcs")]
        blobs_dir = tmp_path / "az" / "__blobstorage__"

        def stop_azurite_midway() -> None:  # once a few blobs have arrived
            while azurite.proc is not None and len(list(blobs_dir.glob("*"))) < 3:
                time.sleep(0.01)
            azurite.stop()

        stopper = threading.Thread(target=stop_azurite_midway)
        stopper.start()
        first = replicate("big", [down, *others], registry=registry)
        outcome = {s.url: s for s in first.stores}
        assert all(outcome[Store(o).url].ok for o in others), first
        assert not outcome[down].ok and "cannot be reached" in (outcome[down].error or "")
        stopper.join()
        azurite.start()
        assert not Store(down).sizes("models/big/1")  # no manifest after the failed run
        kept = len(_blob_names(down))
        second = replicate("big", [down, *others], registry=registry)
        assert second.ok
        resumed = {s.url: s for s in second.stores}[down]
        assert resumed.skipped_blobs == kept and resumed.uploaded_blobs == 13 - kept
        assert all(v.ok for v in verify("big", registry=registry))
    finally:
        azurite.stop()


def test_wrong_credentials_and_missing_bucket_fail_only_their_store(
    registry: str, new_store: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = new_store("gcs")
    code, out = _cli(
        "cloud",
        "replicate",
        "penguins:1",
        "--to",
        good,
        "--to",
        "s3://no-such-bucket-7/x",
        "--registry",
        registry,
        "--json",
    )
    assert code == 1
    outcome = {s["url"]: s for s in json.loads(out)["stores"]}
    assert outcome[Store(good).url]["manifest_written"]
    missing = outcome["s3://no-such-bucket-7/x"]["error"]
    assert "the bucket 'no-such-bucket-7' does not exist" in missing
    wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        os.environ["AZURE_STORAGE_CONNECTION_STRING"].replace(AZURITE_KEY, wrong),
    )
    azure = new_store("azure")
    result = runner.invoke(
        app, ["cloud", "replicate", "penguins:1", "--to", azure, "--registry", registry, "--json"]
    )
    assert result.exit_code == 1
    [store] = json.loads(result.output)["stores"]
    assert "refused the credentials" in store["error"]
    assert "AZURE_STORAGE_CONNECTION_STRING" in store["error"]
    assert wrong not in result.output and AZURITE_KEY not in result.output


def test_residency_refuses_a_store_outside_before_uploading(
    registry: str, new_store: Callable[[str], str], tmp_path: Path
) -> None:
    eu, us = new_store("file"), new_store("s3")
    stores_file = tmp_path / "stores.toml"
    stores_file.write_text(
        f'[stores."{eu}"]\nresidency = "eu"\nregion = "eu-west-1"\n'
        f'[stores."{us}"]\nresidency = "us"\n'
    )
    with Registry(registry) as reg:
        reg.set_residencies("penguins", ["eu"])
    code, out = _cli(
        "cloud",
        "replicate",
        "penguins:1",
        "--stores-file",
        str(stores_file),
        "--registry",
        registry,
    )
    assert code == 2 and "restricted to residencies eu" in " ".join(out.split())
    assert not _blob_names(us) and not _blob_names(eu)
    known = read_stores_file(stores_file)
    with pytest.raises(ResidencyError):
        replicate("penguins:1", [known[Store(us).url]], registry=registry)
    assert replicate("penguins:1", [known[Store(eu).url]], registry=registry).ok
    with Registry(registry) as reg:
        [replica] = reg.replicas("penguins", 1)
    assert (replica.residency, replica.region) == ("eu", "eu-west-1")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["replicate", "penguins:1", "--to", "ftp://x/y"], "Unknown store scheme"),
        (["replicate", "penguins:1"], "No store given"),
        (["verify"], "Name one MODEL"),
        (["verify", "penguins:1"], "no recorded replicas"),
        (["replicate", "nope:1", "--to", "file:///tmp/x"], "No model named 'nope'"),
    ],
)
def test_usage_errors_exit_2(registry: str, args: list[str], problem: str) -> None:
    code, out = _cli("cloud", *args, "--registry", registry)
    assert code == 2 and problem in " ".join(out.split()), out


@pytest.mark.parametrize("ref", ["penguins:1", "penguins@production"])
def test_serve_from_a_store_with_a_cold_cache(
    ref: str, registry: str, new_store: Callable[[str], str], tmp_path: Path
) -> None:
    """A pinned version needs no registry at all; an alias is resolved by the registry
    (to version 1, not the latest) and that version is fetched and served."""
    import httpx

    from _serve_helpers import ServerProcess
    from polyclass.registry import Registry

    azure = new_store("azure")
    assert replicate("penguins:1", [azure], registry=registry).ok
    with Registry(registry) as reg:
        reg.set_alias("penguins", "production", 1)
    server = ServerProcess(
        [
            ref,
            "--store",
            azure,
            "--registry",
            str(tmp_path / "empty-registry") if ":" in ref else registry,
            "--no-prediction-log",
            "--monitor-interval",
            "0",
        ],
        tmp_path,
        env={"POLYCLASS_CACHE": str(tmp_path / "serve-cache")},
    )
    try:
        server.wait_ready()
        assert httpx.get(server.url + "/v2/models/penguins", timeout=10).json()["versions"] == ["1"]
        reply = httpx.post(
            server.url + "/invocations", json={"dataframe_records": ROWS}, timeout=10
        )
        assert reply.status_code == 200, reply.text
        expected = polyclass.load("penguins:1", registry=registry).predict(ROWS)
        assert [p for p in reply.json()["predictions"]] == list(expected)
    finally:
        server.stop()


def test_fetch_falls_through_every_store_and_says_so(
    registry: str, new_store: Callable[[str], str]
) -> None:
    from polyclass.cloud import StoreError

    empty = new_store("gcs")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(StoreError, match="No store holds a whole copy of penguins:1"):
            fetch("penguins:1", [empty, new_store("file")])
    assert len(caught) == 1 and empty in str(caught[0].message)


def test_a_replicate_process_killed_midway_leaves_no_manifest_and_resumes(
    registry: str, new_store: Callable[[str], str], tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    from polyclass.artifact import save_artifact

    rng = np.random.default_rng(1)
    arrays = {f"a{i}": rng.random(512 * 1024) for i in range(12)}  # 12 files of 4 MiB
    with Registry(registry) as reg:
        reg.register("big", save_artifact(tmp_path / "big", {"k": 2}, arrays))
    store = new_store("file")
    blobs = Path(store.removeprefix("file://")) / "blobs"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polyclass.cli",
            "cloud",
            "replicate",
            "big",
            "--to",
            store,
            "--registry",
            registry,
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while proc.poll() is None and len([p for p in blobs.glob("*") if len(p.name) == 64]) < 3:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not Store(store).sizes("models/big/1")
    kept = {p.name for p in blobs.glob("*") if len(p.name) == 64}
    result = replicate("big", [store], registry=registry)
    assert result.ok and result.stores[0].skipped_blobs == len(kept) > 0
    assert result.stores[0].uploaded_blobs == 13 - len(kept)
    assert all(v.ok for v in verify("big", registry=registry))


def test_verify_streams_large_blobs_in_chunks_and_finds_a_changed_middle(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polyclass.cloud._stores as stores

    monkeypatch.setattr(stores, "_WHOLE", 256)  # every blob above 256 bytes is read in chunks
    store = f"file://{tmp_path / 'store'}"
    (tmp_path / "store").mkdir()
    assert replicate("penguins:1", [store], registry=registry).ok
    sizes = Store(store).sizes("blobs")
    [clean] = verify("penguins:1", registry=registry)
    assert clean.ok and clean.replicas[0].bytes_read == sum(sizes.values())

    largest = max(sizes, key=sizes.__getitem__)
    assert sizes[largest] > 3 * 256  # several chunks, so the change is in neither end
    data = bytearray(Store(store).read(f"blobs/{largest}"))
    data[len(data) // 2] ^= 0xFF
    Store(store).write(f"blobs/{largest}", bytes(data))
    [damaged] = verify("penguins:1", registry=registry)
    [problem] = damaged.replicas[0].problems
    assert damaged.replicas[0].status == "corrupt" and largest in problem.file
    assert problem.problem.startswith("corrupt: sha256")
