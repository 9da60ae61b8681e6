"""The gateway's HTTP server: uvicorn (httptools, and websockets' protocol for WebSockets),
held against hostile clients by limits checked in the protocol, before the application sees a
request (`protocols` says which and how each is answered; `guard` is what the protocols of one
server share).

uvicorn's `limit_concurrency` is left off: it is checked only when a request's headers are
complete, counts WebSocket tasks as well as connections, answers a plain-text 503 and logs a
warning per refused request. It neither frees a descriptor nor stops a flood; the connection
caps do that work earlier and cheaper, and a connection runs one request at a time (pipelined
requests wait their turn with reading paused), so requests in flight are bounded by them too.
"""

import asyncio
import contextlib
import functools
from collections.abc import Generator
from typing import Any, cast

import uvicorn
from uvicorn.config import Config

from tradingfloor.config import Settings
from tradingfloor.gateway.connections import (
    ConnectionGate,
    connections_cap,
    raise_open_file_limit,
)
from tradingfloor.gateway.guard import Guard
from tradingfloor.gateway.protocols import GuardedHttpProtocol, GuardedWebSocketProtocol


class GatewayServer(uvicorn.Server):
    """A uvicorn server whose caller owns the signals (`serve` stops it on SIGINT and SIGTERM
    with handlers of its own; tests set `should_exit`)."""

    def __init__(self, config: Config, guard: Guard) -> None:
        super().__init__(config)
        self.guard = guard

    @property
    def gate(self) -> ConnectionGate:
        return self.guard.gate

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    @property
    def bound(self) -> tuple[str, int]:
        """The address and port listened on (settings may say port 0: any free one)."""
        address = self.servers[0].sockets[0].getsockname()
        return str(address[0]), int(address[1])


def build_server(app: Any, settings: Settings) -> GatewayServer:
    """The server of `app` on settings.host and settings.port, with every limit of `settings`.

    Raises the process's soft limit of open files to its hard limit, and keeps the connection
    cap below it.
    """
    guard = Guard(settings, connections_cap(settings.connections_max, raise_open_file_limit()))
    http = functools.partial(GuardedHttpProtocol, guard=guard)
    config = Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="off",
        http=cast(type[asyncio.Protocol], http),
        ws=GuardedWebSocketProtocol,
        ws_max_size=settings.websocket_message_bytes_max,
        ws_per_message_deflate=False,  # compression per client would undo encode-once
        # uvicorn hands it to call_later, which takes seconds as a float.
        timeout_keep_alive=settings.keep_alive_timeout_s,  # type: ignore[arg-type]
        access_log=False,
    )
    return GatewayServer(config, guard)
