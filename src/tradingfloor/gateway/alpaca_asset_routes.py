"""`/v2/assets` and `/v2/clock`: Alpaca's listed symbols, and the market's clock (XNYS
sessions, or a market open at every hour: `market_always_open`)."""

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway import deps, market_session
from tradingfloor.gateway.answers import json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.risk.calendar import calendar_for

routes = RouteTable(tags=["alpaca"])


@routes.get("/v2/assets")
async def get_all_assets(
    _principal: deps.Reader,
    platform: deps.Platform,
    status: Annotated[str | None, Query(max_length=16)] = None,
    asset_class: Annotated[str | None, Query(max_length=16)] = None,
    exchange: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Every listed symbol (all active, all `us_equity` on one exchange)."""
    if status not in (None, "active") or asset_class not in (None, views.ASSET_CLASS):
        return json_answer([])
    if exchange not in (None, views.EXCHANGE):
        return json_answer([])
    return json_answer([listed_asset(platform, symbol) for symbol in platform.symbols()])


@routes.get("/v2/assets/{symbol_or_asset_id}")
async def get_asset(
    symbol_or_asset_id: str, _principal: deps.Reader, platform: deps.Platform
) -> Response:
    return json_answer(listed_asset(platform, symbol_of(platform, symbol_or_asset_id)))


@routes.get("/v2/clock")
async def get_clock(_principal: deps.Reader, platform: deps.Platform) -> Response:
    """Whether the platform's market is open now, and its next open and close: the XNYS
    sessions, or a market open at every hour (`market_always_open`: the demo, a replay)."""
    now = platform.clock()
    return json_answer(market_session.clock(platform.settings, calendar_for(), now))


def symbol_of(platform: Backend, symbol_or_asset_id: str) -> str:
    """The listed symbol a path names, by itself or by its asset id (else 404)."""
    if platform.known(symbol_or_asset_id):
        return symbol_or_asset_id
    for symbol in platform.symbols():
        if str(views.asset_uuid(symbol)) == symbol_or_asset_id.lower():
            return symbol
    raise ApiError(404, int(RejectReason.UNKNOWN_SYMBOL), "asset not found")


def listed_asset(platform: Backend, symbol: str) -> dict[str, Any]:
    """A listed symbol as Alpaca's asset (fractionable when the platform has a desk)."""
    instrument = platform.instrument(symbol)
    return views.asset(
        symbol,
        instrument.tick_size,
        instrument.lot_size,
        tradable=True,
        fractionable=bool(platform.settings.fractional_desk_account),
    )
