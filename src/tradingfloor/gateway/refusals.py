"""What the HTTP server answers when it refuses a request or a connection itself.

These refusals happen in the protocol, before the application sees a request: a body or headers
above their limits, a request that takes too long to arrive, a connection above the caps, bytes
that are not HTTP. Each kind has a status and a stable code in the style of the gateway's other
answers (a 4xx kind's code is its status times ten, as for the application's own HTTP errors;
unavailability is 503x), a short `{"code", "message"}` body sent with `Connection: close`, a
metric label, and at most one log line per kind and source address every
REFUSAL_LOG_INTERVAL_S: an attack never turns into a log line per request.
"""

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from http import HTTPStatus

import msgspec

from tradingfloor import observability as metrics
from tradingfloor.config import Settings

REFUSAL_LOG_INTERVAL_S = 60.0
"""The shortest time between two log lines of one refusal kind from one source."""
REFUSAL_LOG_KEYS_MAX = 10_000
"""(kind, source) pairs whose last log line is remembered; the oldest are forgotten first."""

log = logging.getLogger("tradingfloor.gateway.refusals")


class RefusalKind(StrEnum):
    """Why the server refused; the label of the metric and the `kind` of the log line."""

    MALFORMED = "malformed"
    HEADERS_TOO_LARGE = "headers_too_large"
    TOO_MANY_HEADERS = "too_many_headers"
    HEADER_TIMEOUT = "header_timeout"
    BODY_TOO_LARGE = "body_too_large"
    BODY_TIMEOUT = "body_timeout"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    TOO_MANY_CONNECTIONS_FROM_SOURCE = "too_many_connections_from_source"


class RefusalCode(IntEnum):
    """Stable codes of the server's own refusals."""

    MALFORMED_REQUEST = 4000
    REQUEST_TIMEOUT = 4080
    BODY_TOO_LARGE = 4130
    HEADERS_TOO_LARGE = 4310
    TOO_MANY_CONNECTIONS = 5035


@dataclass(frozen=True)
class Refusal:
    status: HTTPStatus
    code: RefusalCode
    message: str


def refusals(settings: Settings) -> dict[RefusalKind, Refusal]:
    """Every kind's status, code and message (the messages name the limit that was hit)."""
    K, C, S = RefusalKind, RefusalCode, HTTPStatus
    header_bytes = settings.request_header_bytes_max
    return {
        K.MALFORMED: Refusal(S.BAD_REQUEST, C.MALFORMED_REQUEST, "malformed HTTP request"),
        K.HEADERS_TOO_LARGE: Refusal(
            S.REQUEST_HEADER_FIELDS_TOO_LARGE,
            C.HEADERS_TOO_LARGE,
            f"request line and headers above {header_bytes} bytes",
        ),
        K.TOO_MANY_HEADERS: Refusal(
            S.REQUEST_HEADER_FIELDS_TOO_LARGE,
            C.HEADERS_TOO_LARGE,
            f"more than {settings.request_headers_max} headers",
        ),
        K.HEADER_TIMEOUT: Refusal(
            S.REQUEST_TIMEOUT,
            C.REQUEST_TIMEOUT,
            f"request headers not received within {settings.request_header_timeout_s:g} s",
        ),
        K.BODY_TOO_LARGE: Refusal(
            S.REQUEST_ENTITY_TOO_LARGE,
            C.BODY_TOO_LARGE,
            f"request body above {settings.request_body_bytes_max} bytes",
        ),
        K.BODY_TIMEOUT: Refusal(
            S.REQUEST_TIMEOUT,
            C.REQUEST_TIMEOUT,
            f"request body not received within {settings.request_body_timeout_s:g} s",
        ),
        K.TOO_MANY_CONNECTIONS: Refusal(
            S.SERVICE_UNAVAILABLE, C.TOO_MANY_CONNECTIONS, "too many connections: retry"
        ),
        K.TOO_MANY_CONNECTIONS_FROM_SOURCE: Refusal(
            S.SERVICE_UNAVAILABLE,
            C.TOO_MANY_CONNECTIONS,
            f"more than {settings.connections_per_source_max} connections from this address",
        ),
    }


def answer_bytes(refusal: Refusal) -> bytes:
    """The whole HTTP/1.1 answer, written as it is and followed by closing the connection."""
    body = msgspec.json.encode({"code": int(refusal.code), "message": refusal.message})
    lines = [
        f"HTTP/1.1 {refusal.status.value} {refusal.status.phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if refusal.status == HTTPStatus.SERVICE_UNAVAILABLE:
        lines.append("retry-after: 1")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


class RefusalRecord:
    """Counts each refusal in the metric and logs it, rate-limited per kind and source."""

    def __init__(
        self,
        interval_s: float = REFUSAL_LOG_INTERVAL_S,
        keys_max: int = REFUSAL_LOG_KEYS_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.keys_max = keys_max
        self._clock = clock
        # (kind, source) -> [time of its last log line, refusals since then]
        self._last: OrderedDict[tuple[RefusalKind, str], list[float]] = OrderedDict()
        self._counters = {kind: metrics.http_refused.labels(kind.value) for kind in RefusalKind}

    def add(self, kind: RefusalKind, source: str) -> None:
        self._counters[kind].inc()
        now = self._clock()
        key = (kind, source)
        entry = self._last.get(key)
        if entry is None:
            self._log(kind, source, 1)
            self._last[key] = [now, 0]
            if len(self._last) > self.keys_max:
                self._last.popitem(last=False)
            return
        entry[1] += 1
        if now - entry[0] >= self.interval_s:
            self._log(kind, source, int(entry[1]))
            entry[0], entry[1] = now, 0
            self._last.move_to_end(key)

    def _log(self, kind: RefusalKind, source: str, refused: int) -> None:
        log.warning(
            "refused",
            extra={"kind": kind.value, "source": source, "refused": refused},
        )
