"""The route handlers: Open Inference Protocol v2, MLflow scoring, feedback, admin, ops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from polyclass import __version__
from polyclass.predlog import FeedbackLog, PredictionLog
from polyclass.preprocess import Table
from polyclass.serve._binary import HEADER as BINARY_HEADER
from polyclass.serve._binary import binary_outputs, encode_outputs, split_body, split_tensors
from polyclass.serve._canary import ROUTING_HEADER, Router
from polyclass.serve._errors import RequestError, conflict, not_found, unprocessable
from polyclass.serve._fastjson import numeric_tensor
from polyclass.serve._feedback import parse_feedback
from polyclass.serve._manager import ModelManager
from polyclass.serve._metrics import CONTENT_TYPE_LATEST, ServerMetrics
from polyclass.serve._mlflow import mlflow_response, parse_invocation, parse_json
from polyclass.serve._monitoring import MonitorGauges
from polyclass.serve._protocol_v2 import (
    OUTPUTS,
    infer_response,
    model_metadata,
    parse_infer,
    server_metadata,
)
from polyclass.serve._security import Tokens
from polyclass.serve._served import Prediction, ServedModel, log_rows

__all__ = ["Endpoints", "Logs", "json_response"]

_JSON = "application/json"


def _log_sentence(failure: str) -> str:
    """The 503 / readiness sentence for a log whose writes fail (``failure``: why, where)."""
    return f"the prediction log cannot be written ({failure}); free space or move --log-dir."


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type=_JSON)


@dataclass
class Logs:
    """The prediction and feedback logs (None until the app has started)."""

    predictions: PredictionLog | None = None
    feedback: FeedbackLog | None = None


class Endpoints:
    """Every route's handler, bound to the server's shared parts."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: ServerMetrics,
        tokens: Tokens,
        logs: Logs,
        max_body: int,
        docs_html: str,
        openapi: dict[str, Any],
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.monitor_gauges: MonitorGauges | None = None  # set by the app's lifespan
        self.tokens = tokens
        self.logs = logs
        self.max_body = max_body
        self.docs_html = docs_html
        self.openapi_bytes = orjson.dumps(openapi)
        self.shutting_down = False
        self.router: Router | None = None  # set by the app with --canary / --shadow
        self.workers = 1  # set by the app; a live split change reaches one process only

    # ------------------------------------------------------------------ helpers
    async def _body(self, request: Request) -> bytes:
        chunks = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > self.max_body:
                raise RequestError(
                    413,
                    f"The request body exceeds {self.max_body} bytes; send fewer rows per request.",
                    ["body"],
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _model(self, request: Request, routed: bool = True) -> ServedModel:
        """The served model, checked against the name and version in the path.

        ``routed=False``: the served version (not a canary's share) unless the path names
        a version, so metadata stays stable under a canary."""
        router = self.router
        if routed or router is None or "version" in request.path_params:
            model = self._route(request)
        else:
            model = router.primary.current
        request.scope["state"]["model_version"] = model.version_label
        params = request.path_params
        name = params.get("name")
        if name is not None and name != model.name:
            raise not_found(
                f"No model named {name!r} here; this server serves {model.name!r}.", "path", "name"
            )
        version = params.get("version")
        if version is not None and version != model.version_label:
            raise not_found(
                f"Version {version!r} of {model.name!r} is not loaded; this "
                f"server serves version {model.version_label} (it follows "
                f"{self.manager.ref}).",
                "path",
                "version",
            )
        return model

    def _route(self, request: Request) -> ServedModel:
        """The version answering this request: the served one, or the canary for its share."""
        router = self.router
        if router is None:
            return self.manager.current
        version = request.path_params.get("version")
        named = router.by_version(version) if version is not None else None
        if named is not None:
            return named
        state = request.scope["state"]
        key = request.headers.get(ROUTING_HEADER) or state["request_id"]
        state["routing_key"] = key
        return router.pick(key)

    def log_prediction(self, request_id: str, model: ServedModel, prediction: Prediction) -> None:
        """Record a prediction's rows in the log under ``model``'s version."""
        if self.logs.predictions is not None:
            log_rows(self.logs.predictions, request_id, model, prediction)

    def _predict(self, request: Request, model: ServedModel, table: Table) -> Prediction:
        state = request.scope["state"]
        prediction = self.predict_rows(model, table, state["request_id"], state.get("routing_key"))
        state["rows"] = len(prediction.index)
        return prediction

    def predict_rows(
        self, model: ServedModel, table: Table, request_id: str, routing_key: str | None = None
    ) -> Prediction:
        """Predict, count the predictions in the metrics, log the rows and hand them to the
        shadow (HTTP and gRPC); a 503 while the log cannot take them."""
        self.check_log(self.logs.predictions)
        prediction = model.predict(table)
        n = len(prediction.index)
        counts = np.bincount(prediction.index, minlength=len(model.classes))
        self.metrics.count_predictions(
            model.name,
            model.version_label,
            [(model.class_strs[i], int(c)) for i, c in enumerate(counts.tolist()) if c],
            n,
        )
        self.log_prediction(request_id, model, prediction)
        shadow = self.router.shadow if self.router is not None else None
        if shadow is not None and n and shadow.wants(routing_key or request_id):
            shadow.submit(
                request_id, table, prediction.index, model.class_array, model.feature_names
            )
        return prediction

    def log_failure(self) -> str | None:
        """Why the prediction or feedback log cannot be written now (None: it can)."""
        for log in (self.logs.predictions, self.logs.feedback):
            if log is not None and log.failure is not None:
                return _log_sentence(log.failure)
        return None

    @staticmethod
    def check_log(log: PredictionLog | FeedbackLog | None) -> None:
        """A 503 once the log's writes fail and its buffer is at its memory bound (an
        answer whose rows cannot be logged or held is not given)."""
        failure = log.failure if log is not None and log.full else None
        if failure is not None:
            raise RequestError(503, _log_sentence(failure))

    def ready(self) -> tuple[bool, str | None]:
        """Whether to take traffic, and why not: stopping, or the log cannot be written."""
        if self.shutting_down:
            return False, "the server is stopping."
        failure = self.log_failure()
        return failure is None, failure

    async def log_room(self) -> None:
        """Hold the answer back while the prediction log's writer is behind (memory bound)."""
        log = self.logs.predictions
        if log is not None and log.backlogged:
            await log.await_room()

    # ------------------------------------------------------------ OIP v2 routes
    async def v2_server(self, request: Request) -> Response:
        return json_response(server_metadata())

    async def v2_live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def v2_ready(self, request: Request) -> Response:
        ready, why = self.ready()
        return json_response(
            {"ready": True} if ready else {"ready": False, "error": why}, 200 if ready else 503
        )

    async def v2_model(self, request: Request) -> Response:
        return json_response(model_metadata(self._model(request, routed=False)))

    async def v2_model_ready(self, request: Request) -> Response:
        model = self._model(request)
        ready, why = self.ready()
        body: dict[str, Any] = {"name": model.name, "ready": ready}
        if why is not None:
            body["error"] = why
        return json_response(body, 200 if ready else 503)

    async def v2_infer(self, request: Request) -> Response:
        model = self._model(request)
        body = await self._body(request)
        header = request.headers.get(BINARY_HEADER)
        plan = model.plan
        fast = (
            numeric_tensor(body, len(plan.feature_names))
            if plan.all_numeric and header is None
            else None
        )
        binary: set[str] = set()
        if fast is not None and fast[0] not in plan.kinds:  # one plain FP64 tensor
            _, matrix, request_id = fast
            table = Table(
                len(matrix),
                matrix=matrix,
                matrix_loc=["body", "inputs", 0, "data"],
                matrix_keys={f: j for j, f in enumerate(plan.feature_names)},
            )
            outputs = list(OUTPUTS)
        else:
            encoding = request.headers.get("content-encoding", "identity")
            if encoding.lower() != "identity":
                raise RequestError(
                    415,
                    f"Content-Encoding {encoding!r} is not supported; send the body "
                    "uncompressed (tritonclient: no request_compression_algorithm).",
                    ["header", "content-encoding"],
                )
            # the binary tensor extension: inputs' bytes after the JSON, outputs in binary
            head, tail = split_body(body, header) if header is not None else (body, b"")
            document = split_tensors(_parse_head(head, header), tail)
            table, outputs, request_id = parse_infer(document, plan)
            binary = binary_outputs(document, outputs)
            if binary and "contributions" in outputs:
                raise unprocessable(
                    "contributions are answered in JSON only; ask without binary outputs.",
                    "body",
                    "parameters",
                )
        prediction = self._predict(request, model, table)
        if binary:
            answer, json_size = encode_outputs(model, prediction, outputs, request_id, binary)
            await self.log_room()
            return Response(
                answer,
                media_type="application/octet-stream",
                headers={BINARY_HEADER: str(json_size)},
            )
        answer = infer_response(model, prediction, outputs, request_id)
        await self.log_room()
        return Response(answer, media_type=_JSON)

    # ------------------------------------------------------------ MLflow routes
    async def invocations(self, request: Request) -> Response:
        model = self._model(request)
        body = await self._body(request)
        table, _ = parse_invocation(body, request.headers.get("content-type", ""), model.plan)
        prediction = self._predict(request, model, table)
        proba = request.query_params.get("probabilities", "").lower() in ("1", "true", "yes")
        body = mlflow_response(model, prediction, proba=proba)
        await self.log_room()
        return Response(body, media_type=_JSON)

    async def ping(self, request: Request) -> Response:
        model = self.manager.current
        return json_response(
            {"status": "ok", "model": model.name, "model_version": model.version_label}
        )

    async def version(self, request: Request) -> Response:
        model = self.manager.current
        return json_response(
            {
                "polyclass": __version__,
                "model": model.name,
                "model_version": model.version_label,
                "follows": self.manager.ref,
            }
        )

    # ------------------------------------------------------ feedback and admin
    async def feedback(self, request: Request) -> Response:
        self.tokens.check(request.headers.get("authorization"))
        items = parse_feedback(parse_json(await self._body(request)))
        self.check_log(self.logs.feedback)
        if self.logs.feedback is not None:
            self.logs.feedback.record(items)
        return json_response({"accepted": len(items)})

    async def routing(self, request: Request) -> Response:
        """``GET``: versions, split, shadow counts; ``POST {"canary_percent": p}``: new split."""
        if self.router is None:
            raise not_found("This server has no canary or shadow (see --canary, --shadow).")
        self.tokens.check(request.headers.get("authorization"))  # GET tells versions and refs
        if request.method == "POST":
            if self.workers > 1:
                raise conflict(
                    f"This server runs {self.workers} worker processes and a split change "
                    "would reach only one of them; restart it with the new --canary REF=PCT "
                    "(or serve with --workers 1 to change the split live)."
                )
            body = parse_json(await self._body(request))
            if not isinstance(body, dict) or set(body) != {"canary_percent"}:
                raise unprocessable('The body is {"canary_percent": P} with P from 0 to 100.')
            try:
                self.router.set_percent(body["canary_percent"])
            except ValueError as exc:
                raise unprocessable(str(exc), "body", "canary_percent") from None
        return json_response(self.router.describe())

    async def reload(self, request: Request) -> Response:
        self.tokens.check(request.headers.get("authorization"))
        if self.router is not None:  # canary and shadow follow their references too
            for other in self.router.managers[1:]:
                await anyio.to_thread.run_sync(other.reload)
        result = await anyio.to_thread.run_sync(self.manager.reload)
        request.scope["state"]["model_version"] = result.model.version_label
        body = {
            "switched": result.switched,
            "model": result.model.name,
            "model_version": result.model.version_label,
            "previous_version": result.previous.version_label if result.previous else None,
            "error": result.error,
        }
        return json_response(body, 200 if result.error is None else 409)

    # -------------------------------------------------------------------- ops
    async def metrics_route(self, request: Request) -> Response:
        body = self.metrics.exposition()
        if self.monitor_gauges is not None:
            body += self.monitor_gauges.text().encode()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request) -> Response:
        return Response(self.openapi_bytes, media_type=_JSON)

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(self.docs_html)


def _parse_head(head: bytes, header: str | None) -> Any:
    """The JSON part of an infer body; when a binary body's JSON does not parse, the
    inference-header-content-length header that cut it is the likely culprit."""
    try:
        return parse_json(head)
    except RequestError as exc:
        if header is None:
            raise
        raise RequestError(
            exc.status,
            f"{exc.message} The JSON part is the first {header} bytes of the body (the "
            f"{BINARY_HEADER} header): check that it is the JSON's exact byte length.",
            exc.loc,
        ) from None
