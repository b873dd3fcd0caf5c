"""Real processes registering at once, and registrations killed midway (SIGKILL).

Every test runs on a SQLite file and on a fresh database of the real PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from _postgres import postgres_database
from polyclass.artifact import save_artifact
from polyclass.registry import Registry, RegistryError

ROUNDS = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reg' / 'registry.db'}"
    else:
        yield from postgres_database()


@pytest.fixture
def art(tmp_path: Path) -> Path:
    return save_artifact(
        tmp_path / "art",
        {"classes": ["a", "b"]},
        {"coef": np.arange(6.0).reshape(2, 3), "big": np.zeros(50_000)},
    )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("POLYCLASS")}


def _run_together(code: str, argvs: list[list[str]], go: Path) -> list[str]:
    """Run one child per argv, release them at once, return their stdout; all must succeed.

    Every child is waited for (or killed) before any assertion, so a failure leaves no
    process or pipe behind.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            text=True,
        )
        for argv in argvs
    ]
    results: list[tuple[int, str, str]] = []
    try:
        ready = [proc.stdout.readline().strip() if proc.stdout else "" for proc in procs]
        go.touch()
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert ready == ["ready"] * len(procs), results
    for code_, _, err in results:
        assert code_ == 0, err
    return [out for _, out, _ in results]


def _assert_whole(registry: Registry) -> None:
    """Every version row has its verified files; every version folder has its row."""
    referenced = set()
    for model in registry.list_models():
        for version in registry.versions(model.name):
            registry.verify(version.ref)
            referenced.add(version.path)
    on_disk = {p for d in registry.root.iterdir() if d.name != ".staging" for p in d.iterdir()}
    expected = sorted([*(on_disk - referenced), *(registry.root / ".staging").glob("*")])
    assert registry.clean(min_age_seconds=-1) == expected


def test_two_processes_register_many_at_once(url: str, art: Path, tmp_path: Path) -> None:
    """Two real processes open a fresh registry and register concurrently: distinct numbers,
    nothing lost, on a shared name and on names both create at the same moment."""
    go = tmp_path / "go"
    code = textwrap.dedent(
        f"""
        import json, pathlib, sys, time
        from polyclass.registry import Registry
        print("ready", flush=True)
        while not pathlib.Path({str(go)!r}).exists():  # start together
            time.sleep(0.002)
        got = []
        with Registry({url!r}, root={str(tmp_path / "artifacts")!r}) as registry:
            for i in range({ROUNDS}):
                shared = registry.register("shared", {str(art)!r}, lineage={{"i": i}})
                fresh = registry.register(f"fresh-{{i}}", {str(art)!r})
                got.append([shared.version, fresh.version])
        print(json.dumps(got))
        """
    )
    shared: list[int] = []
    fresh: list[int] = []
    for out in _run_together(code, [[], []], go):
        for s, f in json.loads(out):
            shared.append(s)
            fresh.append(f)
    assert sorted(shared) == list(range(1, 2 * ROUNDS + 1))
    assert sorted(fresh) == sorted([1, 2] * ROUNDS)
    with Registry(url, root=tmp_path / "artifacts") as registry:
        assert [v.version for v in registry.versions("shared")] == list(range(1, 2 * ROUNDS + 1))
        assert len({v.path for v in registry.versions("shared")}) == 2 * ROUNDS
        for i in range(ROUNDS):
            assert [v.version for v in registry.versions(f"fresh-{i}")] == [1, 2]
        _assert_whole(registry)


# Where the child kills itself (SIGKILL): a wrapper around one step of registration.
KILL_POINTS = {
    # half of the artifact's files copied into staging
    "copying": "store.copy_artifact_files = copy_one_file_then_die",
    # the version row inserted, the directory not yet renamed into place
    "before-rename": "store.os.rename = kill_before(store.os.rename)",
    # the directory renamed into place, the transaction not committed
    "before-commit": "store.fsync_dir = kill_before(store.fsync_dir)",
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_registration_killed_midway_leaves_nothing_half_written(
    url: str, art: Path, tmp_path: Path, point: str
) -> None:
    root = tmp_path / "artifacts"
    with Registry(url, root=root) as registry:
        registry.register("m", art)
        registry.promote("m", 1)
    code = textwrap.dedent(
        f"""
        import os, shutil, signal
        import polyclass.registry._store as store
        from polyclass.registry import Registry

        def die():
            os.kill(os.getpid(), signal.SIGKILL)

        def kill_before(step):
            return lambda *args, **kwargs: die()

        def copy_one_file_then_die(source, dest):
            first = sorted(source.iterdir())[0]
            shutil.copyfile(first, dest / first.name)
            die()

        {KILL_POINTS[point]}
        with Registry({url!r}, root={str(root)!r}) as registry:
            registry.register("m", {str(art)!r})
            registry.register("new", {str(art)!r})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=_env(), timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    with Registry(url, root=root) as registry:
        assert [v.version for v in registry.versions("m")] == [1]
        assert [m.name for m in registry.list_models()] == ["m"]
        assert registry.aliases("m") == {"production": 1}
        _assert_whole(registry)
        # the next registration works and takes the next number
        assert registry.register("m", art).version == 2
        assert registry.register("new", art).version == 1
        _assert_whole(registry)


def test_values_too_long_for_a_column_are_refused_clearly(url: str, art: Path) -> None:
    """PostgreSQL enforces VARCHAR lengths that SQLite ignores: both refuse the same way."""
    with Registry(url) as registry:
        with pytest.raises(RegistryError, match=r"data_fingerprint.*at most 128"):
            registry.register("m", art, lineage={"data_fingerprint": "f" * 129})
        with pytest.raises(RegistryError, match=r"user.*at most 255"):
            registry.register("m", art, lineage={"user": "u" * 256})
        assert registry.list_models() == []


def test_two_processes_record_the_same_replicas_at_once(
    url: str, art: Path, tmp_path: Path
) -> None:
    """Upserts of one (name, version, url) racing in two processes: one record each, no error."""
    root = tmp_path / "artifacts"
    with Registry(url, root=root) as registry:
        registry.register("m", art)
    go = tmp_path / "go"
    code = textwrap.dedent(
        f"""
        import pathlib, sys, time
        from polyclass.registry import Registry
        status = sys.argv[1]
        with Registry({url!r}, root={str(root)!r}) as registry:
            print("ready", flush=True)
            while not pathlib.Path({str(go)!r}).exists():
                time.sleep(0.002)
            for i in range({ROUNDS}):
                for store in ("s3://a/p", "gs://b/p", f"az://c/p{{i}}"):
                    registry.record_replica("m", 1, url=store, cloud="x", status=status)
        """
    )
    _run_together(code, [["ok"], ["corrupt"]], go)
    with Registry(url, root=root) as registry:
        found = registry.replicas("m", 1)
        assert sorted(r.url for r in found) == sorted(
            ["s3://a/p", "gs://b/p", *(f"az://c/p{i}" for i in range(ROUNDS))]
        )
        assert {r.status for r in found} <= {"ok", "corrupt"}
