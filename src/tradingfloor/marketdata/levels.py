"""The visible book of one symbol, aggregated by price, built from the engine's events alone.

A market-data process has no engine to read: it follows the event feed. `LevelBook` keeps what
subscribers see (per price: total open quantity and number of orders) and, to keep it, a small
record of every live order (side, price, open quantity). The engine's rules, as its events
show them:

- A stop (`OrderAccepted` of a stop type) waits unseen; `StopTriggered` sends it to the book.
- An incoming order (a new non-stop order, a triggered stop, a replacement that lost
  priority) is not in the book while it executes: it is the taker of the trades that follow,
  and `OrderCanceled` with `leaves` > 0 is an STP decrement of it. No event says that it
  rests: whatever it still has open when its execution ends rests at its price, because
  every other ending says so (a last trade with no leaves, or an `OrderCanceled` with no
  leaves: IOC and FOK remainders, market orders without liquidity, STP). Its execution ends
  at the next order's entry (`OrderAccepted`, `StopTriggered`, `OrderReplaced`) or with its
  command (`end_command`); a stop elected by its trades may then trade against it.
- Makers are resting orders: a trade or an `OrderCanceled` takes their open quantity down to
  the event's `leaves`, and they leave the level at 0.
- `OrderReplaced` with `kept_priority` lowers a resting order in place under its new id;
  otherwise the old order leaves (level or stops) and the replacement enters as the old one
  was: a resting order's replacement executes as incoming, a stop's waits.
- `LegResized` (a bracket's leg growing with its entry) gives a resting leg its new open
  quantity at the back of its level, and a waiting stop-loss its new quantity.
- `OrderAdjusted` (a corporate action) gives a resting order or a stop new terms in place:
  a resting order moves to its new price with its new open quantity (it cannot cross: the
  engine's rounding keeps the book uncrossed). A symbol change renames the book (`rename`).

An event that contradicts this (a trade whose maker is not resting, an unknown order) is a
bug in the engine or in this book, and raises `InvariantViolation`.
"""

from collections.abc import Callable, Sequence
from heapq import nlargest, nsmallest
from typing import Any, Protocol

import msgspec

from tradingfloor.domain.enums import STOP_ORDER_TYPES, Side
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    Event,
    LegResized,
    OrderAccepted,
    OrderAdjusted,
    OrderCanceled,
    OrderExpired,
    OrderReplaced,
    StopTriggered,
    SymbolTakenOver,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.marketdata.halts import HaltState

BUY = Side.BUY
BOOK_EVENTS = (
    TradeExecuted,
    OrderAccepted,
    OrderCanceled,
    OrderReplaced,
    StopTriggered,
    OrderExpired,
    OrderAdjusted,
    LegResized,
)
"""The events that may change a visible book (all carry `symbol`)."""


class LevelView(Protocol):
    """One price level as readers see it."""

    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def order_count(self) -> int: ...


class DepthView(Protocol):
    """Price levels best first: bids from the highest price, asks from the lowest."""

    @property
    def bids(self) -> Sequence[LevelView]: ...
    @property
    def asks(self) -> Sequence[LevelView]: ...


class BookView(Protocol):
    """What the hub reads of an order book (`LevelBook` and `matching.book.OrderBook` fit)."""

    def depth(self, levels: int | None = None) -> DepthView: ...


class PriceLevel(msgspec.Struct, frozen=True, array_like=True):
    """One price level: the fields, in the order, of the engine's `BookLevel`."""

    price: int
    order_count: int
    qty: int


class LevelDepth(msgspec.Struct, frozen=True):
    """Price levels best first: bids from the highest price, asks from the lowest."""

    bids: list[PriceLevel]
    asks: list[PriceLevel]


class _Level:
    __slots__ = ("order_count", "qty")

    def __init__(self) -> None:
        self.qty = 0
        self.order_count = 0


class _Order:
    """A live order as far as the visible book needs it. `price` is None for market orders
    and stops that enter as market orders."""

    __slots__ = ("leaves", "order_id", "price", "side")

    def __init__(self, order_id: int, side: Side, price: int | None, leaves: int) -> None:
        self.order_id = order_id
        self.side = side
        self.price = price
        self.leaves = leaves


class LevelBook:
    """One symbol's visible book from its events; read it between commands."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.last_price: int | None = None
        self.reference_price: int | None = None
        self.halt: HaltState | None = None
        """The symbol's own halt, as its last halt event told (in force or run out)."""
        self.ts = 0
        """Engine time (ns) of the symbol's newest order or trade event."""
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._resting: dict[int, _Order] = {}
        self._stops: dict[int, _Order] = {}
        self._incoming: _Order | None = None

    @classmethod
    def of_moved(cls, event: SymbolTakenOver) -> "LevelBook":
        """The book of a symbol as it arrived on its new shard (`SymbolTakenOver`): resting
        orders in their time priority, waiting stops unseen."""
        book = cls(event.instrument)
        book.last_price = event.last_price
        book.reference_price = event.reference_price
        book.ts = event.ts
        for moved in event.orders:
            order = _Order(moved.order_id, moved.side, moved.price, moved.leaves)
            if moved.stop:
                book._stops[moved.order_id] = order
            else:
                book._incoming = order
                book._end_execution()  # rests at its price, after those before it
        return book

    # ------------------------------------------------------------------ events

    def apply(self, event: Event) -> None:
        """Follow one event of this symbol; events of other kinds change nothing here."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
            self.ts = event.ts

    def end_command(self) -> None:
        """The command's events are all applied: an incoming order with quantity left rests."""
        self._end_execution()

    def _end_execution(self) -> None:
        """The incoming order's execution is over: what it has left rests at its price."""
        incoming = self._incoming
        if incoming is None:
            return
        self._incoming = None
        if not incoming.leaves:
            return
        price = incoming.price
        if price is None:
            raise InvariantViolation(
                f"{self.symbol}: order {incoming.order_id} without a price left open"
            )
        levels = self._bids if incoming.side == BUY else self._asks
        level = levels.get(price)
        if level is None:
            level = levels[price] = _Level()
        level.qty += incoming.leaves
        level.order_count += 1
        self._resting[incoming.order_id] = incoming

    def _accepted(self, event: OrderAccepted) -> None:
        self._end_execution()
        order = _Order(event.order_id, event.side, event.price, event.qty)
        if event.order_type in STOP_ORDER_TYPES:
            self._stops[event.order_id] = order
        else:
            self._incoming = order

    def _triggered(self, event: StopTriggered) -> None:
        self._end_execution()
        stop = self._stops.pop(event.order_id, None)
        if stop is None:
            raise InvariantViolation(f"{self.symbol}: unknown stop {event.order_id} triggered")
        self._incoming = stop

    def _trade(self, event: TradeExecuted) -> None:
        maker = self._resting.get(event.maker_order_id)
        if maker is None:
            raise InvariantViolation(f"{self.symbol}: maker {event.maker_order_id} not resting")
        taker = self._incoming
        if taker is None or taker.order_id != event.taker_order_id:
            raise InvariantViolation(f"{self.symbol}: taker {event.taker_order_id} not incoming")
        self._lower(maker, event.maker_leaves)
        taker.leaves = event.taker_leaves
        self.last_price = event.price

    def _canceled(self, event: OrderCanceled) -> None:
        incoming = self._incoming
        if incoming is not None and incoming.order_id == event.order_id:
            incoming.leaves = event.leaves
            return
        resting = self._resting.get(event.order_id)
        if resting is not None:
            self._lower(resting, event.leaves)
            return
        stop = self._stops.get(event.order_id)
        if stop is None:
            raise InvariantViolation(f"{self.symbol}: unknown order {event.order_id} canceled")
        if event.leaves:  # a stop-loss cut to its pair's open quantity
            stop.leaves = event.leaves
        else:
            del self._stops[event.order_id]

    def _expired(self, event: OrderExpired) -> None:
        resting = self._resting.get(event.order_id)
        if resting is not None:
            self._lower(resting, 0)
        elif self._stops.pop(event.order_id, None) is None:
            raise InvariantViolation(f"{self.symbol}: unknown order {event.order_id} expired")

    def _replaced(self, event: OrderReplaced) -> None:
        self._end_execution()
        old_id, new_id = event.order_id, event.new_order_id
        resting = self._resting.get(old_id)
        if resting is not None:
            if event.kept_priority:
                self._lower(resting, event.leaves)
                del self._resting[old_id]
                resting.order_id = new_id
                self._resting[new_id] = resting
            else:
                self._lower(resting, 0)
                self._incoming = _Order(new_id, resting.side, event.price, event.leaves)
            return
        stop = self._stops.pop(old_id, None)
        if stop is None:
            raise InvariantViolation(f"{self.symbol}: unknown order {old_id} replaced")
        self._stops[new_id] = _Order(new_id, stop.side, event.price, event.leaves)

    def _adjusted(self, event: OrderAdjusted) -> None:
        self._end_execution()
        order_id = event.order_id
        resting = self._resting.get(order_id)
        if resting is not None:
            self._lower(resting, 0)
            self._incoming = _Order(order_id, resting.side, event.price, event.leaves)
            self._end_execution()  # rests at its new price
            return
        stop = self._stops.get(order_id)
        if stop is None:
            raise InvariantViolation(f"{self.symbol}: unknown order {order_id} adjusted")
        stop.price = event.price
        stop.leaves = event.leaves

    def _leg_resized(self, event: LegResized) -> None:
        self._end_execution()
        order_id = event.order_id
        resting = self._resting.get(order_id)
        if resting is not None:
            self._lower(resting, 0)
            self._incoming = _Order(order_id, resting.side, resting.price, event.leaves)
            self._end_execution()  # rests again, at the back of its level
            return
        stop = self._stops.get(order_id)
        if stop is None:
            raise InvariantViolation(f"{self.symbol}: unknown order {order_id} resized")
        stop.leaves = event.leaves

    def rename(self, symbol: str) -> None:
        """A symbol change: this book is `symbol`'s from now on."""
        self.instrument = msgspec.structs.replace(self.instrument, symbol=symbol)
        self.symbol = symbol

    def _lower(self, order: _Order, leaves: int) -> None:
        """Take a resting order's open quantity down to `leaves`; at 0 it leaves its level."""
        levels = self._bids if order.side == BUY else self._asks
        price: int = order.price  # type: ignore[assignment]  # resting orders have one
        level = levels[price]
        level.qty -= order.leaves - leaves
        order.leaves = leaves
        if leaves:
            return
        del self._resting[order.order_id]
        level.order_count -= 1
        if not level.order_count:
            if level.qty:
                raise InvariantViolation(f"{self.symbol}: level {price} empty with {level.qty}")
            del levels[price]

    # ------------------------------------------------------------------ reads

    def depth(self, levels: int | None = None) -> LevelDepth:
        """The visible book, `levels` deep per side (all when None)."""
        if levels is None:
            bid_prices = sorted(self._bids, reverse=True)
            ask_prices = sorted(self._asks)
        else:  # a top-N read must not sort the whole book
            bid_prices = nlargest(levels, self._bids)
            ask_prices = nsmallest(levels, self._asks)
        return LevelDepth(
            [_view(price, self._bids[price]) for price in bid_prices],
            [_view(price, self._asks[price]) for price in ask_prices],
        )

    def best_bid(self) -> PriceLevel | None:
        if not self._bids:
            return None
        price = max(self._bids)
        return _view(price, self._bids[price])

    def best_ask(self) -> PriceLevel | None:
        if not self._asks:
            return None
        price = min(self._asks)
        return _view(price, self._asks[price])

    def live_order_count(self) -> int:
        """Resting orders and waiting stops."""
        return len(self._resting) + len(self._stops)


_HANDLERS: dict[type[Event], Callable[[LevelBook, Any], None]] = {
    TradeExecuted: LevelBook._trade,
    OrderAccepted: LevelBook._accepted,
    OrderCanceled: LevelBook._canceled,
    OrderReplaced: LevelBook._replaced,
    StopTriggered: LevelBook._triggered,
    OrderExpired: LevelBook._expired,
    OrderAdjusted: LevelBook._adjusted,
    LegResized: LevelBook._leg_resized,
}
"""Each event that may change a visible book, by exact type (the engine emits no subclasses)."""


def _view(price: int, level: _Level) -> PriceLevel:
    return PriceLevel(price, level.order_count, level.qty)
