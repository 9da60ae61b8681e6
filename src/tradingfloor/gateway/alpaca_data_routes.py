"""Alpaca's Market Data API v2 for stocks, on the platform's own market: the SDK's
`StockHistoricalDataClient(key, secret, url_override=...)` works unchanged.

`GET /v2/stocks/bars`, `/trades` and `/quotes` page through history (`alpaca_data_params`
for the parameters); `/v2/stocks/{bars,trades,quotes}/latest` give each symbol's newest, and
`/v2/stocks/snapshots` all of them with the current and previous day's bars. Everything is
read from the read models in SQL (`store.market_history_queries`), after they have caught up
with the caller's writes like every read: trades are the fills (one row per trade: its taker
side), bars the minute bars summed into longer ones, quotes every change of the top of book.
A symbol with nothing to show is left out of the answer, as Alpaca does; a page is at most
`limit` rows of all the symbols together, and `next_page_token` continues after its last.
Reads need an API key (or session) with the read scope, as the `/v2` trading routes do.
"""

from typing import Annotated, Any

import msgspec
from fastapi import Query
from fastapi.responses import Response
from sqlalchemy import Connection

from tradingfloor.gateway import alpaca_data_params as params
from tradingfloor.gateway import alpaca_data_views as views
from tradingfloor.gateway import deps
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.store import market_history_queries as queries

routes = RouteTable(tags=["alpaca market data"])
_encode = msgspec.json.Encoder(decimal_format="number").encode
_END_TS = 2**62
"""Later than any bar: the end of a search for the newest."""

Text = Annotated[str | None, Query(max_length=64)]
Symbols = Annotated[str, Query(max_length=4_000)]
Limit = Annotated[int | None, Query()]
Token = Annotated[str | None, Query(max_length=params.page_token_bytes_max)]


def _answer(body: Any) -> Response:
    return Response(_encode(body), 200, media_type="application/json")


def _window(
    platform: Backend,
    symbols: str,
    start: str | None,
    end: str | None,
    limit: int | None,
    sort: str | None,
    token: str | None,
    kinds: tuple[type, ...],
) -> queries.Window:
    now = platform.clock()
    return params.window(
        params.symbols_of(symbols),
        params.ts_of(start, "start", params.day_start(now)),
        params.ts_of(end, "end", now),
        params.limit_of(limit),
        params.descending_of(sort),
        params.position_of(token, kinds),
    )


def _paged(name: str, positions: list[tuple[Any, ...]], window: queries.Window, body: Any) -> Any:
    """`body` (rows by symbol) and the token of the page after, when the query found a row
    beyond the page (it asks for one more than `limit`)."""
    shown = window.limit - 1
    token = params.page_token(positions[shown - 1]) if len(positions) > shown else None
    return {name: body, "next_page_token": token}


@routes.get("/v2/stocks/bars")
async def get_bars(
    _principal: deps.Reader,
    platform: deps.Platform,
    symbols: Symbols,
    timeframe: Annotated[str, Query(max_length=16)],
    start: Text = None,
    end: Text = None,
    limit: Limit = None,
    sort: Text = None,
    page_token: Token = None,
    feed: Text = None,
    adjustment: Text = None,
    asof: Text = None,
    currency: Text = None,
) -> Response:
    """Bars of `timeframe` summed from the minute bars (a bar's `t` is its first instant)."""
    frame = params.timeframe_of(timeframe)
    window = _window(platform, symbols, start, end, limit, sort, page_token, (int,))
    # No bar starts after now: offsets beyond it would only lengthen the query.
    horizon = min(window.end_ts, platform.clock() + 2 * params.NS_PER_DAY)
    buckets = frame.buckets(window.start_ts, horizon)
    rows = await platform.read_model(None, queries.bars, window, buckets)
    body: dict[str, list[dict[str, Any]]] = {}
    for row in rows[: window.limit - 1]:
        body.setdefault(row.symbol, []).append(views.bar(row, frame.start_of(row.key)))
    positions = [(row.symbol, row.key) for row in rows]
    return _answer(_paged("bars", positions, window, body))


@routes.get("/v2/stocks/trades")
async def get_trades(
    _principal: deps.Reader,
    platform: deps.Platform,
    symbols: Symbols,
    start: Text = None,
    end: Text = None,
    limit: Limit = None,
    sort: Text = None,
    page_token: Token = None,
    feed: Text = None,
    asof: Text = None,
    currency: Text = None,
) -> Response:
    window = _window(platform, symbols, start, end, limit, sort, page_token, (int, int))
    rows = await platform.read_model(None, queries.trades, window)
    body: dict[str, list[dict[str, Any]]] = {}
    for row in rows[: window.limit - 1]:
        body.setdefault(row.symbol, []).append(views.trade(row))
    positions = [(row.symbol, row.ts, row.trade_id) for row in rows]
    return _answer(_paged("trades", positions, window, body))


@routes.get("/v2/stocks/quotes")
async def get_quotes(
    _principal: deps.Reader,
    platform: deps.Platform,
    symbols: Symbols,
    start: Text = None,
    end: Text = None,
    limit: Limit = None,
    sort: Text = None,
    page_token: Token = None,
    feed: Text = None,
    asof: Text = None,
    currency: Text = None,
) -> Response:
    window = _window(platform, symbols, start, end, limit, sort, page_token, (int, int))
    rows = await platform.read_model(None, queries.quotes, window)
    body: dict[str, list[dict[str, Any]]] = {}
    for row in rows[: window.limit - 1]:
        body.setdefault(row.symbol, []).append(views.quote(row))
    positions = [(row.symbol, row.ts, row.seq) for row in rows]
    return _answer(_paged("quotes", positions, window, body))


@routes.get("/v2/stocks/trades/latest")
async def get_latest_trades(
    _principal: deps.Reader,
    platform: deps.Platform,
    symbols: Symbols,
    feed: Text = None,
    currency: Text = None,
) -> Response:
    found = await platform.read_model(None, queries.latest_trades, params.symbols_of(symbols))
    return _answer({"trades": {symbol: views.trade(row) for symbol, row in found.items()}})


@routes.get("/v2/stocks/quotes/latest")
async def get_latest_quotes(
    _principal: deps.Reader,
    platform: deps.Platform,
    symbols: Symbols,
    feed: Text = None,
    currency: Text = None,
) -> Response:
    found = await platform.read_model(None, queries.latest_quotes, params.symbols_of(symbols))
    return _answer({"quotes": {symbol: views.quote(row) for symbol, row in found.items()}})


@routes.get("/v2/stocks/bars/latest")
async def get_latest_bars(
    _principal: deps.Reader,
    platform: deps.Platform,
    symbols: Symbols,
    feed: Text = None,
    currency: Text = None,
) -> Response:
    found = await platform.read_model(None, _minute_bars, params.symbols_of(symbols))
    return _answer({"bars": found})


@routes.get("/v2/stocks/snapshots")
async def get_snapshots(
    _principal: deps.Reader,
    platform: deps.Platform,
    symbols: Symbols,
    feed: Text = None,
    currency: Text = None,
) -> Response:
    """Per symbol: the latest trade, quote and minute bar, and the bars of the latest day with
    trades and the one before it (null where there is none)."""
    named = params.symbols_of(symbols)
    trades = await platform.read_model(None, queries.latest_trades, named)
    quotes = await platform.read_model(None, queries.latest_quotes, named)
    minutes = await platform.read_model(None, _minute_bars, named)
    days = await platform.read_model(None, _day_bars, named)
    body: dict[str, dict[str, Any]] = {}
    for symbol in named:
        daily = days.get(symbol, [])
        snapshot = {
            "latestTrade": views.trade(trades[symbol]) if symbol in trades else None,
            "latestQuote": views.quote(quotes[symbol]) if symbol in quotes else None,
            "minuteBar": minutes.get(symbol),
            "dailyBar": daily[0] if daily else None,
            "prevDailyBar": daily[1] if len(daily) > 1 else None,
        }
        if any(value is not None for value in snapshot.values()):
            body[symbol] = snapshot
    return _answer(body)


def _minute_bars(connection: Connection, symbols: tuple[str, ...]) -> dict[str, Any]:
    """Each symbol's newest minute bar (symbols without one are left out)."""
    found = {}
    for symbol in symbols:
        newest = _newest_minute(connection, symbol, _END_TS)
        if newest is not None:
            found[symbol] = views.bar(newest, newest.key * params.NS_PER_MINUTE)
    return found


def _day_bars(connection: Connection, symbols: tuple[str, ...]) -> dict[str, list[Any]]:
    """Each symbol's bars of its newest two New York days with trades, newest first."""
    found: dict[str, list[Any]] = {}
    for symbol in symbols:
        before = _END_TS
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
