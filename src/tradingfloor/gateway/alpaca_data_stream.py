"""Alpaca's real-time stock data stream at `WS /v2/iex` and `WS /v2/sip` (one venue: both are
the same stream), as the SDK's `StockDataStream(key, secret, url_override=...)` speaks it.

Frames are arrays of messages, in msgpack when the client's handshake says `Content-Type:
application/msgpack` (as the SDK's does), else JSON text; the client's own frames may be
either. On connect the server sends `[{"T": "success", "msg": "connected"}]`; the client
authenticates with `{"action": "auth", "key", "secret"}` (a platform API key with the read
scope) within `websocket_auth_timeout_s`, and is told `authenticated`; then
`{"action": "subscribe" | "unsubscribe", "trades": [...], "quotes": [...], "bars": [...]}`
(`"*"`: every symbol) is answered with the whole subscription, `{"T": "subscription",
"trades", "quotes", "bars", ...}`. Data messages are those of `alpaca_data_fanout`.

Errors are Alpaca's: `{"T": "error", "code", "msg"}` with 400 invalid syntax, 401 not
authenticated, 402 auth failed (then closed), 403 already authenticated, 404 auth timeout
(then closed), 405 symbol limit exceeded (`symbols_per_connection_max`, the subscription left
as it was), 406 connection limit exceeded (`connections_max`, then closed), 407 slow client
(then closed with 1013: more than `messages_queued_max` waiting, or a send not done within
the market-data WebSockets' `slow_client_s`), 410 invalid subscribe action (a channel that
is not Alpaca's). A client frame over `client_message_bytes_max` is closed with 1009.
"""

import asyncio
import contextlib
import json
from typing import Any

import msgspec
from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

from tradingfloor.gateway.alpaca_data_fanout import (
    CHANNELS,
    QUIET_CHANNELS,
    DataStreams,
    Message,
    Subscriber,
    frame,
)
from tradingfloor.gateway.backend import Backend
from tradingfloor.identity import AuthError, Scope

FEEDS = ("iex", "sip")
connections_max = 1_000
symbols_per_connection_max = 1_000
symbol_length_max = 32
client_message_bytes_max = 64 * 1024
frame_messages_max = 1_000
POLICY_VIOLATION = 1008
TOO_BIG = 1009
TRY_AGAIN_LATER = 1013


class Refusal(Exception):
    """An Alpaca error to tell the client; `close` with a close code when it ends the stream."""

    def __init__(self, code: int, message: str, close: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.close = code, message, close


def control(kind: str, **fields: Any) -> Message:
    return Message({"T": kind, **fields})


def error(code: int, message: str) -> Message:
    return control("error", code=code, msg=message)


class Connection:
    """One client's socket: frames in its format."""

    def __init__(self, websocket: WebSocket, send_timeout_s: float) -> None:
        self.websocket = websocket
        self.send_timeout_s = send_timeout_s
        kind = websocket.headers.get("content-type", "")
        self.packed = kind.lower().startswith("application/msgpack")

    async def send(self, messages: list[Message]) -> None:
        data = frame(messages, self.packed)
        async with asyncio.timeout(self.send_timeout_s):
            if self.packed:
                await self.websocket.send_bytes(data)
            else:
                await self.websocket.send_text(data.decode())

    async def receive(self) -> Any:
        """The client's next message, decoded (`Refusal` 400 when it is neither JSON nor
        msgpack)."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text, data = message.get("text"), message.get("bytes")
        size = len(text) if text is not None else len(data or b"")
        if size > client_message_bytes_max:
            raise Refusal(400, "message too big", TOO_BIG)
        try:
            if text is not None:
                return json.loads(text)
            return msgspec.msgpack.decode(data or b"")
        except (ValueError, RecursionError, msgspec.DecodeError):
            raise Refusal(400, "invalid syntax") from None


def install(app: FastAPI, platform: Backend) -> None:
    """`WS /v2/iex` and `/v2/sip` on `app`, fed by `platform`'s event feed."""
    streams = DataStreams(platform.market, platform.clock)
    platform.feed_listeners.append(streams.on_feed)

    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        connection = Connection(websocket, platform.marketdata.settings.slow_client_s)
        with contextlib.suppress(WebSocketDisconnect):
            await _serve(connection, streams, platform)

    for feed in FEEDS:
        app.add_api_websocket_route(f"/v2/{feed}", stream)


async def _serve(connection: Connection, streams: DataStreams, platform: Backend) -> None:
    if len(streams.subscribers) >= connections_max:
        await _refuse(connection, Refusal(406, "connection limit exceeded", TRY_AGAIN_LATER))
        return
    await connection.send([control("success", msg="connected")])
    try:
        await _authenticate(connection, platform)
    except Refusal as refusal:
        await _refuse(connection, refusal)
        return
    await connection.send([control("success", msg="authenticated")])
    subscriber = Subscriber(connection.packed)
    streams.join(subscriber)
    sender = asyncio.create_task(_send_loop(connection, subscriber))
    try:
        receiver = asyncio.create_task(_receive_loop(connection, streams, subscriber))
        await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for task in (receiver, sender):
            if not task.cancelled() and isinstance(task.exception(), Refusal):
                await _refuse(connection, task.exception())  # type: ignore[arg-type]
                return
    finally:
        streams.leave(subscriber)


async def _authenticate(connection: Connection, platform: Backend) -> None:
    """Wait for the client's `auth` (`Refusal` if it does not come in time, or fails)."""
    try:
        async with asyncio.timeout(platform.settings.websocket_auth_timeout_s):
            while True:
                try:
                    message = await connection.receive()
                except Refusal as refusal:
                    if refusal.close is not None:
                        raise
                    await connection.send([error(refusal.code, refusal.message)])
                    continue
                if isinstance(message, dict) and message.get("action") == "auth":
                    break
                await connection.send([error(401, "not authenticated")])
    except TimeoutError:
        raise Refusal(404, "auth timeout", POLICY_VIOLATION) from None
    try:
        principal = platform.auth.authenticate_api_key(
            str(message.get("key", "")), str(message.get("secret", ""))
        )
        principal.require(Scope.READ)
    except AuthError:
        raise Refusal(402, "auth failed", POLICY_VIOLATION) from None


async def _receive_loop(
    connection: Connection, streams: DataStreams, subscriber: Subscriber
) -> None:
    while True:
        try:
            message = await connection.receive()
            answer = _act(streams, subscriber, message)
        except Refusal as refusal:
            if refusal.close is not None:
                raise
            answer = error(refusal.code, refusal.message)
        subscriber.offer(answer)


def _act(streams: DataStreams, subscriber: Subscriber, message: Any) -> Message:
    """Do what the client asks; the message that answers it."""
    action = message.get("action") if isinstance(message, dict) else None
    if action == "auth":
        raise Refusal(403, "already authenticated")
    if action not in ("subscribe", "unsubscribe"):
        raise Refusal(400, "invalid syntax")
    wanted = _channels(message)
    if action == "subscribe":
        fresh = sum(len(set(symbols) - subscriber.channels[c]) for c, symbols in wanted.items())
        if subscriber.symbol_count() + fresh > symbols_per_connection_max:
            raise Refusal(405, "symbol limit exceeded")
        for channel, symbols in wanted.items():
            streams.subscribe(subscriber, channel, symbols)
    else:
        for channel, symbols in wanted.items():
            streams.unsubscribe(subscriber, channel, symbols)
    listed: dict[str, list[str]] = {
        channel: sorted(subscriber.channels[channel]) for channel in CHANNELS
    }
    return control("subscription", **listed, **{channel: [] for channel in QUIET_CHANNELS})


def _channels(message: dict[str, Any]) -> dict[str, list[str]]:
    """The (channel, symbols) a subscribe or unsubscribe names (`Refusal` if malformed)."""
    found: dict[str, list[str]] = {}
    for key, symbols in message.items():
        if key == "action":
            continue
        if key not in CHANNELS and key not in QUIET_CHANNELS:
            raise Refusal(410, "invalid subscribe action for this feed")
        if not isinstance(symbols, list) or not all(
            isinstance(symbol, str) and 0 < len(symbol) <= symbol_length_max for symbol in symbols
        ):
            raise Refusal(400, "invalid syntax")
        if len(symbols) > symbols_per_connection_max:
            raise Refusal(405, "symbol limit exceeded")
        if key in CHANNELS:
            found[key] = list(dict.fromkeys(symbols))
    return found


async def _send_loop(connection: Connection, subscriber: Subscriber) -> None:
    """Write what waits for the client, `frame_messages_max` messages a frame at most."""
    outbox = subscriber.outbox
    while True:
        await subscriber.wakeup.wait()
        subscriber.wakeup.clear()
        if subscriber.overflowed:
            raise Refusal(407, "slow client", TRY_AGAIN_LATER)
        while outbox:
            count = min(len(outbox), frame_messages_max)
            messages = [outbox.popleft() for _ in range(count)]
            try:
                await connection.send(messages)
            except TimeoutError:
                raise Refusal(407, "slow client", TRY_AGAIN_LATER) from None


async def _refuse(connection: Connection, refusal: Refusal) -> None:
    """Tell the client the error (briefly: it may be the slow one), then close if it ends the
    stream."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(connection.send([error(refusal.code, refusal.message)]), 1.0)
    if refusal.close is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.websocket.close(refusal.close, refusal.message), 1.0)
