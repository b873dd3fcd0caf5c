"""``polyclass serve MODEL``: run the prediction server under uvicorn."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer

from polyclass._cli_errors import fail

__all__ = ["serve_command"]


def serve_command(
    model: str = typer.Argument(
        ...,
        help="What to serve: NAME (latest version), NAME@ALIAS (follows the alias), "
        "NAME:VERSION, or an artifact directory.",
    ),
    registry: str | None = typer.Option(
        None,
        "--registry",
        help="Registry URL or directory (default $POLYCLASS_REGISTRY or ./.polyclass).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (uvicorn)."),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="Bearer tokens, one per line; then /admin/reload and "
        "/feedback need 'Authorization: Bearer <token>'.",
    ),
    log_dir: Path | None = typer.Option(
        None,
        "--log-dir",
        help="Root of the prediction log (<DIR>/logs/<model>/); default "
        "the registry's folder (./.polyclass).",
    ),
    prediction_log: bool = typer.Option(
        True, "--prediction-log/--no-prediction-log", help="Record every prediction."
    ),
    max_body_mb: float = typer.Option(
        10.0, "--max-body-mb", min=0.001, help="Largest request body in MB (413 above)."
    ),
    poll_interval: float = typer.Option(
        5.0,
        "--poll-interval",
        min=0.0,
        help="Seconds between registry look-ups when "
        "following an alias or the latest version; "
        "0 = only on POST /admin/reload.",
    ),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", help="One JSON line per request on stderr."
    ),
    log_rotate_mb: float = typer.Option(
        8.0,
        "--log-rotate-mb",
        min=0.01,
        help="Close a prediction-log segment when its rows "
        "take this many MB in memory (the log's memory "
        "bound is about 3x this).",
    ),
    log_rotate_seconds: float = typer.Option(
        10.0, "--log-rotate-seconds", min=0.01, help="... or when its oldest row is this old."
    ),
    monitor_interval: float = typer.Option(
        60.0,
        "--monitor-interval",
        min=0.0,
        help="Seconds between refreshes of the drift and live-metric gauges on /metrics; 0 = off.",
    ),
    graceful_timeout: float | None = typer.Option(
        None,
        "--graceful-timeout",
        help="Seconds to let in-flight requests finish at "
        "shutdown (default: as long as they take).",
    ),
) -> None:
    """Serve a model over HTTP (Open Inference Protocol v2 and MLflow's /invocations)."""
    import uvicorn

    from polyclass.artifact import ArtifactError
    from polyclass.registry import RegistryError
    from polyclass.serve._app import CONFIG_ENV, ServeConfig, create_app, tune_process
    from polyclass.serve._manager import ModelManager

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
        monitor_interval=monitor_interval,
    )
    try:
        manager = ModelManager(model, registry=registry, poll_interval=poll_interval)
        app = create_app(config, manager=manager)
    except (ArtifactError, RegistryError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
        return
    current = manager.current
    sys.stderr.write(
        f"polyclass serve: {current.name} version {current.version_label} "
        f"from {current.path} on http://{host}:{port} ({workers} worker"
        f"{'s' if workers > 1 else ''})\n"
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_level": "warning",
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
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "polyclass.serve._app:create_app_from_env", factory=True, workers=workers, **options
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
