"""The ASGI application: routes, middleware, and the start and stop of its parts.

``create_app(config)`` loads the model (refusing an artifact whose checksums fail) and
returns a Starlette app. Its lifespan starts the prediction and feedback logs and the
registry poller; at shutdown, after uvicorn has let in-flight requests finish, it
stops polling and flushes the logs, so no answered prediction goes unlogged.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polyclass.predlog import (
    ROTATE_BYTES,
    ROTATE_SECONDS,
    SYNC_SECONDS,
    FeedbackLog,
    PredictionLog,
    log_folder,
)
from polyclass.serve._canary import Router, parse_canary, parse_shadow
from polyclass.serve._endpoints import Endpoints, Logs, json_response
from polyclass.serve._errors import RequestError
from polyclass.serve._lifeline import exit_with_master
from polyclass.serve._manager import ModelManager
from polyclass.serve._metrics import ServerMetrics
from polyclass.serve._monitoring import MonitorGauges
from polyclass.serve._observe import Observe
from polyclass.serve._openapi import docs_page, openapi_document
from polyclass.serve._security import MAX_BODY_BYTES, Tokens, read_tokens
from polyclass.serve._served import ServedModel
from polyclass.serve._shadow import ShadowRunner

__all__ = ["CONFIG_ENV", "ServeConfig", "create_app", "create_app_from_env", "tune_process"]

#: Environment variable carrying the JSON config to each uvicorn worker.
CONFIG_ENV = "POLYCLASS_SERVE_CONFIG"


@dataclass
class ServeConfig:
    """Everything ``polyclass serve`` can be told.

    Parameters
    ----------
    model : str
        ``name``, ``name@alias``, ``name:version`` or an artifact directory.
    registry : str, optional
        Registry URL or directory.
    log_dir : str, optional
        Root of the prediction log (``<log_dir>/logs/<model>/``); default the folder
        holding the registry's artifacts (``./.polyclass``).
    prediction_log : bool
        Record every prediction (default True).
    token_file : str, optional
        Bearer tokens, one per line; admin and feedback routes then need one.
    max_body_bytes : int
        Larger bodies are answered 413.
    poll_interval : float
        Seconds between registry look-ups for a moving reference; 0 = never.
    access_log : bool
        One JSON line per request on stderr.
    rotate_bytes, rotate_seconds : int, float
        Close a prediction-log segment at this size (in memory) or age.
    sync_seconds : float
        The prediction log's durability bound: a kill loses at most the rows answered
        in the last ``sync_seconds``.
    monitor_interval : float
        Seconds between refreshes of the drift and live-metric gauges on ``/metrics``
        (from the prediction log); 0 = no monitoring gauges.
    grpc_port : int, optional
        Also serve the Open Inference Protocol over gRPC on this port (0 = a free one).
    grpc_host : str
        The address gRPC listens on.
    grpc_shared_port : bool
        Several worker processes listen on ``grpc_port`` together (SO_REUSEPORT).
    canary : str, optional
        ``REF=PCT``: another version answers PCT percent of requests (sticky by key).
    shadow : str, optional
        ``REF`` or ``REF=PCT``: another version predicts (a share of) requests off the
        response path; logged, never returned.
    registered : str, optional
        ``name:version`` the artifact directory ``model`` is a copy of (fetched from a
        store): the version the server reports and logs instead of a content hash.
    stores : list of str, optional
        Store URLs a followed ``model`` (``name@alias`` or ``name``) is fetched from into
        the local cache, at start and whenever the reference moves.
    workers : int
        Worker processes serving together; with more than one, ``POST /admin/routing``
        is refused (the split is per process).
    """

    model: str
    registry: str | None = None
    log_dir: str | None = None
    prediction_log: bool = True
    token_file: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    poll_interval: float = 5.0
    access_log: bool = True
    rotate_bytes: int = ROTATE_BYTES
    rotate_seconds: float = ROTATE_SECONDS
    sync_seconds: float = SYNC_SECONDS
    monitor_interval: float = 60.0
    grpc_port: int | None = None
    grpc_host: str = "127.0.0.1"
    grpc_shared_port: bool = False
    canary: str | None = None
    shadow: str | None = None
    registered: str | None = None
    workers: int = 1
    stores: list[str] | None = None

    def to_env(self) -> str:
        """The config as JSON, for :data:`CONFIG_ENV`."""
        return json.dumps(asdict(self))


def _routes(e: Endpoints) -> list[Route]:
    v2m = "/v2/models/{name}"
    v2v = "/v2/models/{name}/versions/{version}"
    return [  # the prediction routes first: the router tries routes in order
        Route("/invocations", e.invocations, methods=["POST"]),
        Route(v2m + "/infer", e.v2_infer, methods=["POST"]),
        Route(v2v + "/infer", e.v2_infer, methods=["POST"]),
        Route("/v2", e.v2_server, methods=["GET"]),
        Route("/v2/health/live", e.v2_live, methods=["GET"]),
        Route("/v2/health/ready", e.v2_ready, methods=["GET"]),
        Route(v2m, e.v2_model, methods=["GET"]),
        Route(v2v, e.v2_model, methods=["GET"]),
        Route(v2m + "/ready", e.v2_model_ready, methods=["GET"]),
        Route(v2v + "/ready", e.v2_model_ready, methods=["GET"]),
        Route("/ping", e.ping, methods=["GET"]),
        Route("/health", e.ping, methods=["GET"]),
        Route("/version", e.version, methods=["GET"]),
        Route("/feedback", e.feedback, methods=["POST"]),
        Route("/admin/reload", e.reload, methods=["POST"]),
        Route("/admin/routing", e.routing, methods=["GET", "POST"]),
        Route("/metrics", e.metrics_route, methods=["GET"]),
        Route("/openapi.json", e.openapi, methods=["GET"]),
        Route("/docs", e.docs, methods=["GET"]),
    ]


async def _request_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestError):  # pragma: no cover - registered for RequestError
        raise exc
    return json_response(exc.body(), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    words = {
        404: f"No route {request.url.path}; see /docs for the routes.",
        405: f"{request.method} is not allowed on {request.url.path}; see /docs.",
    }
    return json_response(
        {
            "error": words.get(status, str(getattr(exc, "detail", exc))),
            "loc": ["path"] if status in (404, 405) else [],
        },
        status,
    )


def _monitor_ref(served: ServedModel) -> str:
    """The registry reference of the served version (its rows only), else its path."""
    if served.version is None:
        return str(served.path)
    return f"{served.name}:{served.version}"


def create_app(
    config: ServeConfig, *, manager: ModelManager | None = None, access_stream: Any = None
) -> Starlette:
    """The server for ``config`` (loads the model now; raises on a bad artifact).

    Examples
    --------
    >>> app = create_app(ServeConfig("out/model"))  # doctest: +SKIP
    """
    manager = manager or ModelManager(
        config.model,
        registry=config.registry,
        poll_interval=config.poll_interval,
        registered=config.registered,
        stores=config.stores or (),
    )
    tokens = Tokens(read_tokens(config.token_file) if config.token_file else None)
    metrics = ServerMetrics()
    logs = Logs()
    document = openapi_document(manager.current)
    endpoints = Endpoints(
        manager, metrics, tokens, logs, config.max_body_bytes, docs_page(document), document
    )
    metrics.set_loaded(manager.current.name, manager.current.version_label, None)

    def on_switch(new: ServedModel, old: ServedModel | None) -> None:
        metrics.set_loaded(
            new.name, new.version_label, old.version_label if old is not None else None
        )
        doc = openapi_document(new)
        endpoints.openapi_bytes = json.dumps(doc).encode()
        endpoints.docs_html = docs_page(doc)

    manager.add_listener(on_switch)
    endpoints.router = _router(config, manager, endpoints)
    endpoints.workers = config.workers

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        shadow_log: dict[str, Any] | None = None
        if config.prediction_log:
            root = Path(config.log_dir) if config.log_dir else manager.log_root()
            folder = log_folder(root, manager.current.name)
            options: dict[str, Any] = {
                "rotate_bytes": config.rotate_bytes,
                "rotate_seconds": config.rotate_seconds,
                "sync_seconds": config.sync_seconds,
                "system_allocator": True,
                "compact_process": True,
            }
            logs.predictions = PredictionLog(folder, **options)
            shadow_log = {"folder": str(folder), "options": {**options, "compact_process": False}}
            logs.feedback = FeedbackLog(folder, **options)
            logs.predictions.on_error = logs.feedback.on_error = lambda _: metrics.log_errors.set(
                _log_errors(logs)
            )  # each failure as it happens
            if config.monitor_interval > 0:
                endpoints.monitor_gauges = MonitorGauges(
                    lambda: _monitor_ref(manager.current),
                    folder,
                    config.registry,
                    config.monitor_interval,
                )
                endpoints.monitor_gauges.start()
        manager.start()
        grpc_server = await _start_grpc(config, endpoints, stream)
        app.state.grpc = grpc_server
        router = endpoints.router
        for other in router.managers[1:] if router is not None else []:
            other.start()
        if router is not None and router.shadow is not None:
            # the shadow's process writes its own segments into the same log folder
            router.shadow.start(shadow_log)
        try:
            yield
        finally:
            endpoints.shutting_down = True
            if grpc_server is not None:
                await grpc_server.stop()
            manager.stop()
            if router is not None:
                if router.shadow is not None:
                    router.shadow.stop()  # its queued rows are logged before the log closes
                for other in router.managers[1:]:
                    other.stop()
            if endpoints.monitor_gauges is not None:
                endpoints.monitor_gauges.stop()
            for log in (logs.predictions, logs.feedback):
                if log is not None:
                    log.close()

    stream = (
        access_stream if access_stream is not None else (sys.stderr if config.access_log else None)
    )
    middleware = [
        Middleware(
            Observe,
            metrics=metrics,
            version=lambda: manager.current.version_label,
            max_body=config.max_body_bytes,
            access_log=stream,
        )
    ]
    app = Starlette(
        routes=_routes(endpoints),
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={RequestError: _request_error, HTTPException: _http_error},
    )
    app.state.endpoints = endpoints
    app.state.manager = manager
    app.state.logs = logs
    return app


def _log_errors(logs: Logs) -> int:
    """Failed writes of this process's prediction and feedback logs."""
    return sum(log.errors for log in (logs.predictions, logs.feedback) if log is not None)


async def _start_grpc(config: ServeConfig, endpoints: Endpoints, stream: Any) -> Any:
    """The gRPC server on ``config.grpc_port``, started; None when there is none."""
    if config.grpc_port is None:
        return None
    from polyclass.serve._grpc_server import GrpcServer

    server = GrpcServer(
        endpoints,
        config.grpc_host,
        config.grpc_port,
        shared_port=config.grpc_shared_port,
        access_log=stream,
    )
    await server.start()
    return server


def _router(config: ServeConfig, manager: ModelManager, endpoints: Endpoints) -> Router | None:
    """The canary and shadow versions of ``config`` (each loaded now), or None."""
    if config.canary is None and config.shadow is None:
        return None

    def follow(ref: str) -> ModelManager:
        other = ModelManager(ref, registry=config.registry, poll_interval=config.poll_interval)
        if other.current.name != manager.current.name:
            raise ValueError(
                f"{ref} is model {other.current.name!r} but this server serves "
                f"{manager.current.name!r}; a canary or shadow is another version of the "
                "served model (e.g. NAME@challenger or NAME:3)."
            )
        return other

    served = manager.current.version_label
    canary, percent, shadow = None, 0.0, None
    if config.canary is not None:
        ref, percent = parse_canary(config.canary)
        canary = follow(ref)
        _check_other(f"--canary {ref}", canary, served)
    if config.shadow is not None:
        ref, share = parse_shadow(config.shadow)
        other = follow(ref)
        _check_other(f"--shadow {ref}", other, served)
        if canary is not None and other.current.version_label == canary.current.version_label:
            raise ValueError(
                f"--shadow {ref} is version {other.current.version_label}, the canary's "
                "version: its agreement would count answers it gave itself; shadow "
                "another version, or drop --shadow."
            )
        shadow = ShadowRunner(other, share, metrics=endpoints.metrics)
    router = Router(manager, canary, percent, shadow)
    _announce_swaps(router)
    return router


def _announce_swaps(router: Router) -> None:
    """One stderr line per version swap of the served, canary or shadow reference, so an
    operator sees which version now takes which traffic (and when two coincide)."""
    roles = [("served", router.primary)]
    if router.canary is not None:
        roles.append(("canary", router.canary))
    if router.shadow is not None:
        roles.append(("shadow", router.shadow.manager))

    def listener(role: str, ref: str) -> Any:
        def on_switch(new: ServedModel, old: ServedModel | None) -> None:
            was = f" (was {old.version_label})" if old is not None else ""
            same = [
                r for r, m in roles if r != role and m.current.version_label == new.version_label
            ]
            note = f"; now the same version as the {' and '.join(same)}" if same else ""
            sys.stderr.write(
                f"polyclass serve: {role} {ref} -> version {new.version_label}{was}{note}\n"
            )

        return on_switch

    for role, manager in roles:
        manager.add_listener(listener(role, manager.ref))


def _check_other(option: str, other: ModelManager, served: str) -> None:
    """Refuse a canary or shadow that resolves to the served version itself."""
    if other.current.version_label == served:
        other.stop()
        raise ValueError(
            f"{option} resolves to version {served}, the version served; pass another "
            "version (e.g. NAME@challenger or NAME:N)."
        )


def create_app_from_env() -> Starlette:
    """The app for a uvicorn worker, configured by :data:`CONFIG_ENV` (JSON)."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{CONFIG_ENV} is not set; start the server with `polyclass serve`.")
    exit_with_master()
    app = create_app(ServeConfig(**json.loads(raw)))
    tune_process()
    return app


#: Modules otherwise loaded after start (the JSON fast path's parser at the first request,
#: pyarrow by the log writer): loaded before the freeze, their objects are frozen too
#: (loaded after it, they made each full collection long).
_PRELOAD = ("simdjson", "pyarrow", "pyarrow.compute", "pyarrow.parquet")

#: Young-generation threshold of the server's garbage collector (CPython's default is 700).
GC_THRESHOLD0 = 10_000
#: Seconds a thread may hold the GIL while another waits (CPython's default is 0.005).
SWITCH_INTERVAL = 0.0005


def tune_process() -> None:
    """Garbage-collector and GIL settings for a server process, once its app is built.

    Everything loaded so far (modules, the model, and the modules of ``_PRELOAD``) is
    frozen out of collections (a full collection scanned them all and paused requests),
    and the young generation is
    collected every 10,000 container allocations instead of 700: a 1,000-row JSON request
    alone makes 1,000 lists, which triggered a collection per request. Requests free their
    objects by reference counting; only cyclic garbage waits. (At 50,000, one young
    collection of the buffered log entries paused requests.)

    The GIL switch interval is a tenth of Python's default: the prediction log's writer
    thread shares the GIL with the request thread, and each time a request's NumPy call
    let go of the GIL, the writer could keep it for a whole default interval.

    Called by ``polyclass serve`` and each worker, not by :func:`create_app` (tests
    build many apps in one process).
    """
    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD0, gen1, gen2)
    sys.setswitchinterval(SWITCH_INTERVAL)
