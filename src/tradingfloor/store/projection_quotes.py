"""The quote at each order's arrival, projected beside the orders in the projector's batch.

`QuoteRows` reads the price levels (`book_levels`) of the symbols a batch's order events name,
follows each order event's change to what rests on the book, and records the best bid and ask
as an order arrives, before the order itself touches the book (for a replace, the book still
holds the order it replaces: the quote before the command). It works from the order states
the batch's handlers keep (`BatchRows.orders`): an order rests with its leaves at its price
while it is open and a limit (or an elected stop limit). An IOC or FOK limit rests for the
instant of its own command only (its remainder is canceled in the same seq), so no other
order ever arrives to it. Changes are written back at the end of the batch, in its
transaction: a batch applied twice is skipped whole by the projector, levels and quotes alike.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from tradingfloor.domain.enums import OrderStatus, OrderType, Side
from tradingfloor.domain.events import (
    Event,
    OrderAccepted,
    OrderReplaced,
    SymbolChanged,
    TradeExecuted,
)
from tradingfloor.domain.order_state import ORDER_EVENTS, OrderState, order_ids_of
from tradingfloor.store.projection_rows import Batch, BatchRows, in_list_size_max
from tradingfloor.store.projection_sql import MutableTableSql, TableSql
from tradingfloor.store.quote_tables import arrival_quotes, book_levels

RESTING_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
RESTING_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
SIDE_NAME = {Side.BUY: "buy", Side.SELL: "sell"}
QUOTED_EVENTS = ORDER_EVENTS | {SymbolChanged}
"""The events that change what rests on a book, or where an order arrives."""

Level = tuple[str, str, int]
"""(symbol, side, price)."""
Resting = tuple[str, Side, int, int] | None
"""(symbol, side, price, leaves) of an order on the book; None when it is not on it."""


def resting(state: OrderState | None) -> Resting:
    """What `state` puts on the book: its leaves at its price, if it rests."""
    if (
        state is None
        or state.status not in RESTING_STATUSES
        or state.order_type not in RESTING_TYPES
        or state.price is None
        or state.side is None
        or not state.leaves_qty
    ):
        return None
    return (state.symbol, state.side, state.price, state.leaves_qty)


class QuoteRows:
    """The price levels of one batch's symbols and the arrival quotes it makes."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.levels: dict[tuple[str, Side], dict[int, int]] = {}
        self.changed: dict[Level, int] = {}
        """Every level the batch changed, with the seq of its last change."""
        self.quotes: list[tuple[Any, ...]] = []
        self._best: dict[tuple[str, Side], int] = {}
        """The best price of each side seen so far, kept while its level stands: a scan of
        the levels only when the best one empties."""
        self._arrivals = TableSql(connection.dialect, arrival_quotes)
        self._levels = MutableTableSql(
            connection.dialect, book_levels, ("symbol", "side", "price"), ("qty", "updated_seq")
        )

    def load(self, commands: Batch) -> None:
        """Read the levels of every symbol the batch's order events name."""
        symbols: set[str] = set()
        for _, _, events in commands:
            for event in events:
                kind = type(event)
                if kind in ORDER_EVENTS:
                    symbols.add(event.symbol)  # type: ignore[attr-defined]
                elif kind is SymbolChanged:
                    symbols.add(event.symbol)  # type: ignore[attr-defined]
                    symbols.add(event.new_symbol)  # type: ignore[attr-defined]
        sides = {"buy": Side.BUY, "sell": Side.SELL}
        for symbol in symbols:
            for side in Side:
                self.levels[(symbol, side)] = {}
        ordered = sorted(symbols)
        size = in_list_size_max
        for start in range(0, len(ordered), size):
            query = select(book_levels.c.symbol, book_levels.c.side, book_levels.c.price,
                           book_levels.c.qty).where(
                book_levels.c.symbol.in_(ordered[start : start + size])
            )  # fmt: skip
            for symbol, side, price, qty in self.connection.execute(query):
                self.levels[(symbol, sides[side])][price] = qty

    def apply(
        self, rows: BatchRows, event: Event, handler: Callable[[BatchRows, Any], None]
    ) -> None:
        """Run `handler` for `event`, following what it changes on the book."""
        kind = type(event)
        states = rows.orders.orders
        seq = event.seq
        if kind is TradeExecuted:  # the most frequent, with acceptances: no lists
            trade: TradeExecuted = event  # type: ignore[assignment]
            maker, taker = trade.maker_order_id, trade.taker_order_id
            was_maker, was_taker = resting(states.get(maker)), resting(states.get(taker))
            handler(rows, event)
            self._moved(was_maker, resting(states.get(maker)), seq)
            self._moved(was_taker, resting(states.get(taker)), seq)
            return
        if kind is OrderAccepted:
            order_id: int = event.order_id  # type: ignore[attr-defined]
            self._arrive(event, order_id)
            handler(rows, event)
            self._moved(None, resting(states.get(order_id)), seq)
            return
        if kind is SymbolChanged:
            handler(rows, event)
            self._rename(event)  # type: ignore[arg-type]
            return
        ids = order_ids_of(event)
        before = [resting(states.get(order_id)) for order_id in ids]
        if kind is OrderReplaced:
            self._arrive(event, event.new_order_id)  # type: ignore[attr-defined]
        handler(rows, event)
        for order_id, old in zip(ids, before, strict=True):
            self._moved(old, resting(states.get(order_id)), seq)

    def _moved(self, old: Resting, new: Resting, seq: int) -> None:
        """An order went from resting as `old` to resting as `new` (None: not resting)."""
        if new == old:
            return
        if old is not None and new is not None and old[:3] == new[:3]:
            self._add(old[0], old[1], old[2], new[3] - old[3], seq)  # the same level
            return
        if old is not None:
            self._add(old[0], old[1], old[2], -old[3], seq)
        if new is not None:
            self._add(new[0], new[1], new[2], new[3], seq)

    def best(self, symbol: str, side: Side) -> tuple[int | None, int]:
        """The best price of one side of `symbol`'s book and the shares at it."""
        key = (symbol, side)
        levels = self.levels.get(key)
        if not levels:
            return None, 0
        price = self._best.get(key)
        if price is None or price not in levels:
            price = self._best[key] = max(levels) if side == Side.BUY else min(levels)
        return price, levels[price]

    def _arrive(self, event: Event, order_id: int) -> None:
        symbol: str = event.symbol  # type: ignore[attr-defined]
        bid, bid_qty = self.best(symbol, Side.BUY)
        ask, ask_qty = self.best(symbol, Side.SELL)
        self.quotes.append((order_id, symbol, event.seq, event.ts, bid, bid_qty, ask, ask_qty))

    def _add(self, symbol: str, side: Side, price: int, shares: int, seq: int) -> None:
        """`shares` more (or fewer, negative) at one level."""
        key = (symbol, side)
        levels = self.levels.setdefault(key, {})
        qty = levels.get(price, 0) + shares
        if qty:
            levels[price] = qty
            best = self._best.get(key)
            if best is not None and (price > best if side == Side.BUY else price < best):
                self._best[key] = price
        else:
            levels.pop(price, None)  # a best level gone is found again by `best`
        self.changed[(symbol, SIDE_NAME[side], price)] = seq

    def _rename(self, event: SymbolChanged) -> None:
        """Every level of the old name moves to the new one (as its orders do)."""
        for side in Side:
            for price, qty in sorted(self.levels.get((event.symbol, side), {}).items()):
                self._add(event.symbol, side, price, -qty, event.seq)
                self._add(event.new_symbol, side, price, qty, event.seq)

    def flush(self) -> None:
        """Write the levels the batch changed (each deleted, then inserted unless empty) and
        the quotes it recorded, as the driver's own statements (`projection_sql`)."""
        connection = self.connection
        if self.changed:
            names = {"buy": Side.BUY, "sell": Side.SELL}
            self._levels.delete_rows(connection, list(self.changed))
            kept = []
            for (symbol, side, price), seq in self.changed.items():
                qty = self.levels[(symbol, names[side])].get(price, 0)
                if qty:
                    kept.append((symbol, side, price, qty, seq))
            if kept:
                self._levels.insert_rows(connection, kept)
        if self.quotes:
            self._arrivals.insert_rows(connection, self.quotes)
