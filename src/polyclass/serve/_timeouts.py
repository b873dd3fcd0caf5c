"""Read timeouts for uvicorn's HTTP protocol: slow headers, idle connections, stalled bodies.

uvicorn times out only a keep-alive connection between two requests; a client that
connects and sends nothing, sends its headers a byte at a time, or stops in the middle
of its body holds a connection (and a shutdown waiting for it) for ever. This protocol
gives a request's headers ``header_timeout`` seconds from its first byte (or from the
connection, for the first request), and its body ``body_timeout`` seconds between two
reads; then it answers 408 (when no answer has started) and closes the connection.
Each response leaves in one write (``_coalesce``).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from polyclass.serve._coalesce import CoalescingTransport
from polyclass.serve._observe import TIMED_OUT

__all__ = ["BODY_TIMEOUT", "HEADER_TIMEOUT", "TimedProtocol", "timed_protocol"]

#: Seconds a client has to send a request's headers (from its first byte or the connection).
HEADER_TIMEOUT = 10.0
#: Seconds a client may pause while sending a request's body.
BODY_TIMEOUT = 10.0

_TIMEOUT_BODY = b'{"error": "The request was not received in time; send it again.", "loc": []}'


class TimedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on every read from the client."""

    def __init__(
        self,
        *args: Any,
        header_timeout: float = HEADER_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
            )
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the app's own answer is not sent after this
                # The app then sees a disconnect; this tells its log and metrics it was a 408.
                cycle.scope.setdefault("state", {})[TIMED_OUT] = True
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = cast(asyncio.Transport, CoalescingTransport(transport, self.loop))
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)  # until the message is complete (also if it has no body)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()


def timed_protocol(header_timeout: float, body_timeout: float) -> Any:
    """The protocol class for ``uvicorn.run(http=...)`` (picklable, for worker processes)."""
    return functools.partial(
        TimedProtocol, header_timeout=header_timeout, body_timeout=body_timeout
    )
