"""The cloud tests' emulator helpers: ports, processes, environment and buckets.

A module of its own (not conftest.py) so test files and benchmarks/bench_cloud.py
import it by a name no other test folder uses.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the shared helpers (_serve_helpers) live there
BIN = Path(sys.executable).parent
# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def missing_tool(what: str) -> None:
    """Fail under CI (the test command installs every tool), skip elsewhere."""
    message = f"{what} is not installed; `make test` installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not listen on port {port} within 60 s")


class Emulator:
    """One running emulator process on a free port."""

    def __init__(
        self, what: str, command: list[str], port: int, workdir: Path, *, wait: bool = True
    ) -> None:
        self.what, self.command, self.port, self.workdir = what, command, port, workdir
        self.log = workdir / f"{what}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.launch()
        if wait:
            self.wait()

    def launch(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir
            )

    def wait(self) -> None:
        """Return once the emulator listens (RuntimeError when it exits or never does)."""
        assert self.proc is not None
        _wait(self.port, self.proc, self.what, self.log)

    def start(self) -> None:
        self.launch()
        self.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def azurite_command() -> str | None:
    local = ROOT / ".tools" / "node_modules" / ".bin" / "azurite-blob"
    return str(local) if local.exists() else shutil.which("azurite-blob")


def emulator_environment(ports: dict[str, int]) -> dict[str, str]:
    """The standard variables each cloud library reads, pointed at the emulators."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3']}",
        "AWS_MAX_ATTEMPTS": "2",
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{ports['gcs']}",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        "AZURE_STORAGE_CONNECTION_STRING": (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{ports['azure']}/{AZURITE_ACCOUNT};"
        ),
    }


SCHEME = {"s3": "s3", "gcs": "gs", "azure": "az"}


def make_bucket(cloud: str, bucket: str) -> None:
    import fsspec

    protocol = {"s3": "s3", "gcs": "gcs", "azure": "az"}[cloud]
    fs = fsspec.filesystem(protocol, skip_instance_cache=True)
    if cloud == "s3":  # moto refuses a bucket without a location constraint outside us-east-1
        fs.mkdir(bucket, region_name=os.environ["AWS_DEFAULT_REGION"])
    else:
        fs.mkdir(bucket)


def missing_emulators() -> str | None:
    """What is not installed among the three emulators, or None when all are."""
    if azurite_command() is None:
        return "Azurite (npm install azurite)"
    for tool in ("moto_server", "gcp-storage-emulator"):
        if not (BIN / tool).exists():
            return f"{tool} (pip install -e '.[dev]')"
    return None


@contextmanager
def running_emulators() -> Iterator[dict[str, Emulator]]:
    """All three emulators on free ports, with os.environ pointed at them until exit.

    Raises RuntimeError naming what is missing when an emulator is not installed (the
    test fixture turns that into a skip, or a failure under CI).
    """
    missing = missing_emulators()
    if missing is not None:
        raise RuntimeError(f"{missing} is not installed; `make test` installs it")
    azurite = azurite_command()
    assert azurite is not None
    work = Path(tempfile.mkdtemp(prefix="polyclass-emulators-"))
    ports = {"s3": free_port(), "gcs": free_port(), "azure": free_port()}
    started: dict[str, Emulator] = {}
    saved = dict(os.environ)
    try:
        started["s3"] = Emulator(
            "moto",
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(ports["s3"])],
            ports["s3"],
            work,
            wait=False,
        )
        started["gcs"] = Emulator(
            "gcs",
            [
                str(BIN / "gcp-storage-emulator"),
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["gcs"]),
                "--in-memory",
            ],
            ports["gcs"],
            work,
            wait=False,
        )
        (work / "azurite").mkdir()
        started["azure"] = Emulator(
            "azurite",
            [
                azurite,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(ports["azure"]),
                "--location",
                str(work / "azurite"),
                "--skipApiVersionCheck",
                "--loose",
            ],
            ports["azure"],
            work,
            wait=False,
        )
        for emulator in started.values():  # the three start side by side
            emulator.wait()
        os.environ.update(emulator_environment(ports))
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)
