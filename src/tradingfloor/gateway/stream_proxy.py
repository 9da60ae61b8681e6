"""Market-data WebSockets forwarded to the market-data role.

When the market data run in a role of their own (`serve`'s processes, or a `marketdata`
role named by `marketdata_url`), a gateway keeps the public address of `WS /v1/market-data`
and forwards each connection to that role: the client's credential headers and query go
along, frames are passed through as they are, both ways, and the role does the rest
(sign-in, tier, subscriptions, conflation, slow clients). The gateway holds no market-data
client state, so it follows no tier's flushes.

When the role closes a connection, the client is closed with the same code and reason. When
the role goes away (killed, restarting), every forwarded client is closed with 1012 ("service
restart"): it reconnects and, once the role is back, gets fresh snapshots; their `seq` numbers
start again, while `feed_seq` (the event-feed seq a message reflects) shows how far the market
moved meanwhile. When the role cannot be reached at all, the client is closed with 1013 ("try
again later").
"""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013
connect_timeout_s = 2.0
frame_bytes_max = 64 * 1024 * 1024
"""The largest frame taken from the role (snapshots of deep books, trades messages)."""
FORWARDED_HEADERS = frozenset(
    (
        b"authorization",
        b"x-api-key-id",
        b"x-api-secret",
        b"apca-api-key-id",
        b"apca-api-secret-key",
    )
)
_UNREACHABLE = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed)


@dataclass(frozen=True, slots=True)
class Upstream:
    """The market-data role's WebSocket address: `ws://host:port`, or a Unix socket
    (`unix_path`, with `uri` naming only the scheme and host)."""

    uri: str
    unix_path: str | None = None


async def forward(websocket: WebSocket, upstream: Upstream, path: str) -> None:
    """Accept `websocket` and pass it through to the role's `path` until either side closes."""
    await websocket.accept()
    try:
        role = await _open(websocket, upstream, path)
    except _UNREACHABLE:
        await _close(websocket, TRY_AGAIN_LATER, "market data unavailable: try again")
        return
    async with role:
        down = asyncio.create_task(_to_client(role, websocket))
        up = asyncio.create_task(_to_role(websocket, role))
        await asyncio.wait((down, up), return_when=asyncio.FIRST_COMPLETED)
        for task in (down, up):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if not up.cancelled() and up.exception() is None and up.result():
        return  # the client left
    code, reason = role.close_code, role.close_reason or ""
    if code is None or code in (1006, 1011, 1001):
        code, reason = SERVICE_RESTART, "market data restarting: reconnect"
    await _close(websocket, code, reason)


async def _open(websocket: WebSocket, upstream: Upstream, path: str) -> ClientConnection:
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in websocket.scope.get("headers", ())
        if name in FORWARDED_HEADERS
    ]
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    uri = upstream.uri.rstrip("/") + path + (f"?{query}" if query else "")
    options: dict[str, Any] = {
        "additional_headers": headers,
        "compression": None,
        "max_size": frame_bytes_max,
        "open_timeout": connect_timeout_s,
    }
    if upstream.unix_path is not None:
        return await unix_connect(upstream.unix_path, uri, **options)
    return await connect(uri, **options)


async def _to_client(role: ClientConnection, websocket: WebSocket) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for frame in role:
            if isinstance(frame, str):
                await websocket.send_text(frame)
            else:
                await websocket.send_bytes(frame)


async def _to_role(websocket: WebSocket, role: ClientConnection) -> bool:
    """Pass the client's messages on; True once the client has gone."""
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return True
        if message["type"] == "websocket.disconnect":
            return True
        text = message.get("text")
        await role.send(text if text is not None else message.get("bytes") or b"")


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason), 1.0)
