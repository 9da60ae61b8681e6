"""`/v1` market data over REST: the listed symbols, and the quote, the book's depth and the
latest trades of a symbol, from this gateway's market-data view (bars, the last trade and
quote, and the WebSockets: `streams`). A quote and a symbol tell the halt in force on it (the
market's first) as of the gateway's clock."""

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.gateway.views import listed_symbol
from tradingfloor.marketdata.messages import halt_view

routes = RouteTable(tags=["market data"])


@routes.get("/v1/symbols")
async def symbols(_principal: deps.Reader, platform: deps.Platform) -> Response:
    """Every listed symbol by name: its tick (null: the Rule 612 ticks) and lot sizes, last
    and reference prices, and the halt in force on it; `market_halt`: the market's. It reads
    what the caller wrote before (a halt just set shows)."""
    await platform.market_caught_up()
    market, now = platform.market, platform.clock()
    listed = []
    for symbol in sorted(market.symbols()):
        quote = market.quote(symbol)
        halt = market.halt(symbol, now)
        instrument = platform.instrument(symbol)
        listed.append(listed_symbol(instrument, quote.last_price, quote.reference_price, halt))
    return json_answer({"symbols": listed, "market_halt": halt_view(market.market_halt(now))})


@routes.get("/v1/quotes/{symbol}")
async def quote(symbol: str, _principal: deps.Reader, platform: deps.Platform) -> Response:
    return json_answer(platform.quote(_known(platform, symbol)))


@routes.get("/v1/book/{symbol}")
async def book(
    symbol: str,
    _principal: deps.Reader,
    platform: deps.Platform,
    depth: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    return json_answer(platform.book_depth(_known(platform, symbol), depth))


@routes.get("/v1/trades/{symbol}")
async def trades(
    symbol: str,
    _principal: deps.Reader,
    platform: deps.Platform,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """The symbol's latest trades, newest first."""
    return json_answer(platform.recent_trades(_known(platform, symbol), limit))


def _known(platform: Backend, symbol: str) -> str:
    if not platform.known(symbol):
        reason = RejectReason.UNKNOWN_SYMBOL
        raise ApiError(404, int(reason), reason.message)
    return symbol
