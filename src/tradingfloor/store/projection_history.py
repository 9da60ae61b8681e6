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

from sqlalchemy import Connection, Dialect

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import Event, SymbolChanged, TradeExecuted
from tradingfloor.domain.order_state import ORDER_EVENTS
from tradingfloor.store.market_history_tables import minute_bars, quote_history
from tradingfloor.store.projection_quotes import QuoteRows
from tradingfloor.store.projection_rows import Batch
from tradingfloor.store.projection_sql import MutableTableSql, TableSql

NS_PER_MINUTE = 60_000_000_000
BAR_MUTABLE = ("open", "high", "low", "close", "volume", "trade_count", "notional", "updated_seq")

Top = tuple[int | None, int, int | None, int]
"""(bid, bid shares, ask, ask shares) of one symbol."""
_EMPTY: Top = (None, 0, None, 0)


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
        self.sql = _statements_for(connection.dialect)

    def load(self, commands: Batch) -> None:
        """Read the bars the batch's trades fall in; note each symbol's top before it (the
        price levels `quotes` read, untouched yet)."""
        earliest: dict[str, int] = {}
        for _, _, events in commands:
            for event in events:
                if type(event) is TradeExecuted:
                    symbol, minute = event.symbol, event.ts - event.ts % NS_PER_MINUTE
                    if minute < earliest.get(symbol, minute + 1):
                        earliest[symbol] = minute
        # Per symbol, its bars from the batch's first minute on: the open one, if any (a
        # later one only after a clock that went back).
        for symbol, minute in sorted(earliest.items()):
            found = self.connection.exec_driver_sql(self.sql.select_from, (symbol, minute))
            for row in found:
                key = (row[0], row[1])
                self.bars[key] = list(row[2:])
                self.loaded.add(key)
        for symbol, _ in self.quotes.levels:
            if symbol not in self.tops:
                self.tops[symbol] = self._top(symbol)

    def after(self, seq: int, ts: int, events: list[Event]) -> None:
        """Count the command's trades into their bars and record the quotes it changed."""
        touched: set[str] = set()
        for event in events:
            kind = type(event)
            if kind in ORDER_EVENTS:
                touched.add(event.symbol)  # type: ignore[attr-defined]
                if kind is TradeExecuted:
                    self._count(event, seq)  # type: ignore[arg-type]
            elif kind is SymbolChanged:
                touched.add(event.symbol)  # type: ignore[attr-defined]
                touched.add(event.new_symbol)  # type: ignore[attr-defined]
        if not touched:
            return
        tops = self.tops
        for symbol in sorted(touched) if len(touched) > 1 else touched:
            top = self._top(symbol)
            if top != tops.get(symbol, _EMPTY):
                tops[symbol] = top
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
        sql = self.sql
        if fresh:
            sql.bars.insert_rows(connection, [(*key, *self.bars[key]) for key in fresh])
        if kept:
            sql.bars.update_rows(connection, [(*self.bars[key], *key) for key in kept])
        if self.quote_rows:
            sql.quotes.insert_rows(connection, self.quote_rows)


class _Statements:
    """The SQL text of one dialect (`projection_sql`), built once."""

    def __init__(self, dialect: Dialect) -> None:
        self.bars = MutableTableSql(dialect, minute_bars, ("symbol", "start_ts"), BAR_MUTABLE)
        self.quotes = TableSql(dialect, quote_history)
        quote, mark = self.bars.quote, self.bars.mark
        listed = ", ".join(quote(name) for name in ("symbol", "start_ts", *BAR_MUTABLE))
        self.select_from = (
            f"SELECT {listed} FROM {quote(minute_bars.name)}"
            f" WHERE {quote('symbol')} = {mark} AND {quote('start_ts')} >= {mark}"
        )


_statements: dict[tuple[str, str], _Statements] = {}


def _statements_for(dialect: Dialect) -> _Statements:
    key = (dialect.name, dialect.paramstyle)
    found = _statements.get(key)
    if found is None:
        found = _statements[key] = _Statements(dialect)
    return found
