"""The Open Inference Protocol part of bench_serve.py: polyclass against MLServer.

MLServer (``mlserver`` + ``mlserver-sklearn``, the reference OIP server) pins its own
dependencies, so it lives in a virtual environment of its own under ``.bench/mlserver``
(git-ignored; made on first use with ``python3 -m venv`` and pip) and runs as a
subprocess. It serves the same scikit-learn pipeline MLflow serves (StandardScaler +
LogisticRegression, saved with joblib), in one process (``parallel_workers: 0``: no
inference pool, the fastest setting for a small model), and answers both outputs
(``predict`` and ``predict_proba``), as polyclass answers ``label`` and
``probabilities``.

Paths, each with one-row and 1,000-row requests of one FP64 tensor ``[n, 20]``:

* REST JSON (``wrk``, as the MLflow part);
* REST binary: the binary tensor extension (``Inference-Header-Content-Length``), inputs
  and outputs in binary. MLServer does not implement the extension; its column shows
  MLServer's REST JSON, which is what a client of MLServer sends instead;
* gRPC with ``raw_input_contents``: ``h2load`` (``apt-get install nghttp2-client``), a
  C HTTP/2 client, sends the serialized request on one connection with 16 calls in flight
  (4 for 1,000 rows), as wrk does for REST (a Python gRPC client spent as much CPU per
  call as the server it measured).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench" / "mlserver"
MLSERVER_PACKAGES = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1"]
MODEL = "sklearn-bench"
SIZES = (1, 1000)


def mlserver_executable(given: str | None) -> str:
    """The ``mlserver`` executable: ``given``, else the bench venv's (made when missing)."""
    if given:
        return given
    exe = VENV / "bin" / "mlserver"
    if not exe.exists():
        print(f"installing {' and '.join(MLSERVER_PACKAGES)} into {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "--quiet", *MLSERVER_PACKAGES], check=True
        )
    return str(exe)


def save_mlserver_model(exe: str, X: np.ndarray, y: np.ndarray, out: Path) -> Path:
    """Fit the scikit-learn pipeline with MLServer's Python and write its model folder."""
    folder = out / "mlserver-models" / MODEL
    folder.mkdir(parents=True)
    np.save(out / "X.npy", X)
    np.save(out / "y.npy", y)
    script = f"""
import joblib, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X = np.load({str(out / "X.npy")!r}); y = np.load({str(out / "y.npy")!r})
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
joblib.dump(model, {str(folder / "model.joblib")!r})
"""
    subprocess.run([str(Path(exe).parent / "python"), "-c", script], check=True)
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1"},
            }
        )
    )
    return folder.parent


def mlserver_argv(exe: str, models: Path, http_port: int, grpc_port: int) -> list[str]:
    """The command line of MLServer on these ports, one process, no metrics server."""
    settings = {
        "http_port": http_port,
        "grpc_port": grpc_port,
        "host": "127.0.0.1",
        "parallel_workers": 0,
        "metrics_endpoint": None,
        "debug": False,
        "gzip_enabled": False,  # no client here asks for gzip: one middleware less
    }
    (models / "settings.json").write_text(json.dumps(settings))
    return [exe, "start", str(models)]


# ----------------------------------------------------------------------- bodies
def rest_json(X: np.ndarray, n: int, name: str, outputs: list[str] | None) -> bytes:
    """One FP64 tensor ``[n, 20]`` as a JSON infer request (flat data)."""
    body: dict[str, Any] = {
        "inputs": [
            {
                "name": name,
                "shape": [n, X.shape[1]],
                "datatype": "FP64",
                "data": np.round(X[:n], 6).ravel().tolist(),
            }
        ]
    }
    if outputs:
        body["outputs"] = [{"name": o} for o in outputs]
    return json.dumps(body).encode()


def rest_binary(X: np.ndarray, n: int, name: str) -> tuple[bytes, int]:
    """The same tensor in the binary extension, every output asked in binary."""
    raw = np.ascontiguousarray(np.round(X[:n], 6), dtype="<f8").tobytes()
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": [n, X.shape[1]],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    return head + raw, len(head)


def grpc_request(X: np.ndarray, n: int, model: str, outputs: list[str] | None) -> bytes:
    """A serialized ModelInferRequest with the tensor in raw_input_contents."""
    from polyclass.serve._grpc_proto import messages

    m = messages()
    request = m["ModelInferRequest"](model_name=model)
    request.inputs.add(name="input-0", datatype="FP64", shape=[n, X.shape[1]])
    request.raw_input_contents.append(
        np.ascontiguousarray(np.round(X[:n], 6), dtype="<f8").tobytes()
    )
    for name in outputs or []:
        request.outputs.add(name=name)
    return bytes(request.SerializeToString())


def check_grpc(target: str, body: bytes, n: int | None) -> None:
    """One call; the answer must hold n labels and n x 5 probabilities (any n: None)."""
    import grpc

    from polyclass.serve._grpc_proto import SERVICE, messages

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(f"/{SERVICE}/ModelInfer")
        response = messages()["ModelInferResponse"].FromString(call(body, timeout=60))
    shapes = sorted(tuple(o.shape) for o in response.outputs)
    n = shapes[0][0] if n is None and shapes else n
    if sorted(int(np.prod(s)) for s in shapes) != [
        n,
        5 * (n or 0),
    ]:  # labels ([n] or [n, 1]), 5 classes
        raise RuntimeError(f"{target} answered outputs of shapes {shapes}")


# ------------------------------------------------------------------------ load
def h2load_grpc(
    target: str, body: bytes, *, streams: int, duration: float, workdir: Path
) -> dict[str, float]:
    """gRPC load from ``h2load`` (nghttp2's HTTP/2 client, in C): one connection with
    ``streams`` calls in flight, each the serialized request in gRPC's framing.

    h2load sees HTTP statuses, not gRPC's (which travel in trailers): the warm-up checks
    each server's answer to the same bytes, and a call after the run checks it again.
    """
    from polyclass.serve._grpc_proto import SERVICE

    framed = workdir / "grpc.bin"
    framed.write_bytes(b"\x00" + len(body).to_bytes(4, "big") + body)
    log = workdir / "h2load.log"
    log.unlink(missing_ok=True)
    argv = ["h2load", "-D", str(max(1, round(duration))), "-c", "1", "-m", str(streams)]
    argv += ["-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(framed)]
    argv += ["--log-file", str(log), f"http://{target}/{SERVICE}/ModelInfer"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    done = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    failed = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if done is None or failed is None:
        raise RuntimeError(f"h2load said:\n{out}")
    ms = np.loadtxt(log, usecols=2, ndmin=1) / 1000  # per request, microseconds
    check_grpc(target, body, None)
    return {
        "rps": float(done.group(2)),
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "non2xx": float(sum(int(g) for g in failed.groups())),
        "socket_errors": 0.0,
        "seconds": float(done.group(1)),
    }


# --------------------------------------------------------------------- measure
PATHS = ("json", "binary", "grpc")
LABELS = {"json": "REST JSON", "binary": "REST binary", "grpc": "gRPC"}


def oip_payloads(X: np.ndarray, model: str, *, ours: bool) -> dict[str, Any]:
    """Every path's bodies for one server (MLServer: outputs named, no binary extension)."""
    outputs = None if ours else ["predict", "predict_proba"]
    payloads: dict[str, Any] = {
        "json": {n: rest_json(X, n, "input-0", outputs) for n in SIZES},
        "grpc": {n: grpc_request(X, n, model, outputs) for n in SIZES},
    }
    payloads["binary"] = (
        {n: rest_binary(X, n, "input-0") for n in SIZES} if ours else payloads["json"]
    )
    return payloads


def measure_oip(
    servers: list[tuple[Any, str, str, dict[str, Any]]],
    duration: float,
    workdir: Path,
    wrk: Any,
    step: Any,
    rounds: int = 1,
) -> list[dict[str, Any]]:
    """Each path and size on every server in turn (server, infer URL, gRPC target, bodies);
    ``wrk`` and ``step`` are bench_serve's load run and CPU accounting.

    With several ``rounds`` (the whole sequence again), each figure is the median of its
    rounds and ``per_round`` keeps every round's requests/s, so that a ratio can be taken
    within each round (servers measured next to each other) before the median.
    """
    results: list[dict[str, Any]] = [{} for _ in servers]
    for _ in range(rounds):
        _measure_round(servers, duration, workdir, wrk, step, results)
    for res in results:
        for key, runs in res.items():
            merged = {f: float(np.median([r[f] for r in runs])) for f in runs[0]}
            for f in ("non2xx", "socket_errors"):  # a failure in any round is reported
                merged[f] = float(sum(r[f] for r in runs))
            merged["per_round"] = [r["rps"] for r in runs]
            res[key] = merged
    return results


def _measure_round(
    servers: list[tuple[Any, str, str, dict[str, Any]]],
    duration: float,
    workdir: Path,
    wrk: Any,
    step: Any,
    results: list[dict[str, Any]],
) -> None:
    for path in PATHS:
        for n in SIZES:
            connections = 16 if n == 1 else 4
            for (server, url, target, bodies), res in zip(servers, results, strict=True):
                body = bodies[path][n]

                def run(
                    server: Any = server,
                    url: str = url,
                    target: str = target,
                    body: Any = body,
                    path: str = path,
                    connections: int = connections,
                ) -> dict[str, float]:
                    if path == "grpc":
                        return h2load_grpc(
                            target, body, streams=connections, duration=duration, workdir=workdir
                        )
                    if isinstance(body, tuple):  # the binary extension: body and JSON length
                        return wrk(
                            url,
                            body[0],
                            connections=connections,
                            duration=duration,
                            workdir=workdir,
                            headers={"Inference-Header-Content-Length": str(body[1])},
                            content_type="application/octet-stream",
                        )
                    return wrk(
                        url, body, connections=connections, duration=duration, workdir=workdir
                    )

                res.setdefault(f"{path}{n}", []).append(step(server, run))


def warm_up_oip(servers: list[tuple[Any, str, str, dict[str, Any]]], workdir: Path) -> None:
    """One good answer per path and size from every server, then a second of load."""
    import httpx

    for server, url, target, bodies in servers:
        for path in PATHS:
            for n in SIZES:
                body = bodies[path][n]
                if path == "grpc":
                    check_grpc(target, body, n)
                    h2load_grpc(target, body, streams=4, duration=1, workdir=workdir)
                    continue
                content, headers = (body, {"content-type": "application/json"})
                if isinstance(body, tuple):
                    content = body[0]
                    headers = {"Inference-Header-Content-Length": str(body[1])}
                r = httpx.post(url, content=content, headers=headers, timeout=60)
                if r.status_code != 200:
                    raise RuntimeError(
                        f"{server.name} refused {path} {n}: {r.status_code} {r.text[:300]}"
                    )


def report_oip(
    ours: dict[str, Any], bare: dict[str, Any] | None, theirs: dict[str, Any] | None
) -> None:
    """The OIP table: each path against MLServer (target 3x), polyclass as shipped and
    without its prediction log (``bare``: MLServer logs nothing), and gRPC rows/s against
    our own REST JSON's (target 2x)."""
    print(
        f"\n{'OIP measure':40s} {'polyclass':>10s} {'no log':>10s} {'mlserver':>10s} "
        f"{'ratio':>7s} {'no log':>7s}  target"
    )

    def cell(res: dict[str, Any] | None, key: str, field: str, digits: int) -> str:
        return "-" if res is None else f"{res[key][field]:.{digits}f}"

    def ratio(res: dict[str, Any] | None, key: str) -> str:
        if res is None or theirs is None or not all(theirs[key]["per_round"]):
            return "-"
        pairs = zip(res[key]["per_round"], theirs[key]["per_round"], strict=True)
        return f"{np.median([a / b for a, b in pairs]):.1f}x"

    for path in PATHS:
        for n in SIZES:
            key = f"{path}{n}"
            rows = "1 row" if n == 1 else "1,000 rows"
            note = " (mlserver: its REST JSON)" if path == "binary" else ""
            for field, what, digits in (
                ("rps", "requests/s", 0),
                ("p99", "p99 ms", 2),
                ("cpu_ms", "CPU ms/request", 3),
                ("cpu_run_ms", "CPU ms/request, in the run", 3),
                ("switches", "context switches/request", 1),
                ("client_cores", "load client's CPU, cores", 2),
            ):
                values = [cell(res, key, field, digits) for res in (ours, bare, theirs)]
                line = f"{f'{LABELS[path]}, {rows}, {what}':40s} " + " ".join(
                    f"{v:>10s}" for v in values
                )
                if field == "rps":
                    line += f" {ratio(ours, key):>7s} {ratio(bare, key):>7s}  >= 3x{note}"
                print(line)
    for name, res in (("polyclass", ours), ("polyclass, no log", bare)):
        if res is None:
            continue
        grpc_rows = res["grpc1000"]["rps"] * 1000
        json_rows = res["json1000"]["rps"] * 1000
        pairs = zip(res["grpc1000"]["per_round"], res["json1000"]["per_round"], strict=True)
        print(
            f"1,000-row gRPC rows/s {grpc_rows:.0f} vs REST JSON {json_rows:.0f} ({name}): "
            f"{np.median([a / b for a, b in pairs]):.1f}x, target >= 2x"
        )
    for name, res in (("polyclass", ours), ("polyclass, no log", bare), ("mlserver", theirs)):
        if res and any(v["non2xx"] + v["socket_errors"] for v in res.values()):
            print(f"warning: {name} had failed requests under load in the OIP part")
