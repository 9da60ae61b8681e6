"""Alpaca's `trade_updates` stream at `WS /stream`, as the SDK's `TradingStream` speaks it.

The client sends `{"action": "authenticate", "data": {"key_id", "secret_key"}}` (a platform API
key; a client that has not done so within `websocket_auth_timeout_s` is closed with 1008),
then `{"action": "listen", "data": {"streams": ["trade_updates"]}}`; from then on it gets
`{"stream": "trade_updates", "data": {"event", "order", "timestamp", "price", "qty",
"position_qty", "execution_id"}}` for its account's orders: new, fill, partial_fill, canceled,
expired, replaced, rejected.

Every order event names its account, so the sequencer's batch listener queues each event for
the clients of that account only. Each client's task turns its events into its orders' states
with the domain's order-state reducer, so every update carries a whole Alpaca order as it
stands after that event. An order made before the client started listening is read from the
read models once, at its first event here (they are waited for to reach that event: the row
then already reflects it); after that its state follows from the events alone.
"""

import asyncio
import contextlib
import json
import uuid
from collections import deque
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from tradingfloor.domain.enums import CancelReason, OrderStatus
from tradingfloor.domain.events import (
    Event,
    FractionCanceled,
    FractionFilled,
    LegCanceled,
    LegHeld,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    TradeExecuted,
)
from tradingfloor.domain.fractions import format_shares
from tradingfloor.domain.order_state import (
    ORDER_EVENTS,
    OrderState,
    accepted,
    evolve,
    held,
    leg_accepted,
    rejected,
    replacement,
)
from tradingfloor.domain.prices import format_price
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway.backend import Backend
from tradingfloor.identity import AuthError, Scope
from tradingfloor.service.ports import EventBatch
from tradingfloor.store import queries
from tradingfloor.store.order_rows import order_row, order_state

updates_queued_max = 10_000
"""Events waiting for one client; a client that falls this far behind is closed."""


class TradeUpdates:
    """Listening clients by account, fed by the gateway's event feed."""

    def __init__(self) -> None:
        self.listeners: dict[str, set[Listener]] = {}

    def on_feed(self, batch: EventBatch) -> None:
        listeners = self.listeners
        if not listeners:
            return
        for _, _, events in batch:
            for event in events:
                kind = type(event)
                if kind not in ORDER_EVENTS:
                    continue
                if kind is TradeExecuted:
                    trade: TradeExecuted = event  # type: ignore[assignment]
                    accounts = {trade.maker_account, trade.taker_account}
                else:
                    accounts = {event.account}  # type: ignore[attr-defined]
                for account in accounts:
                    for listener in listeners.get(account, ()):
                        listener.offer(event)


class Listener:
    """One client: its account's events to send, and the states of the orders they name."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.queue: deque[Event] = deque()
        self.wakeup = asyncio.Event()
        self.overflowed = False
        self.orders: dict[int, OrderState] = {}
        self.read_through: dict[int, int] = {}
        """Per order read from the read models: the seq its row stood at (events up to it
        are in the row already)."""

    def offer(self, event: Event) -> None:
        if len(self.queue) >= updates_queued_max:
            self.overflowed = True
        else:
            self.queue.append(event)
        self.wakeup.set()

    def own_ids(self, event: Event) -> list[int]:
        """The orders of this client's account that `event` makes or changes."""
        if type(event) is TradeExecuted:
            trade = event
            sides = ((trade.maker_account, trade.maker_order_id),
                     (trade.taker_account, trade.taker_order_id))  # fmt: skip
            return [order_id for account, order_id in sides if account == self.account]
        if type(event) is OrderReplaced:
            return [event.order_id, event.new_order_id]
        return [event.order_id]  # type: ignore[attr-defined]

    def apply(self, event: Event) -> None:
        """The orders `event` names, after it (those read after it stay as read)."""
        orders, read_through, seq = self.orders, self.read_through, event.seq
        kind = type(event)
        if kind is OrderAccepted or kind is OrderRejected or kind is LegHeld:
            made = _made(orders.get(event.order_id), event)  # type: ignore[attr-defined]
            if made is not None and read_through.get(made.order_id, 0) < seq:
                orders[made.order_id] = made
            if kind is not LegHeld or made is not None:
                return
        if kind is OrderReplaced:
            replaced: OrderReplaced = event  # type: ignore[assignment]
            old = orders.get(replaced.order_id)
            if old is not None and read_through.get(replaced.new_order_id, 0) < seq:
                orders[replaced.new_order_id] = replacement(old, replaced)
        for order_id in self.own_ids(event):
            state = orders.get(order_id)
            if state is not None and read_through.get(order_id, 0) < seq:
                orders[order_id] = evolve(state, event)


def _made(old: OrderState | None, event: Event) -> OrderState | None:
    """The order an entry, a refusal or a held leg makes (a held leg entering the book
    keeps its parent and class); None when the event makes none."""
    kind = type(event)
    if kind is OrderRejected:
        return rejected(event)  # type: ignore[arg-type]
    if kind is LegHeld:
        return held(event) if old is None else None  # type: ignore[arg-type]
    if old is not None and old.status == OrderStatus.HELD:
        return leg_accepted(old, event)  # type: ignore[arg-type]
    return accepted(event)  # type: ignore[arg-type]


def _updates(listener: Listener, event: Event) -> list[tuple[str, int, dict[str, Any]]]:
    """(Alpaca event, order id, extra fields) of the updates `event` makes for the client."""
    kind = type(event)
    if kind is OrderAccepted:
        return [("new", event.order_id, {})]  # type: ignore[attr-defined]
    if kind is OrderRejected:
        return [("rejected", event.order_id, {})]  # type: ignore[attr-defined]
    if kind is OrderCanceled and not event.leaves:  # type: ignore[attr-defined]
        return [("canceled", event.order_id, {})]  # type: ignore[attr-defined]
    if kind is OrderExpired:
        return [("expired", event.order_id, {})]  # type: ignore[attr-defined]
    if kind is LegCanceled:  # a held leg
        return [("canceled", event.order_id, {})]  # type: ignore[attr-defined]
    if kind is FractionFilled:
        return [_fraction_fill(event)]  # type: ignore[arg-type]
    if kind is FractionCanceled:
        canceled: FractionCanceled = event  # type: ignore[assignment]
        ended = "expired" if canceled.reason == CancelReason.SESSION_END else "canceled"
        return [(ended, canceled.order_id, {})]
    if kind is OrderReplaced:
        return [("replaced", event.order_id, {})]  # type: ignore[attr-defined]
    if kind is not TradeExecuted:
        return []
    trade: TradeExecuted = event  # type: ignore[assignment]
    execution = str(uuid.uuid5(views.NAMESPACE, f"{trade.symbol}:{trade.trade_id}"))
    found = []
    for order_id in listener.own_ids(trade):
        maker = order_id == trade.maker_order_id
        leaves = trade.maker_leaves if maker else trade.taker_leaves
        fill = {
            "price": format_price(trade.price),
            "qty": str(trade.qty),
            "execution_id": execution,
        }
        state = listener.orders.get(order_id)
        done = leaves == 0 and (state is None or state.status == OrderStatus.FILLED)
        found.append(("fill" if done else "partial_fill", order_id, fill))
    return found


def _fraction_fill(fill: FractionFilled) -> tuple[str, int, dict[str, Any]]:
    """The fractional desk's fill of an order's fraction: the order's last."""
    execution = str(uuid.uuid5(views.NAMESPACE, f"{fill.symbol}:fraction:{fill.order_id}"))
    shown = {
        "price": format_price(fill.price),
        "qty": format_shares(0, fill.fraction),
        "execution_id": execution,
    }
    return ("fill", fill.order_id, shown)


def install(app: FastAPI, platform: Backend) -> None:
    """`WS /stream` on `app`, fed by `platform`'s event feed."""
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
            updates.listeners.setdefault(account, set()).add(listener)
            try:
                await _send_updates(websocket, platform, listener)
            finally:
                group = updates.listeners.get(account)
                if group is not None:
                    group.discard(listener)
                    if not group:
                        del updates.listeners[account]
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
                event = listener.queue.popleft()
                await _read_unknown_orders(platform, listener, event)
                listener.apply(event)
                for name, order_id, extra in _updates(listener, event):
                    state = listener.orders.get(order_id)
                    if state is not None:
                        await _send(
                            websocket,
                            "trade_updates",
                            await _update(platform, name, state, event, extra),
                        )
                _forget_done(listener, event)
    finally:
        closed.cancel()
        with contextlib.suppress(BaseException):
            await closed


async def _read_unknown_orders(platform: Backend, listener: Listener, event: Event) -> None:
    """Read from the read models the orders `event` changes that the client has not seen
    made (made before it listened): once each, with the event in them already."""
    made: set[int] = set()
    if type(event) is OrderAccepted or type(event) is OrderRejected or type(event) is LegHeld:
        made.add(event.order_id)
    elif type(event) is OrderReplaced and event.order_id in listener.orders:
        made.add(event.new_order_id)
    for order_id in listener.own_ids(event):
        if order_id in made or order_id in listener.orders:
            continue
        row = await platform.read_model(listener.account, queries.get_order, order_id)
        if row is not None and row.account == listener.account:
            listener.orders[order_id] = order_state(row)
            listener.read_through[order_id] = row.updated_seq


async def _update(
    platform: Backend, name: str, state: OrderState, event: Event, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event": name,
        "order": views.alpaca_order(order_row(state)),
        "timestamp": views.iso_utc(event.ts),
        "position_qty": await _position_qty(platform, state.account, state.symbol),
        **extra,
    }


def _forget_done(listener: Listener, event: Event) -> None:
    """Drop the orders `event` finished: no event will name them again."""
    for order_id in listener.own_ids(event):
        state = listener.orders.get(order_id)
        if state is not None and not state.is_open:
            del listener.orders[order_id]
            listener.read_through.pop(order_id, None)


async def _position_qty(platform: Backend, account: str, symbol: str) -> str:
    """The account's position now (the shard's answer when the update is sent)."""
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
