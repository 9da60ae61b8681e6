"""Who sent a request's commands: the `Origin` journaled beside each of them.

The request's ASGI middleware (`backend.SeqTokens`) opens a `RequestOrigin` with the client's
address and the time it arrived; authentication (`deps.principal`, which may run in a
thread: the holder is shared, not copied) adds the user and the API key; `Backend.submit`
turns it into the `Origin` of every command the request sends, naming this gateway. A command
sent outside a request (none today) names only the gateway.
"""

import contextvars
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from tradingfloor.domain.origin import Origin, origin_text_length_max
from tradingfloor.identity import Principal


@dataclass(slots=True)
class RequestOrigin:
    source: str
    ts_received: int
    user: str = ""
    key_id: str = ""


_request: contextvars.ContextVar[RequestOrigin | None] = contextvars.ContextVar(
    "tf_origin", default=None
)


def gateway_name() -> str:
    """This gateway process: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:origin_text_length_max]


def begin_request(scope: Any) -> None:
    """A request arrives (ASGI `scope`): its address and time."""
    client = scope.get("client")
    source = f"{client[0]}" if client else ""
    _request.set(RequestOrigin(source[:origin_text_length_max], time.time_ns()))


def note_caller(caller: Principal) -> None:
    """The request's caller, once authenticated."""
    held = _request.get()
    if held is not None:
        held.user = str(caller.user_id)
        held.key_id = (caller.api_key_id or "")[:origin_text_length_max]


def request_origin(gateway: str) -> Origin:
    """The origin of a command the current request sends."""
    held = _request.get()
    if held is None:
        return Origin(gateway=gateway, ts_received=time.time_ns())
    return Origin(
        user=held.user,
        key_id=held.key_id,
        source=held.source,
        gateway=gateway,
        ts_received=held.ts_received,
    )
