"""Market data over WebSocket, and the REST reads of bars, last trade and last quote.

`WS /v1/market-data` takes messages `{"action": "subscribe" | "unsubscribe", "symbols": [...],
"channels": ["quotes", "trades", "depth"]}` (channels default to all three);
`WS /v1/market-data/{symbol}` subscribes to one symbol at once (`?channels=quotes,trades`,
default all three) and takes the same messages. The frames sent are described in
`marketdata.hub`: JSON arrays of messages, a snapshot per (symbol, channel) on subscribe, then
conflated updates with a sequence number per (symbol, channel).

Authentication is that of the REST API (`X-API-Key-Id` + `X-API-Secret`, or `Authorization:
Bearer`), or, for browsers, which cannot set headers on a WebSocket, the query parameters
`key_id` + `secret` or `token` (they appear in access logs: prefer headers). The read scope is
required. Refused callers are accepted and then closed with 1008 (policy violation) and the
reason, so that clients see a close code rather than a bare HTTP 403.

Tier: admins get the pro tier (10 updates per second) and everyone else retail (1 per second).
`?tier=retail` lowers an admin's; `?tier=pro` from a non-admin is refused with 1008. The admin
role stands in for a paid market-data entitlement until accounts carry one.
"""

import asyncio
import contextlib
from typing import Annotated, Any, Literal
from urllib.parse import quote

import msgspec
from fastapi import FastAPI, Query, WebSocket
from fastapi.responses import Response
from starlette.datastructures import Headers
from starlette.websockets import WebSocketDisconnect

from tradingfloor.domain.prices import format_price
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import deps
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.deps import Reader
from tradingfloor.gateway.schemas import DECODE_ERRORS
from tradingfloor.gateway.stream_proxy import forward
from tradingfloor.identity import AuthError, AuthErrorCode, AuthService, Principal, Role, Scope
from tradingfloor.marketdata.bars import TIMEFRAMES, Bar
from tradingfloor.marketdata.hub import CHANNELS, Client, MarketDataHub, Tier, trade_view

POLICY_VIOLATION = 1008
TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
client_message_bytes_max = 64 * 1024
close_timeout_s = 1.0
"""How long closing a dropped client may wait for its socket to take the close frame."""

_encode = msgspec.json.Encoder().encode
_TIMEFRAME_PATTERN = "^(" + "|".join(TIMEFRAMES) + ")$"


class StreamRequest(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["subscribe", "unsubscribe"]
    symbols: list[str]
    channels: list[str] = msgspec.field(default_factory=lambda: list(CHANNELS))


_request_decoder = msgspec.json.Decoder(StreamRequest)


class _WebSocketSink:
    def __init__(self, websocket: WebSocket) -> None:
        self._send = websocket.send

    async def send(self, frame: str) -> None:
        await self._send({"type": "websocket.send", "text": frame})


def install(app: FastAPI, platform: Backend) -> None:
    """Add the market-data WebSocket and REST routes to `app`: the WebSockets served by this
    gateway's hub, or forwarded to the market-data role (`stream_proxy`)."""
    upstream = platform.market_data_upstream
    if upstream is None:
        install_websockets(app, platform.marketdata, platform.auth)
    else:

        @app.websocket("/v1/market-data")
        async def market_data(websocket: WebSocket) -> None:
            await forward(websocket, upstream, "/v1/market-data")

        @app.websocket("/v1/market-data/{symbol}")
        async def market_data_symbol(websocket: WebSocket, symbol: str) -> None:
            await forward(websocket, upstream, f"/v1/market-data/{quote(symbol, safe='')}")

    @app.get("/v1/bars/{symbol}", tags=["market data"])
    async def bars(
        symbol: str,
        _principal: Reader,
        timeframe: Annotated[str, Query(pattern=_TIMEFRAME_PATTERN)] = "1Min",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        """OHLCV bars built from every trade in the event log, oldest first (`start_ts`:
        ns since the epoch, UTC-aligned; `vwap` rounded down to 1/10,000 $)."""
        if not platform.known(symbol):
            return _unknown_symbol()
        found = platform.marketdata.bars.bars(symbol, timeframe, limit)
        body = {"symbol": symbol, "timeframe": timeframe, "bars": [_bar(bar) for bar in found]}
        return _json(body)

    @app.get("/v1/last-trade/{symbol}", tags=["market data"])
    async def last_trade(symbol: str, _principal: Reader) -> Response:
        """The symbol's latest trade (`trade` is null before the first)."""
        if not platform.known(symbol):
            return _unknown_symbol()
        event = platform.marketdata.last_trade(symbol)
        return _json({"symbol": symbol, "trade": None if event is None else trade_view(event)})

    @app.get("/v1/last-quote/{symbol}", tags=["market data"])
    async def last_quote(symbol: str, _principal: Reader) -> Response:
        """Best bid and ask with their sizes and the halt in force, now (`ts`: the engine time
        of the last change)."""
        if not platform.known(symbol):
            return _unknown_symbol()
        body = platform.marketdata.snapshot(Tier.PRO, symbol, "quotes")
        fields = ("bid", "ask", "halt", "ts")
        return _json({"symbol": symbol, **{name: body[name] for name in fields}})


def install_websockets(app: FastAPI, hub: MarketDataHub, auth: AuthService) -> None:
    """The market-data WebSockets, served by `hub` (a gateway's, or the market-data role's)."""

    @app.websocket("/v1/market-data")
    async def market_data(websocket: WebSocket) -> None:
        await _serve(websocket, hub, auth, None)

    @app.websocket("/v1/market-data/{symbol}")
    async def market_data_symbol(websocket: WebSocket, symbol: str) -> None:
        await _serve(websocket, hub, auth, symbol)


async def _serve(
    websocket: WebSocket,
    hub: MarketDataHub,
    auth: AuthService,
    symbol: str | None,
) -> None:
    await websocket.accept()
    try:
        principal = deps.authenticate(auth, _credentials(websocket))
        principal.require(Scope.READ)
        tier = _tier(principal, websocket.query_params.get("tier"))
    except AuthError as error:
        await websocket.close(POLICY_VIOLATION, error.message)
        return
    client = hub.connect(_WebSocketSink(websocket), tier)
    if client is None:
        await websocket.close(TRY_AGAIN_LATER, "too many market data clients")
        return
    receiver: asyncio.Task[int | None] | None = None
    gone: asyncio.Task[bool] | None = None
    close_code = None
    try:
        if symbol is not None:
            requested = websocket.query_params.get("channels")
            channels = requested.split(",") if requested else list(CHANNELS)
            if hub.subscribe(client, [symbol], channels):
                await _send_pending_then_close(client, websocket, 1000, "unknown symbol")
        if client.close_code is None:
            receiver = asyncio.create_task(_receive(websocket, hub, client))
            gone = asyncio.create_task(client.done.wait())
            await asyncio.wait({receiver, gone}, return_when=asyncio.FIRST_COMPLETED)
            close_code = receiver.result() if receiver.done() else None
    finally:
        for task in (receiver, gone):
            if task is not None and not task.done():
                task.cancel()
        hub.disconnect(client)
    code = client.close_code or close_code
    if code is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code, client.close_reason), close_timeout_s)


async def _receive(websocket: WebSocket, hub: MarketDataHub, client: Client) -> int | None:
    """Handle the client's messages until it disconnects (None) or must be closed (a code)."""
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return None
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > client_message_bytes_max:
            client.close_reason = "message too big"
            return TOO_BIG
        try:
            request = _request_decoder.decode(data)
        except DECODE_ERRORS as error:
            client.tell({"type": "error", "message": f"malformed request: {error}"})
            continue
        if request.action == "subscribe":
            hub.subscribe(client, request.symbols, request.channels)
        else:
            hub.unsubscribe(client, request.symbols, request.channels)


async def _send_pending_then_close(
    client: Client, websocket: WebSocket, code: int, reason: str
) -> None:
    """Let the sender write the queued error, then close."""
    for _ in range(100):
        if not client.control or client.done.is_set():
            break
        await asyncio.sleep(0.001)
    client.close_code, client.close_reason = code, reason


def _credentials(websocket: WebSocket) -> Headers:
    """The WebSocket's credential headers, or its query parameters as such headers when it
    sent none (a character no header can hold becomes `?`, which no credential has)."""
    headers: list[tuple[bytes, bytes]] = list(websocket.scope.get("headers", []))
    names = {name.lower() for name, _ in headers}
    if not names & {b"authorization", b"x-api-key-id", b"apca-api-key-id"}:
        query = websocket.query_params
        token, key_id, secret = query.get("token"), query.get("key_id"), query.get("secret")
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode("latin-1", "replace")))
        elif key_id and secret:
            headers.append((b"x-api-key-id", key_id.encode("latin-1", "replace")))
            headers.append((b"x-api-secret", secret.encode("latin-1", "replace")))
    return Headers(raw=headers)


def _tier(principal: Principal, requested: str | None) -> Tier:
    entitled = principal.role == Role.ADMIN
    if requested is None:
        return Tier.PRO if entitled else Tier.RETAIL
    if requested not in (Tier.RETAIL, Tier.PRO):
        raise AuthError(AuthErrorCode.INVALID_ARGUMENT, "tier: retail or pro")
    if requested == Tier.PRO and not entitled:
        raise AuthError(AuthErrorCode.FORBIDDEN, "the pro tier requires a market data entitlement")
    return Tier(requested)


def _bar(bar: Bar) -> dict[str, Any]:
    return {
        "start_ts": bar.start_ts,
        "open": format_price(bar.open),
        "high": format_price(bar.high),
        "low": format_price(bar.low),
        "close": format_price(bar.close),
        "volume": bar.volume,
        "trade_count": bar.trade_count,
        "vwap": format_price(bar.vwap),
    }


def _json(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status, media_type="application/json")


def _unknown_symbol() -> Response:
    reason = RejectReason.UNKNOWN_SYMBOL
    return _json({"code": int(reason), "message": reason.message}, 404)
