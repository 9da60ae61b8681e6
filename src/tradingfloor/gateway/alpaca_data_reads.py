"""What the stock data routes answer, read from the read models: pages of bars, trades and
quotes keyed by symbol, and each symbol's latest trade, quote, minute bar and day bars.

Each function takes the request's parameters as text (`alpaca_data_params` reads them) and
returns the JSON body by symbol, with the page's `next_page_token`; the routes
(`alpaca_data_routes`) shape it for one symbol or several.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tradingfloor.gateway import alpaca_data_params as params
from tradingfloor.gateway import alpaca_data_views as views
from tradingfloor.gateway.backend import Backend
from tradingfloor.store import market_history_queries as queries

END_TS = 2**62
"""Later than any bar: the end of a search for the newest."""


@dataclass(frozen=True, slots=True)
class Paging:
    """A page's parameters, as the request gave them."""

    start: str | None = None
    end: str | None = None
    limit: int | None = None
    sort: str | None = None
    page_token: str | None = None


Page = tuple[dict[str, list[dict[str, Any]]], str | None]
"""Rows by symbol, and the token of the next page (None: the last)."""


def _window(
    platform: Backend, symbols: tuple[str, ...], paging: Paging, kinds: tuple[type, ...]
) -> queries.Window:
    now = platform.clock()
    return params.window(
        symbols,
        params.ts_of(paging.start, "start", params.day_start(now)),
        params.ts_of(paging.end, "end", now),
        params.limit_of(paging.limit),
        params.descending_of(paging.sort),
        params.position_of(paging.page_token, kinds),
    )


def _token(positions: list[tuple[Any, ...]], window: queries.Window) -> str | None:
    """The token after the page, when the query found a row beyond it (it asks for one more
    than `limit`)."""
    shown = window.limit - 1
    return params.page_token(positions[shown - 1]) if len(positions) > shown else None


async def bars(
    platform: Backend, symbols: tuple[str, ...], timeframe: str, paging: Paging
) -> Page:
    frame = params.timeframe_of(timeframe)
    window = _window(platform, symbols, paging, (int,))
    # No bar starts after now: offsets beyond it would only lengthen the query.
    horizon = min(window.end_ts, platform.clock() + 2 * params.NS_PER_DAY)
    buckets = frame.buckets(window.start_ts, horizon)
    rows = await platform.read_model(None, queries.bars, window, buckets)
    body: dict[str, list[dict[str, Any]]] = {}
    for row in rows[: window.limit - 1]:
        body.setdefault(row.symbol, []).append(views.bar(row, frame.start_of(row.key)))
    return body, _token([(row.symbol, row.key) for row in rows], window)


async def trades(platform: Backend, symbols: tuple[str, ...], paging: Paging) -> Page:
    window = _window(platform, symbols, paging, (int, int))
    rows = await platform.read_model(None, queries.trades, window)
    body: dict[str, list[dict[str, Any]]] = {}
    for row in rows[: window.limit - 1]:
        body.setdefault(row.symbol, []).append(views.trade(row))
    return body, _token([(row.symbol, row.ts, row.trade_id) for row in rows], window)


async def quotes(platform: Backend, symbols: tuple[str, ...], paging: Paging) -> Page:
    window = _window(platform, symbols, paging, (int, int))
    rows = await platform.read_model(None, queries.quotes, window)
    body: dict[str, list[dict[str, Any]]] = {}
    for row in rows[: window.limit - 1]:
        body.setdefault(row.symbol, []).append(views.quote(row))
    return body, _token([(row.symbol, row.ts, row.quote_id) for row in rows], window)


async def latest_trades(platform: Backend, symbols: tuple[str, ...]) -> dict[str, Any]:
    found = await platform.read_model(None, queries.latest_trades, symbols)
    return {symbol: views.trade(row) for symbol, row in found.items()}


async def latest_quotes(platform: Backend, symbols: tuple[str, ...]) -> dict[str, Any]:
    found = await platform.read_model(None, queries.latest_quotes, symbols)
    return {symbol: views.quote(row) for symbol, row in found.items()}


async def latest_bars(platform: Backend, symbols: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = await platform.read_model(None, _minute_bars, symbols)
    return found


async def snapshots(platform: Backend, symbols: tuple[str, ...]) -> dict[str, Any]:
    """Per symbol: the latest trade, quote and minute bar, and the bars of the latest day with
    trades and the one before it (null where there is none); a symbol with none of them is
    left out."""
    trades = await latest_trades(platform, symbols)
    quotes = await latest_quotes(platform, symbols)
    minutes = await latest_bars(platform, symbols)
    days = await platform.read_model(None, _day_bars, symbols)
    body: dict[str, dict[str, Any]] = {}
    for symbol in symbols:
        daily = days.get(symbol, [])
        snapshot = {
            "latestTrade": trades.get(symbol),
            "latestQuote": quotes.get(symbol),
            "minuteBar": minutes.get(symbol),
            "dailyBar": daily[0] if daily else None,
            "prevDailyBar": daily[1] if len(daily) > 1 else None,
        }
        if any(value is not None for value in snapshot.values()):
            body[symbol] = snapshot
    return body


def _minute_bars(connection: Connection, symbols: tuple[str, ...]) -> dict[str, Any]:
    """Each symbol's newest minute bar (symbols without one are left out)."""
    found = {}
    for symbol in symbols:
        newest = _newest_minute(connection, symbol, END_TS)
        if newest is not None:
            found[symbol] = views.bar(newest, newest.key * params.NS_PER_MINUTE)
    return found


def _day_bars(connection: Connection, symbols: tuple[str, ...]) -> dict[str, list[Any]]:
    """Each symbol's bars of its newest two New York days with trades, newest first."""
    found: dict[str, list[Any]] = {}
    for symbol in symbols:
        before = END_TS
        for _ in range(2):
            newest = _newest_minute(connection, symbol, before)
            if newest is None:
                break
            first = params.day_start(newest.key * params.NS_PER_MINUTE)
            following = params.day_start(first + params.NS_PER_DAY + 2 * params.NS_PER_HOUR)
            day = queries.Window((symbol,), first, following - 1, 1)
            buckets = queries.Buckets(params.NS_PER_DAY, params.new_york_offsets(first, following))
            rows = queries.bars(connection, day, buckets)
            found.setdefault(symbol, []).append(views.bar(rows[0], first))
            before = first - 1
    return found


def _newest_minute(connection: Connection, symbol: str, end_ts: int) -> queries.BarRow | None:
    """The symbol's newest minute bar that starts at or before `end_ts`."""
    window = queries.Window((symbol,), 0, end_ts, 1, descending=True)
    rows = queries.bars(connection, window, queries.Buckets(params.NS_PER_MINUTE))
    return rows[0] if rows else None
