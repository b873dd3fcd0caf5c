"""The ASGI middleware around every request: id, version header, size limit, metrics, log.

A pure ASGI middleware (no per-request task or body copy): it accepts the client's
``X-Request-ID`` when it is a plain token (else makes one), refuses a declared body
above the limit with 413 before reading it, adds ``X-Request-ID`` and
``X-Model-Version`` to the response, counts the request in the Prometheus metrics by
route template and status, and writes one JSON access-log line. An unexpected error
becomes a JSON 500 (with the traceback on stderr), never a bare text page; a client
that went away mid-body is counted 408 (timed out by the server) or 499, without a traceback.
"""

from __future__ import annotations

import re
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TextIO

import orjson
from starlette.requests import ClientDisconnect

from polyclass.serve._metrics import ServerMetrics

__all__ = ["CLIENT_CLOSED", "TIMED_OUT", "Observe"]

#: The request state key the read timeouts set when they answered 408 for a request.
TIMED_OUT = "timed_out"
#: The status logged for a request whose client went away before its answer (nginx's 499).
CLIENT_CLOSED = 499

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def _json_response(status: int, body: dict[str, Any]) -> tuple[Message, Message]:
    payload = orjson.dumps(body)
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": payload}


class Observe:
    """Wraps the app; ``version()`` names the served version when a route did not."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServerMetrics,
        version: Callable[[], str],
        max_body: int,
        access_log: TextIO | None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.version = version
        self.max_body = max_body
        self.access_log = access_log
        # Ids made here: a random prefix per process and a counter (no syscall per request).
        self._prefix = uuid.uuid4().hex[:20]
        self._count = 0
        self._second = -1
        self._stamp = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = None
        length = 0
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _ID.fullmatch(value):
                request_id = value.decode("ascii")
            elif name == b"content-length":
                length = int(value) if value.isdigit() else 0
        if request_id is None:
            self._count += 1
            request_id = f"{self._prefix}{self._count:012x}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = False
        rid = request_id.encode("ascii")

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                version = state.get("model_version") or self.version()
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", rid))
                headers.append((b"x-model-version", version.encode()))
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.in_flight.inc()
        try:
            if length > self.max_body:
                for message in _json_response(
                    413,
                    {
                        "error": f"The request body has {length} bytes; this server takes at "
                        f"most {self.max_body}. Send fewer rows per request.",
                        "loc": ["header", "content-length"],
                    },
                ):
                    await send_wrapper(message)
            else:
                await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client's fault, not the server's: no traceback, and no 5xx to alert on.
            status = 408 if state.get(TIMED_OUT) else CLIENT_CLOSED
        except Exception:
            sys.stderr.write(
                f"polyclass serve: error in request {request_id}:\n{traceback.format_exc()}"
            )
            if not started:
                for message in _json_response(
                    500,
                    {
                        "error": f"Internal error while answering request {request_id}; the "
                        "server logged it and keeps serving.",
                        "loc": [],
                    },
                ):
                    await send_wrapper(message)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            self.metrics.observe(template, scope["method"], status, elapsed)
            if self.access_log is not None:
                self._log(scope, state, request_id, template, status, elapsed)

    def _log(
        self,
        scope: Scope,
        state: dict[str, Any],
        request_id: str,
        route: str,
        status: int,
        elapsed: float,
    ) -> None:
        client = scope.get("client")
        now = time.time()
        if int(now) != self._second:
            self._second = int(now)
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        record = {
            "ts": f"{self._stamp}.{int(now % 1 * 1000):03d}Z",
            "event": "request",
            "request_id": request_id,
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "model_version": state.get("model_version"),
            "rows": state.get("rows"),
            "client": client[0] if client else None,
        }
        try:
            self.access_log.write(orjson.dumps(record).decode() + "\n")  # type: ignore[union-attr]
        except (OSError, ValueError):  # a closed stream must not fail the request
            pass
