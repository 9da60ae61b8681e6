"""`/v2/options/...`: the platform lists US equities only, and says so in Alpaca's shapes.

A bot that asks for option contracts gets the empty page Alpaca sends for an underlying with
no options (`{"option_contracts": [], "next_page_token": null}`), a contract by id or symbol
is not found (404), and exercising a position the account cannot hold (every option) is
refused as Alpaca refuses an unknown position (404). The query is still checked: its filters
are bounded, and the caller needs the read scope (the trade scope to exercise).
"""

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.gateway import deps
from tradingfloor.gateway.alpaca_account_routes import POSITION_NOT_FOUND
from tradingfloor.gateway.answers import json_answer
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable

routes = RouteTable(tags=["alpaca"])

CONTRACT_NOT_FOUND = 4042
option_filter_length_max = 1_000


@routes.get("/v2/options/contracts")
async def get_option_contracts(
    _principal: deps.Reader,
    underlying_symbols: Annotated[str | None, Query(max_length=option_filter_length_max)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    page_token: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """No option contracts: the platform lists none."""
    return json_answer({"option_contracts": [], "next_page_token": None})


@routes.get("/v2/options/contracts/{symbol_or_id}")
async def get_option_contract(symbol_or_id: str, _principal: deps.Reader) -> Response:
    raise ApiError(404, CONTRACT_NOT_FOUND, "option contract not found: no options are listed")


@routes.post("/v2/positions/{symbol_or_contract_id}/exercise")
async def exercise_options_position(
    symbol_or_contract_id: str, _principal: deps.Trader
) -> Response:
    raise ApiError(
        404, POSITION_NOT_FOUND, "no option position to exercise: no options are listed"
    )
