"""uvicorn's protocols (httptools, and websockets' for WebSockets) with the limits that hold
the gateway's server against hostile clients, checked before the application sees a request.

connection  Open connections in total (`connections_max`, kept below the open-file limit) and
            per source address (`connections_per_source_max`). A connection above either is
            answered 503 and closed at once, before a byte of it is parsed.
headers     The request line and headers above `request_header_bytes_max` bytes, or more than
            `request_headers_max` headers: 431 and close. Bytes are counted as they arrive, so
            an endless header is cut after one read beyond the limit. From the connection, or
            the end of the previous answer, to the end of the headers:
            `request_header_timeout_s`, then 408 and close (slowloris).
body        A Content-Length above `request_body_bytes_max`: 413 at once, without reading the
            body. Chunked bodies are counted as they arrive: 413 and close when over. The whole
            body within `request_body_timeout_s`, else 408 and close. The application starts
            only once the body is complete, so a request refused for its body never reaches a
            route: nothing is journaled, no task runs, nothing logs it.
keep-alive  An idle keep-alive connection is closed after `keep_alive_timeout_s`.
WebSocket   Messages above `websocket_message_bytes_max` close the socket with 1009. The
            connection keeps its place in the counts until the WebSocket closes.

Each refusal is a short JSON answer (see `refusals`), a metric and a rate-limited log line.
"""

import asyncio
import functools
from typing import Any, cast

import httptools
from uvicorn._types import ASGI3Application
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from tradingfloor.gateway.connections import ConnectionSlot
from tradingfloor.gateway.guard import Guard
from tradingfloor.gateway.refusals import RefusalKind

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
REFUSAL_LINGER_S = 2.0
"""How long a refused connection is read (and the bytes discarded) after its answer."""
REFUSAL_LINGER_BYTES_MAX = 256 * 1024
"""How much of a refused connection is read and discarded before it is closed regardless."""
_HEADER_LINE_EXTRA_BYTES = 4
"""': ' and CRLF around each header's name and value."""


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; `data_received` answers the refusal."""

    def __init__(self, kind: RefusalKind) -> None:
        super().__init__(kind.value)
        self.kind = kind


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of this module."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: Guard,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard = guard
        self._limits = guard.limits
        self._slot: ConnectionSlot | None = None
        self._source = ""
        self._refused = False
        """A refusal was decided: nothing more is parsed on this connection."""
        self._discarded_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        # The request being parsed.
        self._awaiting_headers = True
        self._headers_done = 0
        """Requests whose headers were complete: tells a read that finished headers."""
        self._header_read_bytes = 0
        self._header_bytes = 0
        self._header_count = 0
        self._content_length = 0
        self._chunked = False
        self._body_bytes = 0
        self._in_body = False
        # The request whose application waits for its body, and the one answering.
        self._deferred: tuple[RequestResponseCycle, ASGI3Application] | None = None
        self._active: RequestResponseCycle | None = None

    # ------------------------------------------------------------------ connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._source = self.client[0] if self.client else ""
        admitted = self._guard.gate.admit(self._source)
        if isinstance(admitted, RefusalKind):
            self._refuse(admitted)
            return
        self._slot = admitted
        ws_class = self.ws_protocol_class
        if isinstance(ws_class, type) and issubclass(ws_class, GuardedWebSocketProtocol):
            # The WebSocket protocol takes over the transport and, with it, this place in
            # the counts: it releases the slot when the WebSocket closes.
            self.ws_protocol_class = cast(
                type[asyncio.Protocol], functools.partial(ws_class, slot=admitted)
            )
        self._arm(self._limits.header_timeout_s, RefusalKind.HEADER_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._deferred = None
        try:
            super().connection_lost(exc)
        finally:
            if self._slot is not None:
                self._slot.release()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._discarded_bytes += len(data)
            if self._discarded_bytes > REFUSAL_LINGER_BYTES_MAX:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        awaiting_headers, headers_done = self._awaiting_headers, self._headers_done
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Another protocol than WebSocket is served as plain HTTP, without uvicorn's
            # warning per such request: a log line an attacker could repeat at will.
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            return
        except httptools.HttpParserError as error:
            refused = error.__context__
            self._refuse(refused.kind if isinstance(refused, _Refused) else RefusalKind.MALFORMED)
            return
        if awaiting_headers and self._awaiting_headers and headers_done == self._headers_done:
            # All of `data` was headers. Parser callbacks see a header only once it is whole:
            # an endless one is cut here, one read past the limit.
            self._header_read_bytes += len(data)
            if self._header_read_bytes > self._limits.header_bytes_max:
                self._refuse(RefusalKind.HEADERS_TOO_LARGE)

    def shutdown(self) -> None:
        if self._deferred is not None or (self._refused and not self._answering()):
            # No answer of the application to wait for.
            self.transport.close()
            return
        super().shutdown()

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = self._header_count = 0
        self._content_length = self._body_bytes = 0
        self._chunked = False

    def on_url(self, url: bytes) -> None:
        self._header_bytes += len(url)
        if self._header_bytes > self._limits.header_bytes_max:
            raise _Refused(RefusalKind.HEADERS_TOO_LARGE)
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + _HEADER_LINE_EXTRA_BYTES
        if self._header_count > self._limits.headers_max:
            raise _Refused(RefusalKind.TOO_MANY_HEADERS)
        if self._header_bytes > self._limits.header_bytes_max:
            raise _Refused(RefusalKind.HEADERS_TOO_LARGE)
        name = name.lower()
        if name == b"content-length":
            self._content_length = int(value)  # not a number: the parser refuses it anyway
        elif name == b"transfer-encoding":
            self._chunked = True
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._cancel_timer()
        self._awaiting_headers = False
        self._headers_done += 1
        self._header_read_bytes = 0
        if self._content_length > self._limits.body_bytes_max:
            raise _Refused(RefusalKind.BODY_TOO_LARGE)
        self._in_body = self._content_length > 0 or self._chunked
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.body_bytes_max:
            raise _Refused(RefusalKind.BODY_TOO_LARGE)
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        # No pause at uvicorn's 64 KiB mark: only the application's reads resume a paused
        # connection, and the application starts once the body (at most body_bytes_max) is in.
        cycle.body += body
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        self._cancel_timer()
        self._in_body = False
        self._awaiting_headers = True
        super().on_message_complete()
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            self._active = deferred[0]
            super()._start_asgi_task(*deferred)

    # ------------------------------------------------------------------ requests

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        if self._in_body and cycle is self.cycle:
            # Started by on_message_complete once the body is in.
            self._deferred = (cycle, app)
            if cycle.waiting_for_100_continue:
                self.transport.write(_CONTINUE)
                cycle.waiting_for_100_continue = False
            self._arm(self._limits.body_timeout_s, RefusalKind.BODY_TIMEOUT)
            return
        self._active = cycle
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # idle until the next request
            self._arm(self._limits.header_timeout_s, RefusalKind.HEADER_TIMEOUT)

    # ------------------------------------------------------------------ refusals

    def _refuse(self, kind: RefusalKind) -> None:
        """Answer `kind` and close; after an answer still to come, close after it instead."""
        self._refused = True
        self._cancel_timer()
        self._unset_keepalive_if_required()
        self._deferred = None
        self.pipeline.clear()
        self._guard.record.add(kind, self._source)
        if self._active is not None and self._answering():
            # An earlier request is being answered: that answer is this connection's last,
            # and two answers must not interleave.
            self._active.keep_alive = False
            self.flow.pause_reading()
            return
        self.transport.write(self._guard.answers[kind])
        if self._slot is None:  # refused at connection: it must not hold a descriptor longer
            self.transport.close()
            return
        # Closing with bytes unread makes the kernel answer with a reset, and a client still
        # sending would lose the refusal with it: send the answer and a FIN, then read and
        # discard until the client closes, for REFUSAL_LINGER_S and REFUSAL_LINGER_BYTES_MAX
        # at most.
        if self.transport.can_write_eof():  # not over TLS
            self.transport.write_eof()
        self._timer = self.loop.call_later(REFUSAL_LINGER_S, self.transport.close)

    def _answering(self) -> bool:
        return self._active is not None and not self._active.response_complete

    def _arm(self, delay_s: float, kind: RefusalKind) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(delay_s, self._expire, kind)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, kind: RefusalKind) -> None:
        self._timer = None
        if self._refused or self.transport.is_closing():
            return
        if self.timeout_keep_alive_task is not None:
            # Not a byte since the last answer: an idle keep-alive connection, whose limit
            # is the shorter of the two timeouts. Closed without an answer, as uvicorn does.
            self._unset_keepalive_if_required()
            self.transport.close()
            return
        self._refuse(kind)


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (websockets' sans-I/O core), releasing the connection's
    slot when the WebSocket closes."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        slot: ConnectionSlot | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._slot = slot

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self._slot is not None:
                self._slot.release()
