"""`/v1` market data over REST: the quote, the book's depth and the latest trades of a symbol,
from this gateway's market-data view (bars, the last trade and quote, and the WebSockets:
`streams`)."""

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable

routes = RouteTable(tags=["market data"])


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
