"""Alpaca's Market Data API v2 for stocks, on the platform's own market: the SDK's
`StockHistoricalDataClient(key, secret, url_override=...)` works unchanged.

`GET /v2/stocks/bars`, `/trades` and `/quotes` page through history (`alpaca_data_params`
for the parameters); `/v2/stocks/{bars,trades,quotes}/latest` give each symbol's newest, and
`/v2/stocks/snapshots` all of them with the current and previous day's bars. The same for one
symbol: `/v2/stocks/{symbol}/bars`, `/trades`, `/quotes`, `/trades/latest`,
`/quotes/latest`, `/bars/latest` and `/snapshot` (a latest with nothing to show: 404).

Everything is read from the read models in SQL (`alpaca_data_reads`), after they have caught
up with the caller's writes like every read: trades are the fills (one row per trade: its
taker side), bars the minute bars summed into longer ones, quotes every change of the top of
book. A symbol with nothing to show is left out of a several-symbol answer, as Alpaca does; a
page is at most `limit` rows of all the symbols together, and `next_page_token` continues
after its last. Reads need an API key (or session) with the read scope, as the `/v2` trading
routes do.
"""

from typing import Annotated, Any

import msgspec
from fastapi import Depends, Query
from fastapi.responses import Response

from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import alpaca_data_params as params
from tradingfloor.gateway import alpaca_data_reads as reads
from tradingfloor.gateway import deps
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable

routes = RouteTable(tags=["alpaca market data"])
_encode = msgspec.json.Encoder(decimal_format="number").encode

Text = Annotated[str | None, Query(max_length=64)]
Symbols = Annotated[str, Query(max_length=4_000)]
Timeframe = Annotated[str, Query(max_length=16)]


def paging(
    start: Text = None,
    end: Text = None,
    limit: int | None = None,
    sort: Text = None,
    page_token: Annotated[str | None, Query(max_length=params.page_token_bytes_max)] = None,
    feed: Text = None,
    adjustment: Text = None,
    asof: Text = None,
    currency: Text = None,
) -> reads.Paging:
    """The page's parameters (`feed`, `adjustment`, `asof` and `currency` have no effect)."""
    return reads.Paging(start, end, limit, sort, page_token)


def latest_options(feed: Text = None, currency: Text = None) -> None:
    """Taken, with no effect: one venue, prices in dollars."""


Paging = Annotated[reads.Paging, Depends(paging)]
Options = Annotated[None, Depends(latest_options)]


def _answer(body: Any) -> Response:
    return Response(_encode(body), 200, media_type="application/json")


def _one(symbol: str) -> tuple[str, ...]:
    if "," in symbol:
        raise params.refused("symbol: one")
    return params.symbols_of(symbol)


def _found(body: dict[str, Any], symbol: str, what: str) -> Any:
    if symbol not in body:
        raise ApiError(404, int(RejectReason.UNKNOWN_SYMBOL), f"no {what} for {symbol}")
    return body[symbol]


@routes.get("/v2/stocks/bars")
async def get_bars(
    _principal: deps.Reader, platform: deps.Platform, symbols: Symbols, timeframe: Timeframe,
    page: Paging,
) -> Response:  # fmt: skip
    """Bars of `timeframe` summed from the minute bars (a bar's `t` is its first instant)."""
    body, token = await reads.bars(platform, params.symbols_of(symbols), timeframe, page)
    return _answer({"bars": body, "next_page_token": token})


@routes.get("/v2/stocks/trades")
async def get_trades(
    _principal: deps.Reader, platform: deps.Platform, symbols: Symbols, page: Paging
) -> Response:
    body, token = await reads.trades(platform, params.symbols_of(symbols), page)
    return _answer({"trades": body, "next_page_token": token})


@routes.get("/v2/stocks/quotes")
async def get_quotes(
    _principal: deps.Reader, platform: deps.Platform, symbols: Symbols, page: Paging
) -> Response:
    body, token = await reads.quotes(platform, params.symbols_of(symbols), page)
    return _answer({"quotes": body, "next_page_token": token})


@routes.get("/v2/stocks/trades/latest")
async def get_latest_trades(
    _principal: deps.Reader, platform: deps.Platform, symbols: Symbols, _options: Options
) -> Response:
    return _answer({"trades": await reads.latest_trades(platform, params.symbols_of(symbols))})


@routes.get("/v2/stocks/quotes/latest")
async def get_latest_quotes(
    _principal: deps.Reader, platform: deps.Platform, symbols: Symbols, _options: Options
) -> Response:
    return _answer({"quotes": await reads.latest_quotes(platform, params.symbols_of(symbols))})


@routes.get("/v2/stocks/bars/latest")
async def get_latest_bars(
    _principal: deps.Reader, platform: deps.Platform, symbols: Symbols, _options: Options
) -> Response:
    return _answer({"bars": await reads.latest_bars(platform, params.symbols_of(symbols))})


@routes.get("/v2/stocks/snapshots")
async def get_snapshots(
    _principal: deps.Reader, platform: deps.Platform, symbols: Symbols, _options: Options
) -> Response:
    return _answer(await reads.snapshots(platform, params.symbols_of(symbols)))


@routes.get("/v2/stocks/{symbol}/bars")
async def get_symbol_bars(
    symbol: str, _principal: deps.Reader, platform: deps.Platform, timeframe: Timeframe,
    page: Paging,
) -> Response:  # fmt: skip
    body, token = await reads.bars(platform, _one(symbol), timeframe, page)
    return _answer({"symbol": symbol, "bars": body.get(symbol, []), "next_page_token": token})


@routes.get("/v2/stocks/{symbol}/trades")
async def get_symbol_trades(
    symbol: str, _principal: deps.Reader, platform: deps.Platform, page: Paging
) -> Response:
    body, token = await reads.trades(platform, _one(symbol), page)
    return _answer({"symbol": symbol, "trades": body.get(symbol, []), "next_page_token": token})


@routes.get("/v2/stocks/{symbol}/quotes")
async def get_symbol_quotes(
    symbol: str, _principal: deps.Reader, platform: deps.Platform, page: Paging
) -> Response:
    body, token = await reads.quotes(platform, _one(symbol), page)
    return _answer({"symbol": symbol, "quotes": body.get(symbol, []), "next_page_token": token})


@routes.get("/v2/stocks/{symbol}/trades/latest")
async def get_symbol_latest_trade(
    symbol: str, _principal: deps.Reader, platform: deps.Platform, _options: Options
) -> Response:
    found = await reads.latest_trades(platform, _one(symbol))
    return _answer({"symbol": symbol, "trade": _found(found, symbol, "trade")})


@routes.get("/v2/stocks/{symbol}/quotes/latest")
async def get_symbol_latest_quote(
    symbol: str, _principal: deps.Reader, platform: deps.Platform, _options: Options
) -> Response:
    found = await reads.latest_quotes(platform, _one(symbol))
    return _answer({"symbol": symbol, "quote": _found(found, symbol, "quote")})


@routes.get("/v2/stocks/{symbol}/bars/latest")
async def get_symbol_latest_bar(
    symbol: str, _principal: deps.Reader, platform: deps.Platform, _options: Options
) -> Response:
    found = await reads.latest_bars(platform, _one(symbol))
    return _answer({"symbol": symbol, "bar": _found(found, symbol, "bar")})


@routes.get("/v2/stocks/{symbol}/snapshot")
async def get_symbol_snapshot(
    symbol: str, _principal: deps.Reader, platform: deps.Platform, _options: Options
) -> Response:
    found = await reads.snapshots(platform, _one(symbol))
    return _answer({"symbol": symbol, **_found(found, symbol, "snapshot")})
