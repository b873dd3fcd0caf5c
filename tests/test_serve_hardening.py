"""Real ``polyclass serve`` processes attacked the way a review did: SIGKILL under load,
slow and stalled clients, SIGTERM with a stalled request, open admin routes."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from _serve_helpers import ROW, ServerProcess, Trained, read_log, trained_registry
from polyclass.predlog import PredictionLog
from polyclass.predlog import read_log as read_predlog


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return trained_registry(tmp_path_factory.getbasetemp() / "serve-penguins")


@pytest.fixture()
def registry_copy(trained: Trained, tmp_path: Path) -> Path:
    registry = tmp_path / "registry"
    shutil.copytree(trained.registry, registry)
    return registry


def _server(registry: Path, tmp_path: Path, *extra: str) -> ServerProcess:
    proc = ServerProcess(
        [
            "penguins:1",
            "--registry",
            str(registry),
            "--log-dir",
            str(tmp_path),
            "--no-access-log",
            "--monitor-interval",
            "0",
            *extra,
        ],
        cwd=tmp_path,
    )
    proc.wait_ready()
    return proc


def test_sigkill_under_load_loses_only_the_last_sync_interval(
    registry_copy: Path, tmp_path: Path
) -> None:
    """Rows answered more than the bound (plus the writer's slack) before a SIGKILL are
    all in the log once the next server recovers the journal; monitor reports the
    journal until then."""
    proc = _server(registry_copy, tmp_path, "--log-sync-seconds", "0.5")
    answered: list[tuple[float, str]] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            i = 0
            while not stop.is_set():
                rid = f"w{worker}-{i}"
                i += 1
                try:
                    r = client.post(
                        "/invocations",
                        json={"dataframe_records": [ROW]},
                        headers={"x-request-id": rid},
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    answered.append((time.monotonic(), rid))

    threads = [threading.Thread(target=load, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    while not answered or time.monotonic() - answered[0][0] < 4.0:
        time.sleep(0.05)
    killed_at = time.monotonic()
    proc.proc.send_signal(signal.SIGKILL)
    proc.stop()
    stop.set()
    for t in threads:
        t.join()
    folder = tmp_path / "logs" / "penguins"
    problems = read_predlog(folder, with_proba=False).problems
    assert any("killed" in p.reason for p in problems), problems  # monitor sees the journal

    PredictionLog(folder).close()  # what the next server does first: recover the journal
    table = read_log(folder / "predictions")
    logged = set(table.column("request_id").to_pylist()) if table is not None else set()
    old = [rid for when, rid in answered if when < killed_at - 2.0]
    assert old, "the load ran long enough to have answered rows older than the bound"
    assert [rid for rid in old if rid not in logged] == []
    assert not list((folder / "predictions").glob(".part-*"))
    assert read_predlog(folder, with_proba=False).problems == []


def _recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_slow_headers_idle_connections_and_stalled_bodies_time_out(
    registry_copy: Path, tmp_path: Path
) -> None:
    proc = _server(
        registry_copy,
        tmp_path,
        "--header-timeout",
        "0.5",
        "--body-timeout",
        "0.5",
    )
    try:
        openings = {
            "idle": b"",
            "slow headers": b"POST /invocations HTTP/1.1\r\nhost: x\r\n",
            "stalled body": b"POST /invocations HTTP/1.1\r\nhost: x\r\n"
            b'content-type: application/json\r\ncontent-length: 100\r\n\r\n{"inp',
        }
        for what, opening in openings.items():
            with socket.create_connection(("127.0.0.1", proc.port)) as sock:
                sock.settimeout(30)  # the server must close it long before
                sock.sendall(opening)
                answer = _recv_all(sock)  # b"" or a 408, then the server closed it
            assert answer.startswith(b"HTTP/1.1 408"), (what, answer)
        # and the server still answers
        assert httpx.post(proc.url + "/invocations", json={"dataframe_records": [ROW]}).is_success
    finally:
        proc.stop()


def test_a_stalled_body_is_a_408_in_the_log_and_metrics_without_a_traceback(
    registry_copy: Path, tmp_path: Path
) -> None:
    """The client's stall is not a server error: no 500 to alert on, no traceback."""
    proc = _server(registry_copy, tmp_path, "--body-timeout", "0.5", "--access-log")
    try:
        with socket.create_connection(("127.0.0.1", proc.port)) as sock:
            sock.settimeout(30)
            sock.sendall(
                b"POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 1000\r\nx-request-id: stalled\r\n\r\n"
                b'{"dataframe_records":['
            )
            assert _recv_all(sock).startswith(b"HTTP/1.1 408")
        metrics = httpx.get(proc.url + "/metrics").text
    finally:
        proc.stop()
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("polyclass_http_requests_total{") and '"/invocations"' in line
    ]
    assert len(counted) == 1 and 'status="408"' in counted[0], counted
    logged = [line for line in proc.stderr.splitlines() if '"request_id":"stalled"' in line]
    assert len(logged) == 1 and '"status":408' in logged[0], proc.stderr
    assert "Traceback" not in proc.stderr and "ClientDisconnect" not in proc.stderr


def test_sigterm_with_a_stalled_request_stops_in_bounded_time_losing_nothing(
    registry_copy: Path, tmp_path: Path
) -> None:
    proc = _server(registry_copy, tmp_path, "--graceful-timeout", "1", "--body-timeout", "3600")
    answered = []
    with httpx.Client(base_url=proc.url) as client:
        for i in range(20):
            r = client.post(
                "/invocations",
                json={"dataframe_records": [ROW]},
                headers={"x-request-id": f"r{i}"},
            )
            assert r.status_code == 200
            answered.append(f"r{i}")
    with socket.create_connection(("127.0.0.1", proc.port)) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n{"
        )
        time.sleep(0.2)  # the request is in flight, its body stalled
        proc.proc.send_signal(signal.SIGTERM)
        try:
            code = proc.proc.wait(60)
        except subprocess.TimeoutExpired:
            code = None
    assert code is not None, "SIGTERM did not stop the server: it waits for the stalled body"
    proc.stop()
    table = read_log(tmp_path / "logs" / "penguins" / "predictions")
    assert sorted(set(table.column("request_id").to_pylist())) == sorted(answered)


def test_open_admin_routes_need_tokens_off_loopback(registry_copy: Path, tmp_path: Path) -> None:
    base = ["penguins:1", "--registry", str(registry_copy), "--log-dir", str(tmp_path)]
    refused = subprocess.run(
        # a documentation address (RFC 5737): refused before any attempt to bind it
        [sys.executable, "-m", "polyclass.cli", "serve", *base, "--host", "192.0.2.1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stderr
    assert "--token-file" in refused.stderr and "--insecure" in refused.stderr
    proc = _server(registry_copy, tmp_path)  # loopback without tokens: served, with a warning
    proc.stop()
    assert "warning: no --token-file" in proc.stderr


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: a disk that can really fill up (root only)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Fill ``disk`` up to its last byte with one file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while fh.write(b"\0" * size):
                    pass
    return filler


def test_disk_full_refuses_at_the_memory_bound_and_recovers_losing_nothing(
    registry_copy: Path, tmp_path: Path, small_disk: Path
) -> None:
    """While the log's disk is full its rows are held up to the memory bound, then
    requests get a 503 naming the log and the fix and the server is not ready; each
    failed write is in /metrics; stderr says so once; once space is freed the server
    recovers by itself and every answered row is in the log."""
    proc = _server(registry_copy, tmp_path, "--log-rotate-mb", "0.1", "--log-dir", str(small_disk))
    rows = [ROW] * 1000
    answered = 0
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            filler = _fill(small_disk)
            for _ in range(200):  # each answer holds 1,000 rows: far over the bound
                r = client.post("/invocations", json={"dataframe_records": rows})
                if r.status_code != 200:
                    break
                answered += 1
            folder = small_disk / "logs" / "penguins" / "predictions"
            why = (
                f"the prediction log cannot be written (No space left on device at {folder}); "
                "free space or move --log-dir."
            )
            assert (r.status_code, r.json()["error"]) == (503, why)
            ready = client.get("/v2/health/ready")
            assert (ready.status_code, ready.json()) == (503, {"ready": False, "error": why})
            metrics = client.get("/metrics").text
            errors = next(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith("polyclass_prediction_log_write_errors ")
            )
            assert errors >= 1
            filler.unlink()
            deadline = time.monotonic() + 60
            while client.get("/v2/health/ready").status_code != 200:
                assert time.monotonic() < deadline, proc.stderr
                time.sleep(0.1)
            r = client.post("/invocations", json={"dataframe_records": rows})
            assert r.status_code == 200
            answered += 1
    finally:
        proc.stop()
    assert proc.stderr.count("cannot write the prediction log") == 1, proc.stderr
    assert proc.stderr.count("is written again after") == 1, proc.stderr
    assert answered >= 2
    folder = small_disk / "logs" / "penguins"
    assert read_log(folder / "predictions").num_rows == 1000 * answered
    assert read_predlog(folder, with_proba=False).problems == []


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="lists processes via /proc")
def test_workers_stop_when_serve_is_killed_and_a_restart_can_bind(
    registry_copy: Path, tmp_path: Path
) -> None:
    """SIGKILL of a `serve --workers 2` leaves no worker serving the port (they kept
    answering and the restart could not bind)."""
    proc = _server(registry_copy, tmp_path, "--workers", "2")
    workers = _children(proc.proc.pid)
    assert len(workers) >= 2
    proc.proc.send_signal(signal.SIGKILL)
    proc.stop()
    deadline = time.monotonic() + 60  # a graceful stop each, on a loaded machine
    while any(map(_alive, workers)):
        assert time.monotonic() < deadline, [w for w in workers if _alive(w)]
        time.sleep(0.1)
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", proc.port))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_error_line(trained: Trained, tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [
                *(sys.executable, "-m", "polyclass.cli", "serve", str(trained.model_dir)),
                *("--port", str(port), "--workers", workers, "--no-prediction-log"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"error: Cannot listen on 127.0.0.1:{port}: Address already in use. Choose another "
        "--port, or stop the process that holds it."
    ]
