"""Reads of the market's history for the market-data API: bars, trades and quotes by symbol
and time, a page at a time, and each symbol's latest trade and minute bar.

Pages run through the symbols in name order and, within a symbol, through time (oldest or
newest first); `After` names the last row of the previous page. Bars longer than a minute are
summed from the minute bars in the query (`Buckets`): high and low are the extremes, volume,
trade count and notional the sums, open the open of the first minute and close the close of
the last, so they agree exactly with bars built from the trades themselves.
"""

from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)

from tradingfloor.store.market_history_tables import minute_bars, quote_history
from tradingfloor.store.readmodels import fills


@dataclass(frozen=True, slots=True)
class Buckets:
    """How minutes group into bars: the key of a minute is `(start_ts + offset) // width_ns`,
    `offset` the one of the last `(from_ts, offset_ns)` in `offsets` at or before the minute
    (0 when none): a day in a time zone is a width of 24 h and the zone's UTC offsets."""

    width_ns: int
    offsets: tuple[tuple[int, int], ...] = ()

    def key(self, ts: ColumnElement[Any]) -> ColumnElement[Any]:
        shifted: ColumnElement[Any] = ts
        if self.offsets:
            whens = [
                (ts < until, literal(offset, BigInteger))
                for (_, offset), (until, _) in zip(self.offsets, self.offsets[1:], strict=False)
            ]
            last = literal(self.offsets[-1][1], BigInteger)
            shifted = ts + (case(*whens, else_=last) if whens else last)
        return shifted // literal(self.width_ns, BigInteger)


@dataclass(frozen=True, slots=True)
class Window:
    """Which rows: of `symbols`, from `start_ts` to `end_ts` (both included), after `after`
    (the previous page's last: symbol and its position in time), newest first if
    `descending`, at most `limit`."""

    symbols: tuple[str, ...]
    start_ts: int
    end_ts: int
    limit: int
    descending: bool = False
    after: tuple[Any, ...] | None = None


class BarRow(NamedTuple):
    symbol: str
    key: int
    """The bar's bucket (`Buckets.key`); for minutes, the minute number since the epoch."""
    open: int
    high: int
    low: int
    close: int
    volume: int
    trade_count: int
    notional: int


class TradeRow(NamedTuple):
    symbol: str
    ts: int
    trade_id: int
    price: int
    qty: int


class QuoteRow(NamedTuple):
    symbol: str
    ts: int
    quote_id: int
    bid: int | None
    bid_qty: int
    ask: int | None
    ask_qty: int


def _continuing(
    window: Window, symbol: ColumnElement[Any], positions: list[ColumnElement[Any]]
) -> ColumnElement[bool] | None:
    """Rows after `window.after` in the page order (None: from the first)."""
    if window.after is None:
        return None
    last_symbol, *values = window.after
    pairs = list(zip(positions, values, strict=True))
    column, value = pairs[-1]
    later = column < value if window.descending else column > value
    for column, value in reversed(pairs[:-1]):
        beyond = column < value if window.descending else column > value
        later = or_(beyond, and_(column == value, later))
    return or_(symbol > last_symbol, and_(symbol == last_symbol, later))


def bars(connection: Connection, window: Window, buckets: Buckets) -> list[BarRow]:
    """One page of bars."""
    c = minute_bars.c
    key = buckets.key(c.start_ts).label("key")
    conditions = [
        c.symbol.in_(window.symbols),
        c.start_ts >= window.start_ts,
        c.start_ts <= window.end_ts,
    ]
    following = _continuing(window, c.symbol, [buckets.key(c.start_ts)])
    if following is not None:
        conditions.append(following)
    order = key.desc() if window.descending else key
    grouped = (
        select(
            c.symbol,
            key,
            func.min(c.start_ts).label("first"),
            func.max(c.start_ts).label("last"),
            func.max(c.high).label("high"),
            func.min(c.low).label("low"),
            cast(func.sum(c.volume), BigInteger).label("volume"),
            cast(func.sum(c.trade_count), BigInteger).label("trade_count"),
            cast(func.sum(c.notional), BigInteger).label("notional"),
        )
        .where(*conditions)
        .group_by(c.symbol, key)
        .order_by(c.symbol, order)
        .limit(window.limit)
        .subquery()
    )
    ends = minute_bars.alias("ends")
    g = grouped.c
    open_ = select(ends.c.open).where(ends.c.symbol == g.symbol, ends.c.start_ts == g.first)
    close = select(ends.c.close).where(ends.c.symbol == g.symbol, ends.c.start_ts == g.last)
    query = select(
        g.symbol,
        g.key,
        open_.scalar_subquery(),
        g.high,
        g.low,
        close.scalar_subquery(),
        g.volume,
        g.trade_count,
        g.notional,
    ).order_by(g.symbol, g.key.desc() if window.descending else g.key)
    return [BarRow(*row) for row in connection.execute(query)]


def trades(connection: Connection, window: Window) -> list[TradeRow]:
    """One page of trades (a trade is its taker side's fill); `after` is (symbol, ts, id)."""
    c = fills.c
    conditions = [
        c.liquidity == "taker",
        c.symbol.in_(window.symbols),
        c.ts >= window.start_ts,
        c.ts <= window.end_ts,
    ]
    following = _continuing(window, c.symbol, [c.ts, c.trade_id])
    if following is not None:
        conditions.append(following)
    ordered = [c.ts.desc(), c.trade_id.desc()] if window.descending else [c.ts, c.trade_id]
    query = (
        select(c.symbol, c.ts, c.trade_id, c.price, c.qty)
        .where(*conditions)
        .order_by(c.symbol, *ordered)
        .limit(window.limit)
    )
    return [TradeRow(*row) for row in connection.execute(query)]


def quotes(connection: Connection, window: Window) -> list[QuoteRow]:
    """One page of quotes (each change of a symbol's top of book); `after` is (symbol, ts,
    quote id)."""
    c = quote_history.c
    conditions = [
        c.symbol.in_(window.symbols),
        c.ts >= window.start_ts,
        c.ts <= window.end_ts,
    ]
    following = _continuing(window, c.symbol, [c.ts, c.quote_id])
    if following is not None:
        conditions.append(following)
    ordered = [c.ts.desc(), c.quote_id.desc()] if window.descending else [c.ts, c.quote_id]
    query = (
        select(c.symbol, c.ts, c.quote_id, c.bid, c.bid_qty, c.ask, c.ask_qty)
        .where(*conditions)
        .order_by(c.symbol, *ordered)
        .limit(window.limit)
    )
    return [QuoteRow(*row) for row in connection.execute(query)]


def latest_trades(connection: Connection, symbols: tuple[str, ...]) -> dict[str, TradeRow]:
    """Each symbol's newest trade (symbols without one are left out)."""
    c = fills.c
    found: dict[str, TradeRow] = {}
    for symbol in symbols:
        row = connection.execute(
            select(c.symbol, c.ts, c.trade_id, c.price, c.qty)
            .where(c.symbol == symbol, c.liquidity == "taker")
            .order_by(c.ts.desc(), c.trade_id.desc())
            .limit(1)
        ).first()
        if row is not None:
            found[symbol] = TradeRow(*row)
    return found


def latest_quotes(connection: Connection, symbols: tuple[str, ...]) -> dict[str, QuoteRow]:
    """Each symbol's newest top of book in the history (symbols without one are left out)."""
    c = quote_history.c
    found: dict[str, QuoteRow] = {}
    for symbol in symbols:
        row = connection.execute(
            select(c.symbol, c.ts, c.quote_id, c.bid, c.bid_qty, c.ask, c.ask_qty)
            .where(c.symbol == symbol)
            .order_by(c.ts.desc(), c.quote_id.desc())
            .limit(1)
        ).first()
        if row is not None:
            found[symbol] = QuoteRow(*row)
    return found
