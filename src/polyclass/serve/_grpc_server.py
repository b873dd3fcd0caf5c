"""The Open Inference Protocol over gRPC, served beside HTTP in the same process.

:class:`GrpcServer` runs ``inference.GRPCInferenceService`` (``grpc.aio``) on the event
loop of the HTTP server, started and stopped by the app's lifespan. It shares the HTTP
side's parts (:class:`~polyclass.serve._endpoints.Endpoints`): the served model and its
hot swap, the request-size limit, the tokens, the Prometheus metrics and the prediction
log. Every call is answered: a bad request gets the status code the protocol gives it
(``INVALID_ARGUMENT``, ``NOT_FOUND``, ``UNAUTHENTICATED``, ``RESOURCE_EXHAUSTED``) and a
message naming the problem and its place; an unexpected error is ``INTERNAL``, logged
with its traceback, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import grpc
import orjson

from polyclass import __version__
from polyclass.serve._canary import ROUTING_HEADER
from polyclass.serve._endpoints import Endpoints
from polyclass.serve._errors import RequestError, not_found, unprocessable
from polyclass.serve._grpc_infer import infer_response, infer_table, requested_outputs
from polyclass.serve._grpc_proto import SERVICE, messages
from polyclass.serve._protocol_v2 import model_metadata, server_metadata
from polyclass.serve._served import ServedModel

__all__ = ["GRACE_SECONDS", "GrpcServer"]

#: Seconds in-flight calls get to finish when the server stops.
GRACE_SECONDS = 5.0

_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}

Handler = Callable[[Any, Any, str], Awaitable[Any]]


def _place(loc: list[str | int]) -> str:
    """``["inputs", 0, "shape"]`` as ``inputs[0].shape``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class GrpcServer:
    """The gRPC side of one server process.

    Parameters
    ----------
    endpoints : Endpoints
        The HTTP side's shared parts.
    host, port : str, int
        Where to listen; port 0 takes a free one (see :attr:`port` once started).
    shared_port : bool
        Let several worker processes listen on the same port (``SO_REUSEPORT``); off
        for one process, so a port taken by another program is an error.
    access_log : TextIO, optional
        Where to write one JSON line per call.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        host: str,
        port: int,
        *,
        shared_port: bool = False,
        access_log: TextIO | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.shared_port = shared_port
        self.access_log = access_log
        self.port = port
        self.messages = messages()
        self._server: Any = None
        self._prefix = "grpc-" + uuid.uuid4().hex[:15]
        self._count = 0

    # ----------------------------------------------------------------- running
    async def start(self) -> None:
        """Listen and serve (on the running event loop); raise when the port is taken."""
        limit = self.endpoints.max_body
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 1 if self.shared_port else 0),
            ]
        )
        server.add_generic_rpc_handlers((self._handlers(),))
        try:
            port = server.add_insecure_port(self.address)
        except RuntimeError as exc:
            port = 0
            reason = str(exc)
        else:
            reason = ""
        if port == 0:
            raise OSError(
                f"Cannot listen for gRPC on {self.address}: the port is taken or the address "
                f"is not this machine's. Choose another --grpc-port. {reason}".rstrip()
            )
        self.port = port
        await server.start()
        self._server = server

    async def stop(self, grace: float = GRACE_SECONDS) -> None:
        """Stop taking calls; those in flight get ``grace`` seconds to finish."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    # ---------------------------------------------------------------- handlers
    def _handlers(self) -> Any:
        m = self.messages
        calls: dict[str, tuple[Handler, str, str]] = {
            "ServerLive": (self._server_live, "ServerLiveRequest", "ServerLiveResponse"),
            "ServerReady": (self._server_ready, "ServerReadyRequest", "ServerReadyResponse"),
            "ModelReady": (self._model_ready, "ModelReadyRequest", "ModelReadyResponse"),
            "ServerMetadata": (
                self._server_metadata,
                "ServerMetadataRequest",
                "ServerMetadataResponse",
            ),
            "ModelMetadata": (
                self._model_metadata,
                "ModelMetadataRequest",
                "ModelMetadataResponse",
            ),
            "ModelInfer": (self._model_infer, "ModelInferRequest", "ModelInferResponse"),
            "RepositoryModelLoad": (
                self._repository_model_load,
                "RepositoryModelLoadRequest",
                "RepositoryModelLoadResponse",
            ),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                method: grpc.unary_unary_rpc_method_handler(
                    self._observed(method, handler),
                    request_deserializer=m[request].FromString,
                    response_serializer=m[response].SerializeToString,
                )
                for method, (handler, request, response) in calls.items()
            },
        )

    def _request_id(self, request: Any, context: Any) -> str:
        """The call's id: ModelInferRequest.id (the protocol's own, what tritonclient's
        ``request_id`` sets), else the ``x-request-id`` metadata, else a new one."""
        own = getattr(request, "id", "")
        if isinstance(own, str) and _ID.fullmatch(own):
            return own
        for key, value in context.invocation_metadata() or ():
            if key == "x-request-id" and isinstance(value, str) and _ID.fullmatch(value):
                return value
        self._count += 1
        return f"{self._prefix}{self._count:012x}"

    def _observed(self, method: str, handler: Handler) -> Callable[[Any, Any], Awaitable[Any]]:
        """``handler`` with its errors as status codes, its metrics and its access-log line."""

        async def call(request: Any, context: Any) -> Any:
            start = time.perf_counter()
            request_id = self._request_id(request, context)
            code = grpc.StatusCode.OK
            message = ""
            try:
                return await handler(request, context, request_id)
            except RequestError as exc:
                code = _CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
                place = _place(exc.loc)
                message = f"{exc.message} (at {place})" if place else exc.message
            except Exception:
                sys.stderr.write(
                    f"polyclass serve: error in gRPC call {request_id}:\n{traceback.format_exc()}"
                )
                code = grpc.StatusCode.INTERNAL
                message = (
                    f"Internal error while answering call {request_id}; the server logged it "
                    "and keeps serving."
                )
            finally:
                elapsed = time.perf_counter() - start
                model = self.endpoints.manager.current
                trailing = (("x-request-id", request_id), ("x-model-version", model.version_label))
                context.set_trailing_metadata(trailing)
                self.endpoints.metrics.observe_grpc(method, code.name, elapsed)
                if self.access_log is not None:
                    self._log(method, request_id, code.name, elapsed, model, context)
            await context.abort(code, message, trailing)

        return call

    def _log(
        self,
        method: str,
        request_id: str,
        code: str,
        elapsed: float,
        model: ServedModel,
        context: Any,
    ) -> None:
        record = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "event": "request",
            "request_id": request_id,
            "method": "GRPC",
            "path": f"/{SERVICE}/{method}",
            "route": f"/{SERVICE}/{method}",
            "status": code,
            "duration_ms": round(elapsed * 1000, 3),
            "model_version": model.version_label,
            "client": context.peer(),
        }
        try:
            self.access_log.write(orjson.dumps(record).decode() + "\n")  # type: ignore[union-attr]
        except (OSError, ValueError):  # a closed stream must not fail the call
            pass

    def _route(self, version: str, key: str) -> ServedModel:
        """The version answering a call: the served one, or the canary for its share (by the
        ``x-routing-key`` metadata, else the request id), as on HTTP."""
        router = self.endpoints.router
        if router is None:
            return self.endpoints.manager.current
        named = router.by_version(version) if version else None
        return named if named is not None else router.pick(key)

    def _model(self, name: str, version: str, key: str = "") -> ServedModel:
        """The model answering, checked against the name and version the call gives."""
        model = self._route(version, key)
        if name != model.name:
            raise not_found(
                f"No model named {name!r} here; this server serves {model.name!r}.", "name"
            )
        if version and version != model.version_label:
            raise not_found(
                f"Version {version!r} of {model.name!r} is not loaded; this server serves "
                f"version {model.version_label} (it follows {self.endpoints.manager.ref}).",
                "version",
            )
        return model

    # ------------------------------------------------------------------- calls
    async def _server_live(self, request: Any, context: Any, request_id: str) -> Any:
        return self.messages["ServerLiveResponse"](live=True)

    async def _server_ready(self, request: Any, context: Any, request_id: str) -> Any:
        return self.messages["ServerReadyResponse"](ready=self.endpoints.ready()[0])

    async def _model_ready(self, request: Any, context: Any, request_id: str) -> Any:
        self._model(request.name, request.version)
        return self.messages["ModelReadyResponse"](ready=self.endpoints.ready()[0])

    async def _server_metadata(self, request: Any, context: Any, request_id: str) -> Any:
        meta = server_metadata()
        return self.messages["ServerMetadataResponse"](
            name=meta["name"], version=__version__, extensions=meta["extensions"]
        )

    async def _model_metadata(self, request: Any, context: Any, request_id: str) -> Any:
        meta = model_metadata(self._model(request.name, request.version))
        response = self.messages["ModelMetadataResponse"](
            name=meta["name"], versions=meta["versions"], platform=meta["platform"]
        )
        for key in ("inputs", "outputs"):
            for tensor in meta[key]:
                getattr(response, key).add(
                    name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
                )
        return response

    async def _repository_model_load(self, request: Any, context: Any, request_id: str) -> Any:
        """``POST /admin/reload`` over gRPC: look up the followed reference and switch."""
        authorization = dict(context.invocation_metadata() or ()).get("authorization")
        try:
            self.endpoints.tokens.check(authorization)
        except RequestError as exc:  # the same rule as HTTP, told in gRPC's words
            words = exc.message.replace("This route", "RepositoryModelLoad").replace(
                "the header 'Authorization", "the metadata 'authorization"
            )
            raise RequestError(exc.status, words, ["metadata", "authorization"]) from None
        self._model(request.model_name, "")
        result = await asyncio.to_thread(self.endpoints.manager.reload)
        if result.error is not None:
            raise RequestError(
                409,
                f"Cannot load the new version of {self.endpoints.manager.ref}: {result.error}; "
                f"still serving version {result.model.version_label}.",
                ["model_name"],
            )
        return self.messages["RepositoryModelLoadResponse"]()

    async def _model_infer(self, request: Any, context: Any, request_id: str) -> Any:
        if request.id and request.id != request_id:  # an id feedback could never name
            raise unprocessable(
                f"The request id {request.id[:40]!r} must be 1-128 letters, digits or . _ : -; "
                "it is the id the prediction log records and feedback names.",
                "id",
            )
        metadata = dict(context.invocation_metadata() or ())
        key = metadata.get(ROUTING_HEADER) or request_id
        model = self._model(request.model_name, request.model_version, key)
        table = infer_table(request, model)
        outputs = requested_outputs(request)
        prediction = self.endpoints.predict_rows(model, table, request_id, key)
        response = infer_response(self.messages, request_id, request, model, prediction, outputs)
        await self.endpoints.log_room()
        return response
