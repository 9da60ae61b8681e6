"""Alpaca's `trade_updates` stream at `WS /stream`, as the SDK's `TradingStream` speaks it.

The client sends `{"action": "authenticate", "data": {"key_id", "secret_key"}}` (a platform API
key; a client that has not done so within `websocket_auth_timeout_s` is closed with 1008),
then `{"action": "listen", "data": {"streams": ["trade_updates"]}}`; from then on it gets
`{"stream": "trade_updates", "data": {"event", "order", "timestamp", "price", "qty",
"position_qty", "execution_id"}}` for its account's orders: new, fill, partial_fill, canceled,
expired, replaced, rejected. The events come from the sequencer's batch listener (which only
queues them for listening accounts); each client's task waits for the read models to reach the
batch and sends the order as it stands there, so every update carries a whole Alpaca order.
"""

import asyncio
import contextlib
import json
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from tradingfloor.domain.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    TradeExecuted,
)
from tradingfloor.domain.prices import format_price
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway.backend import Backend
from tradingfloor.identity import AuthError, Scope
from tradingfloor.service.ports import EventBatch

updates_queued_max = 10_000
"""Updates waiting for one client; a client that falls this far behind is closed."""


@dataclass(frozen=True)
class Update:
    seq: int
    ts: int
    event: str
    order_id: int
    price: int | None = None
    qty: int | None = None
    execution: str | None = None


class TradeUpdates:
    """Listening clients by account, fed by the sequencer's batch listener."""

    def __init__(self) -> None:
        self.listeners: dict[str, set[Listener]] = {}

    def on_feed(self, batch: EventBatch) -> None:
        if not self.listeners:
            return
        for _, _, events in batch:
            for event in events:
                for account, update in _updates(event):
                    for listener in self.listeners.get(account, ()):
                        listener.offer(update)


def _updates(event: object) -> list[tuple[str, Update]]:
    """(account, update) pairs one event makes."""
    if isinstance(event, OrderAccepted):
        return [(event.account, Update(event.seq, event.ts, "new", event.order_id))]
    if isinstance(event, OrderRejected):
        return [(event.account, Update(event.seq, event.ts, "rejected", event.order_id))]
    if isinstance(event, TradeExecuted):
        found = []
        execution = str(uuid.uuid5(views.NAMESPACE, f"{event.symbol}:{event.trade_id}"))
        for account, order_id, leaves in (
            (event.maker_account, event.maker_order_id, event.maker_leaves),
            (event.taker_account, event.taker_order_id, event.taker_leaves),
        ):
            kind = "fill" if leaves == 0 else "partial_fill"
            found.append(
                (
                    account,
                    Update(event.seq, event.ts, kind, order_id, event.price, event.qty, execution),
                )
            )
        return found
    # The rest name no account: the listener looks the order up (see `Listener.account_of`).
    if isinstance(event, OrderCanceled) and event.leaves == 0:
        return [("", Update(event.seq, event.ts, "canceled", event.order_id))]
    if isinstance(event, OrderExpired):
        return [("", Update(event.seq, event.ts, "expired", event.order_id))]
    if isinstance(event, OrderReplaced):
        return [("", Update(event.seq, event.ts, "replaced", event.order_id))]
    return []


class Listener:
    def __init__(self, account: str) -> None:
        self.account = account
        self.queue: deque[Update] = deque()
        self.wakeup = asyncio.Event()
        self.overflowed = False

    def offer(self, update: Update) -> None:
        if len(self.queue) >= updates_queued_max:
            self.overflowed = True
        else:
            self.queue.append(update)
        self.wakeup.set()


def install(app: FastAPI, platform: Backend) -> None:
    """`WS /stream` on `app`, fed by `platform`'s sequencer."""
    updates = TradeUpdates()
    platform.feed_listeners.append(updates.on_feed)

    @app.websocket("/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            account = await _authenticate(websocket, platform)
            if account is None:
                return
            await _listen(websocket)
            listener = Listener(account)
            # Updates without an account (cancels, expiries, replaces) reach every listener,
            # which keeps those of its own orders.
            updates.listeners.setdefault(account, set()).add(listener)
            updates.listeners.setdefault("", set()).add(listener)
            try:
                await _send_updates(websocket, platform, listener)
            finally:
                for key in (account, ""):
                    group = updates.listeners.get(key)
                    if group is not None:
                        group.discard(listener)
                        if not group:
                            del updates.listeners[key]
        except WebSocketDisconnect:
            return


async def _authenticate(websocket: WebSocket, platform: Backend) -> str | None:
    """The account of a client that authenticates within `websocket_auth_timeout_s`; None
    (and the socket closed) for one that does not."""
    try:
        async with asyncio.timeout(platform.settings.websocket_auth_timeout_s):
            message = await _receive(websocket)
    except TimeoutError:
        await websocket.close(1008, "authenticate first")
        return None
    data = message.get("data") if isinstance(message, dict) else None
    if not (
        isinstance(message, dict)
        and message.get("action") in ("authenticate", "auth")
        and isinstance(data, dict)
    ):
        await _send(
            websocket, "authorization", {"status": "unauthorized", "action": "authenticate"}
        )
        await websocket.close(1008, "authenticate first")
        return None
    try:
        principal = platform.auth.authenticate_api_key(
            str(data.get("key_id", "")), str(data.get("secret_key", ""))
        )
        principal.require(Scope.READ)
    except AuthError as error:
        await _send(
            websocket, "authorization", {"status": "unauthorized", "action": "authenticate"}
        )
        await websocket.close(1008, error.message)
        return None
    await _send(websocket, "authorization", {"status": "authorized", "action": "authenticate"})
    return principal.account_id


async def _listen(websocket: WebSocket) -> None:
    while True:
        message = await _receive(websocket)
        if isinstance(message, dict) and message.get("action") == "listen":
            streams = (message.get("data") or {}).get("streams") or []
            wanted = [name for name in streams if name == "trade_updates"]
            await _send(websocket, "listening", {"streams": wanted})
            if wanted:
                return
        else:
            await _send(websocket, "error", {"message": "send listen with trade_updates"})


async def _send_updates(websocket: WebSocket, platform: Backend, listener: Listener) -> None:
    from tradingfloor.store import queries

    closed = asyncio.create_task(_until_closed(websocket))
    try:
        while not closed.done():
            waiting = asyncio.create_task(listener.wakeup.wait())
            await asyncio.wait((waiting, closed), return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            listener.wakeup.clear()
            if listener.overflowed:
                await websocket.close(1013, "too far behind")
                return
            while listener.queue:
                update = listener.queue.popleft()
                row = await platform.read_model(None, queries.get_order, update.order_id)
                if row is None or row.account != listener.account:
                    continue
                position = await _position_qty(platform, listener.account, row.symbol)
                data: dict[str, Any] = {
                    "event": update.event,
                    "order": views.alpaca_order(row),
                    "timestamp": views.iso_utc(update.ts),
                    "position_qty": position,
                }
                if update.price is not None:
                    data["price"] = format_price(update.price)
                    data["qty"] = str(update.qty)
                    data["execution_id"] = update.execution
                await _send(websocket, "trade_updates", data)
    finally:
        closed.cancel()
        with contextlib.suppress(BaseException):
            await closed


async def _position_qty(platform: Backend, account: str, symbol: str) -> str:
    for position in await platform.open_positions(account):
        if position.symbol == symbol:
            return str(position.qty)
    return "0"


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and drop) what the client sends until it goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


async def _receive(websocket: WebSocket) -> Any:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None and message.get("bytes") is not None:
        text = message["bytes"].decode("utf-8", "replace")
    try:
        return json.loads(text or "")
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None


async def _send(websocket: WebSocket, stream: str, data: dict[str, Any]) -> None:
    await websocket.send_text(json.dumps({"stream": stream, "data": data}))
