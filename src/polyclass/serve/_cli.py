"""``polyclass serve MODEL``: run the prediction server under uvicorn."""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from polyclass._cli_errors import fail

__all__ = ["serve_command"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` counts; other names do not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_open_routes(host: str, token_file: Path | None, insecure: bool) -> None:
    """Refuse /feedback and /admin/reload open to a network."""
    if token_file is None and not is_loopback(host) and not insecure:
        fail(
            f"--host {host} would open POST /feedback and POST /admin/reload to anyone "
            "who can reach this address (wrong labels, forced reloads). Pass "
            "--token-file with bearer tokens, or --insecure if the network is trusted."
        )


def _warn_open_routes(host: str, token_file: Path | None) -> None:
    """Warn when /feedback and /admin/reload are open (on loopback, or --insecure)."""
    if token_file is None:
        sys.stderr.write(
            f"polyclass serve: warning: no --token-file: anyone who can reach {host} can "
            "post /feedback and /admin/reload.\n"
        )


def serve_command(
    model: Annotated[
        str,
        typer.Argument(
            help="What to serve: NAME (latest version), NAME@ALIAS (follows the alias), "
            "NAME:VERSION, or an artifact directory.",
        ),
    ],
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry URL or directory (default $POLYCLASS_REGISTRY or ./.polyclass)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Also serve the Open Inference Protocol over gRPC on this port (same "
            "--host, model, limits, metrics and prediction log).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (uvicorn).")] = 1,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="Bearer tokens, one per line; then /admin/reload and /feedback need "
            "'Authorization: Bearer <token>'. Required off loopback unless --insecure.",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Listen on a non-loopback --host without --token-file: /feedback and "
            "/admin/reload are then open to anyone who can reach it.",
        ),
    ] = False,
    log_dir: Annotated[
        Path | None,
        typer.Option(
            help="Root of the prediction log (<DIR>/logs/<model>/); default the "
            "registry's folder (./.polyclass).",
        ),
    ] = None,
    prediction_log: Annotated[
        bool, typer.Option("--prediction-log/--no-prediction-log", help="Record every prediction.")
    ] = True,
    max_body_mb: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="Largest request body (and gRPC message) in MiB of 1,048,576 bytes (413 above).",
        ),
    ] = 10.0,
    poll_interval: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds between registry look-ups when following an alias or the latest "
            "version; 0 = only on POST /admin/reload.",
        ),
    ] = 5.0,
    access_log: Annotated[
        bool,
        typer.Option("--access-log/--no-access-log", help="One JSON line per request on stderr."),
    ] = True,
    log_rotate_mb: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="Close a prediction-log segment when its rows take this many MB in memory "
            "(the log's memory bound is about 3x this; while its disk cannot be written, "
            "requests get 503 once 2x this is held).",
        ),
    ] = 8.0,
    log_rotate_seconds: Annotated[
        float, typer.Option(min=0.01, help="... or when its oldest row is this old.")
    ] = 10.0,
    log_sync_seconds: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="Durability bound of the prediction log: a kill or power cut loses at "
            "most the rows answered in the last this many seconds.",
        ),
    ] = 1.0,
    monitor_interval: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds between refreshes of the drift and live-metric gauges on "
            "/metrics; 0 = off.",
        ),
    ] = 60.0,
    header_timeout: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="Seconds a client has to send a request's headers (408, then closed).",
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option(
            min=0.01, help="Seconds a client may pause while sending a body (408, then closed)."
        ),
    ] = 10.0,
    keep_alive_timeout: Annotated[
        float,
        typer.Option(min=0.01, help="Seconds an idle connection stays open between requests."),
    ] = 5.0,
    graceful_timeout: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="At SIGTERM, seconds in-flight requests get to finish before they are "
            "cancelled; every answered row is logged either way.",
        ),
    ] = 20.0,
    canary: Annotated[
        str | None,
        typer.Option(
            help="REF=PCT: version REF answers PCT percent of requests, sticky by the "
            "X-Routing-Key header (else the request id), over HTTP and gRPC. POST "
            "/admin/routing changes PCT live with one worker only (409 with --workers > 1).",
        ),
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            help="REF or REF=PCT: version REF also predicts (PCT percent of) requests off "
            "the response path; logged under its version, never returned.",
        ),
    ] = None,
    store: Annotated[
        list[str] | None,
        typer.Option(
            help="Download MODEL from this store URL into the local cache first "
            "(repeatable, in order of preference; MODEL may also be a replica URL). "
            "NAME@ALIAS and NAME are still followed: when the registry moves them, the "
            "new version is fetched from the store and swapped in.",
        ),
    ] = None,
) -> None:
    """Serve a model over HTTP (Open Inference Protocol v2 and MLflow's /invocations)."""
    import uvicorn

    from polyclass.artifact import ArtifactError
    from polyclass.cloud import CloudError
    from polyclass.registry import RegistryError
    from polyclass.serve._app import CONFIG_ENV, ServeConfig, create_app, tune_process
    from polyclass.serve._lifeline import MASTER_ENV
    from polyclass.serve._manager import ModelManager
    from polyclass.serve._timeouts import timed_protocol

    _check_open_routes(host, token_file, insecure)
    _check_port(host, port)  # before the warning: a taken port is the one line printed
    _warn_open_routes(host, token_file)
    if grpc_port is not None:
        _check_grpc_port(host, port, grpc_port)
    registered = None
    stores: list[str] = []
    if store and _follows(model):
        stores = store  # the manager resolves the reference at every poll, fetches NAME:N
    elif store or "://" in model:
        registered = None if "://" in model else _registered(model, registry)
        model = _from_store(registered or model, store or [], registry)
    elif not Path(model).exists():
        model = _replica_if_missing(model, registry)
    config = ServeConfig(
        model=model,
        registry=registry,
        log_dir=str(log_dir) if log_dir else None,
        prediction_log=prediction_log,
        token_file=str(token_file) if token_file else None,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        poll_interval=poll_interval,
        access_log=access_log,
        rotate_bytes=int(log_rotate_mb * 1024 * 1024),
        rotate_seconds=log_rotate_seconds,
        sync_seconds=log_sync_seconds,
        monitor_interval=monitor_interval,
        grpc_port=grpc_port,
        grpc_host=host,
        grpc_shared_port=workers > 1,
        canary=canary,
        shadow=shadow,
        registered=registered,
        workers=workers,
        stores=stores or None,
    )
    try:
        manager = ModelManager(
            model,
            registry=registry,
            poll_interval=poll_interval,
            registered=registered,
            stores=stores,
        )
        app = create_app(config, manager=manager)
    except (ArtifactError, RegistryError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    except CloudError as exc:  # no store holds a whole copy
        fail(str(exc), 1)
    current = manager.current
    sys.stderr.write(
        f"polyclass serve: {current.name} version {current.version_label} "
        f"from {current.path} on http://{host}:{port}"
        f"{f' and grpc://{host}:{grpc_port}' if grpc_port is not None else ''} ({workers} "
        f"worker{'s' if workers > 1 else ''})\n"
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_level": "warning",
        "http": timed_protocol(header_timeout, body_timeout),
        "timeout_keep_alive": keep_alive_timeout,
        "timeout_graceful_shutdown": graceful_timeout,
        "server_header": False,
    }
    if workers == 1:
        tune_process()
        uvicorn.run(app, **options)
        return
    manager.stop()
    metrics_dir = tempfile.mkdtemp(prefix="polyclass-metrics-")
    os.environ[CONFIG_ENV] = config.to_env()
    os.environ[MASTER_ENV] = str(os.getpid())  # workers stop when this process dies
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "polyclass.serve._app:create_app_from_env", factory=True, workers=workers, **options
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on (uvicorn printed a log line and exit 3)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            fail(
                f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another --port, "
                "or stop the process that holds it."
            )


def _check_grpc_port(host: str, port: int, grpc_port: int) -> None:
    """Refuse a gRPC port equal to the HTTP one, taken, or without grpcio installed."""
    import socket

    if grpc_port == port:
        fail(f"--grpc-port {grpc_port} is also --port; give gRPC a port of its own.")
    try:
        import grpc  # noqa: F401
    except ImportError:
        fail("--grpc-port needs grpcio: pip install 'polyclass[grpc]'.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), grpc_port))
        except OSError as exc:
            fail(
                f"Cannot listen for gRPC on {host}:{grpc_port}: {exc.strerror}. "
                "Choose another --grpc-port."
            )


def _replica_if_missing(model: str, registry: str | None) -> str:
    """``model``, or a recorded replica's copy when the registry's artifact is missing."""
    from polyclass.cloud import CloudError, fetch_recorded
    from polyclass.registry import Registry, RegistryError

    try:
        with Registry(registry) as reg:
            version = reg.resolve(model)
    except RegistryError:
        return model  # the model manager reports it
    if Path(version.path).exists():
        return model  # served from the registry, following its aliases
    try:
        return str(fetch_recorded(version, registry))
    except CloudError as exc:
        fail(str(exc), 1)


def _follows(model: str) -> bool:
    """Whether ``model`` is a registry reference that can move (``NAME@ALIAS``, ``NAME``)."""
    from polyclass.registry import RegistryError, parse_ref

    if "://" in model:
        return False
    try:
        ref = parse_ref(model)
    except RegistryError:
        return False  # _registered reports it
    return ref.kind != "version" or ref.version is None


def _registered(model: str, registry: str | None) -> str:
    """``name:version`` a registry reference served from a store stands for."""
    from polyclass.registry import RegistryError, parse_ref

    try:
        ref = parse_ref(model)
        if ref.version is not None:  # NAME:N needs no registry (nor SQLAlchemy), as fetch does
            return f"{ref.name}:{ref.version}"
        from polyclass.registry import Registry

        with Registry(registry) as reg:
            version = reg.resolve(model)
    except RegistryError as exc:
        fail(str(exc))
    return f"{version.name}:{version.version}"


def _from_store(model: str, stores: list[str], registry: str | None) -> str:
    """The local artifact directory of ``model`` fetched from the first good store."""
    from polyclass.cloud import CloudError, UsageError, fetch
    from polyclass.registry import RegistryError

    try:
        return str(fetch(model, stores, registry=registry))
    except (UsageError, RegistryError) as exc:
        fail(str(exc))
    except CloudError as exc:
        fail(str(exc), 1)
