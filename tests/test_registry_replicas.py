"""Replica records and residency restrictions, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text

from _postgres import postgres_database
from polyclass.artifact import save_artifact
from polyclass.registry import (
    REPLICA_STATUSES,
    InvalidNameError,
    Registry,
    Replica,
    ResidencyError,
    UnknownModelError,
    UnknownVersionError,
)

GOLDEN_V1 = Path(__file__).parent / "golden" / "registry_v1"


@pytest.fixture
def art(tmp_path: Path) -> Path:
    return save_artifact(tmp_path / "art", {"classes": ["a", "b"]}, {"w": np.ones(3)})


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reg' / 'registry.db'}"
    else:
        yield from postgres_database()


@pytest.fixture
def reg(url: str, tmp_path: Path, art: Path) -> Iterator[Registry]:
    with Registry(url, root=tmp_path / "artifacts") as registry:
        registry.register("m", art)
        registry.register("m", art)
        yield registry


def test_record_and_list_replicas(reg: Registry) -> None:
    first = reg.record_replica(
        "m",
        1,
        url="s3://models/team",
        cloud="aws",
        region="eu-west-1",
        residency="EU",
        status="ok",
        verified_at=datetime(2026, 12, 7, 14, 0, tzinfo=timezone(timedelta(hours=1))),
    )
    assert first == Replica(
        name="m",
        version=1,
        url="s3://models/team",
        cloud="aws",
        region="eu-west-1",
        residency="eu",
        status="ok",
        verified_at="2026-12-07T13:00:00.000000Z",
        recorded_at=first.recorded_at,
    )
    reg.record_replica("m", 2, url="gs://models/team", cloud="gcp", status="unverified")
    reg.record_replica("m", 1, url="az://models/team", cloud="azure")
    assert [(r.version, r.url) for r in reg.replicas("m")] == [
        (1, "az://models/team"),
        (1, "s3://models/team"),
        (2, "gs://models/team"),
    ]
    assert [r.url for r in reg.replicas("m", 2)] == ["gs://models/team"]
    # the same URL again updates the record instead of adding one
    again = reg.record_replica(
        "m",
        1,
        url="s3://models/team",
        cloud="aws",
        status="corrupt",
        verified_at="2026-12-08T00:00Z",
    )
    assert again.status == "corrupt" and again.verified_at == "2026-12-08T00:00:00.000000Z"
    assert again.region is None
    assert [r.status for r in reg.replicas("m", 1)] == ["unverified", "corrupt"]
    with pytest.raises(AttributeError):
        again.status = "ok"  # type: ignore[misc]


def test_replica_errors_name_the_problem(reg: Registry) -> None:
    ok = {"url": "s3://b/p", "cloud": "aws"}
    with pytest.raises(InvalidNameError, match=r"status must be one of ok, missing, corrupt"):
        reg.record_replica("m", 1, **ok, status="fine")
    assert REPLICA_STATUSES == ("ok", "missing", "corrupt", "unverified")
    with pytest.raises(UnknownVersionError, match="no version 9"):
        reg.record_replica("m", 9, **ok)
    with pytest.raises(UnknownModelError):
        reg.record_replica("nope", 1, **ok)
    with pytest.raises(UnknownModelError):
        reg.replicas("nope")
    for version in ("1", 1.0, True):
        with pytest.raises(InvalidNameError, match="version must be a whole number"):
            reg.record_replica("m", version, **ok)  # type: ignore[arg-type]
        with pytest.raises(InvalidNameError, match="version must be a whole number"):
            reg.replicas("m", version)  # type: ignore[arg-type]
    assert reg.replicas("m", np.int64(1)) == []  # type: ignore[arg-type]
    with pytest.raises(InvalidNameError, match="store URL such as"):
        reg.record_replica("m", 1, url="bucket/p", cloud="aws")
    with pytest.raises(InvalidNameError, match="timezone"):
        reg.record_replica("m", 1, **ok, verified_at="2026-12-07T13:00:00")
    with pytest.raises(InvalidNameError, match="timezone"):
        reg.record_replica("m", 1, **ok, verified_at="yesterday")
    with pytest.raises(InvalidNameError, match="cloud must be"):
        reg.record_replica("m", 1, url="s3://b/p", cloud="")
    with pytest.raises(InvalidNameError, match="region"):
        reg.record_replica("m", 1, **ok, region="eu west")
    assert reg.replicas("m") == []


@pytest.mark.parametrize(
    "url",
    [
        "s3://AKIAEXAMPLE:s3cr3t@bucket/prefix",
        "https://user:s3cr3t@account.blob.core.windows.net/c",
        "az://container/p?sv=2020&sig=s3cr3t",
        "gs://bucket/p#s3cr3t",
    ],
)
def test_credentials_are_never_stored_or_echoed(tmp_path: Path, art: Path, url: str) -> None:
    with Registry(str(tmp_path / "reg")) as registry:
        registry.register("m", art)
        with pytest.raises(InvalidNameError, match="credential") as info:
            registry.record_replica("m", 1, url=url, cloud="aws")
        assert "s3cr3t" not in str(info.value)
        assert registry.replicas("m") == []
    assert b"s3cr3t" not in (tmp_path / "reg" / "registry.db").read_bytes()


def test_residency_restricts_replicas(reg: Registry) -> None:
    assert reg.residencies("m") is None
    assert reg.set_residencies("m", ["EU", "ch", "eu"]) == ["ch", "eu"]
    assert reg.residencies("m") == ["ch", "eu"]
    reg.record_replica("m", 1, url="s3://eu/p", cloud="aws", residency="eu")
    with pytest.raises(ResidencyError, match=r"restricted to residencies ch, eu.*s3://us/p.*'us'"):
        reg.record_replica("m", 1, url="s3://us/p", cloud="aws", residency="us")
    with pytest.raises(ResidencyError, match="has no residency tag"):
        reg.record_replica("m", 1, url="s3://any/p", cloud="aws")
    with pytest.raises(ResidencyError, match="restricted"):
        reg.check_residency("m", "us", "s3://us/p")
    reg.check_residency("m", "eu")
    assert [r.url for r in reg.replicas("m")] == ["s3://eu/p"]
    with pytest.raises(InvalidNameError, match="non-empty list"):
        reg.set_residencies("m", [])
    with pytest.raises(InvalidNameError, match="non-empty list"):
        reg.set_residencies("m", "eu")  # type: ignore[arg-type]
    with pytest.raises(InvalidNameError, match="residency tag"):
        reg.set_residencies("m", ["e u"])
    with pytest.raises(UnknownModelError):
        reg.set_residencies("nope", ["eu"])
    assert reg.set_residencies("m", None) is None
    reg.record_replica("m", 1, url="s3://us/p", cloud="aws", residency="us")
    assert len(reg.replicas("m")) == 2


def test_deleting_a_version_forgets_its_replicas(reg: Registry) -> None:
    reg.record_replica("m", 1, url="s3://b/p", cloud="aws")
    reg.record_replica("m", 2, url="s3://b/p", cloud="aws")
    reg.delete("m", 1)
    assert [r.version for r in reg.replicas("m")] == [2]


def test_registry_of_schema_version_1_opens_and_gains_tables(tmp_path: Path) -> None:
    """A registry written by polyclass before replicas existed (a golden copy) keeps everything."""
    old = tmp_path / "registry_v1"
    shutil.copytree(GOLDEN_V1, old)
    engine = create_engine(f"sqlite:///{old / 'registry.db'}")
    assert "polyclass_replicas" not in inspect(engine).get_table_names()
    engine.dispose()
    with Registry(str(old)) as registry:
        assert [(m.name, m.version_count, m.aliases) for m in registry.list_models()] == [
            ("penguins", 2, {"production": 1, "staging": 2}),
            ("wine", 1, {}),
        ]
        assert [h["action"] for h in registry.alias_history("penguins", "production")] == [
            "set",
            "set",
            "rollback",
        ]
        for ref in ("penguins:1", "penguins:2", "wine:1"):
            registry.verify(ref)
        assert registry.get_version("penguins", 2).lineage["metrics"] == {"macro_f1": 0.9}
        registry.record_replica("penguins", 1, url="s3://b/p", cloud="aws", status="ok")
        registry.set_residencies("wine", ["eu"])
        wine = old / "artifacts" / "wine" / "v1-80d9dbc2"
        assert registry.register("penguins", wine).version == 3
    engine = create_engine(f"sqlite:///{old / 'registry.db'}")
    with engine.connect() as conn:
        version = conn.execute(text("SELECT value FROM polyclass_registry_info")).scalar_one()
    engine.dispose()
    assert version == "2"
    with Registry(str(old)) as registry:  # and it opens again as a current registry
        assert [r.url for r in registry.replicas("penguins", 1)] == ["s3://b/p"]
        assert registry.residencies("wine") == ["eu"]
