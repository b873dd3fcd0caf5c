"""Shared parts of the serve tests: a trained penguins registry and real server processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROW: dict[str, Any] = {
    "island": "Dream",
    "bill_length_mm": 40.1,
    "bill_depth_mm": 18.0,
    "flipper_length_mm": 190.0,
    "body_mass_g": 3800.0,
    "sex": "male",
    "year": 2008,
}
ROW2: dict[str, Any] = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 14.8,
    "flipper_length_mm": 217.0,
    "body_mass_g": 5200.0,
    "sex": None,
    "year": 2009,
}


@dataclass(frozen=True)
class Trained:
    """A registry holding penguins v1 (trained) and v2 (v1 with scaled coefficients)."""

    registry: Path
    model_dir: Path  # v1's artifact outside the registry
    v2_dir: Path


def trained_registry(base: Path) -> Trained:
    """Train penguins once into ``base`` (reused when already there)."""
    import polyclass
    import polyclass.datasets
    from polyclass.model import Model
    from polyclass.registry import Registry

    registry = base / "registry"
    out = base / "out"
    v2_dir = base / "v2"
    if not (registry / "registry.db").exists():
        polyclass.train(
            data=polyclass.datasets.penguins_path(),
            target="species",
            out=out,
            registry=str(registry),
            name="penguins",
            C=[1.0],
            class_weight=["none"],
            cv=2,
            n_bootstrap=50,
            strategies=["multinomial"],
            families=["linear"],
        )
        model = Model.load(out / "model")
        model.estimator.coef_ = model.estimator.coef_ * 0.3  # a different, still sane model
        model.save(v2_dir)
        with Registry(str(registry)) as reg:
            reg.register("penguins", v2_dir)
            reg.promote("penguins", 1)
    return Trained(registry=registry, model_dir=out / "model", v2_dir=v2_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def oip_inputs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One OIP tensor per column."""
    out = []
    for name in ROW:
        values = [r[name] for r in rows]
        datatype = "BYTES" if name in ("island", "sex") else "FP64"
        out.append({"name": name, "shape": [len(rows)], "datatype": datatype, "data": values})
    return out


class ServerProcess:
    """``polyclass serve ...`` on 127.0.0.1 and a free port, stopped with SIGTERM."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = cwd / f"server-{self.port}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        full_env = {**os.environ, **(env or {})}
        full_env.pop("POLYCLASS_REGISTRY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "polyclass.cli", "serve", *args, "--port", str(self.port)],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=full_env,
        )

    def wait_ready(self, timeout: float = 90.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.stderr}")
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1.0).status_code == 200:
                    return time.monotonic() - start
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.stderr}")

    @property
    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        return int(self.proc.returncode)


def read_log(folder: Path) -> Any:
    """All prediction-log segments under ``folder`` as one pyarrow table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(folder.glob("part-*.parquet"))
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def expected_proba(model_dir: Path, rows: list[dict[str, Any]]) -> np.ndarray:
    """The reference probabilities from polyclass.load (scikit-learn-backed estimator)."""
    import polyclass

    return np.asarray(polyclass.load(model_dir).predict_proba(rows))
