"""Minute bars and the quote history, projected beside the other read models in one batch.

`HistoryRows` reads the minute bars the batch's trades fall in, counts each trade into its
symbol's bar of the minute of the trade's engine time (`ts`), and, after each command, writes
the best bid and ask of every symbol whose book the command touched when they differ from what
they were before it (price or shares, either side). The book is the projector's own price
levels (`QuoteRows`), so the history agrees with `book_levels` seq for seq. Everything is
written at the end of the batch, in its transaction: a batch applied twice is skipped whole by
the projector, bars and quotes alike.

A trade stamped before the newest bar of its symbol (possible only after a restart on a clock
that went back) is counted in the bar of its own minute, as stamped: bars are a function of
the trades' times, never of their arrival.
"""

from typing import Any

from sqlalchemy import Connection, select, tuple_

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import Event, SymbolChanged, TradeExecuted
from tradingfloor.domain.order_state import ORDER_EVENTS
from tradingfloor.store.market_history_tables import minute_bars, quote_history
from tradingfloor.store.projection_quotes import QuoteRows
from tradingfloor.store.projection_rows import Batch, in_list_size_max
from tradingfloor.store.projection_sql import MutableTableSql, TableSql

NS_PER_MINUTE = 60_000_000_000
BAR_MUTABLE = ("open", "high", "low", "close", "volume", "trade_count", "notional", "updated_seq")

Top = tuple[int | None, int, int | None, int]
"""(bid, bid shares, ask, ask shares) of one symbol."""


class HistoryRows:
    """The minute bars and quote changes of one batch."""

    def __init__(self, connection: Connection, quotes: QuoteRows) -> None:
        self.connection = connection
        self.quotes = quotes
        self.bars: dict[tuple[str, int], list[int]] = {}
        """(symbol, minute) -> [open, high, low, close, volume, count, notional, seq]."""
        self.loaded: set[tuple[str, int]] = set()
        self.changed: set[tuple[str, int]] = set()
        self.tops: dict[str, Top] = {}
        self.quote_rows: list[tuple[Any, ...]] = []
        self._bars = MutableTableSql(
            connection.dialect, minute_bars, ("symbol", "start_ts"), BAR_MUTABLE
        )
        self._quotes = TableSql(connection.dialect, quote_history)

    def load(self, commands: Batch) -> None:
        """Read the bars the batch's trades fall in; note each symbol's top before it (the
        price levels `quotes` read, untouched yet)."""
        keys: set[tuple[str, int]] = set()
        for _, _, events in commands:
            for event in events:
                if type(event) is TradeExecuted:
                    keys.add((event.symbol, event.ts - event.ts % NS_PER_MINUTE))
        ordered = sorted(keys)
        columns = minute_bars.c
        for start in range(0, len(ordered), in_list_size_max):
            part = ordered[start : start + in_list_size_max]
            query = select(
                columns.symbol, columns.start_ts, *(columns[name] for name in BAR_MUTABLE)
            ).where(tuple_(columns.symbol, columns.start_ts).in_(part))
            for row in self.connection.execute(query):
                self.bars[(row[0], row[1])] = list(row[2:])
                self.loaded.add((row[0], row[1]))
        for symbol, _ in self.quotes.levels:
            if symbol not in self.tops:
                self.tops[symbol] = self._top(symbol)

    def after(self, seq: int, ts: int, events: list[Event]) -> None:
        """Count the command's trades into their bars and record the quotes it changed."""
        touched: set[str] = set()
        for event in events:
            kind = type(event)
            if kind is TradeExecuted:
                self._count(event, seq)  # type: ignore[arg-type]
                touched.add(event.symbol)  # type: ignore[attr-defined]
            elif kind in ORDER_EVENTS:
                touched.add(event.symbol)  # type: ignore[attr-defined]
            elif kind is SymbolChanged:
                touched.add(event.symbol)  # type: ignore[attr-defined]
                touched.add(event.new_symbol)  # type: ignore[attr-defined]
        for symbol in sorted(touched):
            top = self._top(symbol)
            if top != self.tops.get(symbol, (None, 0, None, 0)):
                self.tops[symbol] = top
                self.quote_rows.append((symbol, seq, ts, *top))

    def _count(self, trade: TradeExecuted, seq: int) -> None:
        key = (trade.symbol, trade.ts - trade.ts % NS_PER_MINUTE)
        price, qty = trade.price, trade.qty
        bar = self.bars.get(key)
        if bar is None:
            self.bars[key] = [price, price, price, price, qty, 1, price * qty, seq]
        else:
            bar[1] = max(bar[1], price)
            bar[2] = min(bar[2], price)
            bar[3] = price
            bar[4] += qty
            bar[5] += 1
            bar[6] += price * qty
            bar[7] = seq
        self.changed.add(key)

    def _top(self, symbol: str) -> Top:
        bid, bid_qty = self.quotes.best(symbol, Side.BUY)
        ask, ask_qty = self.quotes.best(symbol, Side.SELL)
        return (bid, bid_qty, ask, ask_qty)

    def flush(self) -> None:
        """Insert the new bars, update the changed ones, insert the quotes."""
        connection = self.connection
        fresh = [key for key in sorted(self.changed) if key not in self.loaded]
        kept = [key for key in sorted(self.changed) if key in self.loaded]
        if fresh:
            self._bars.insert_rows(connection, [(*key, *self.bars[key]) for key in fresh])
        if kept:
            self._bars.update_rows(connection, [(*self.bars[key], *key) for key in kept])
        if self.quote_rows:
            self._quotes.insert_rows(connection, self.quote_rows)
