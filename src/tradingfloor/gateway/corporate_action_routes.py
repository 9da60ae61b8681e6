"""`/v1/admin/corporate-actions`: announce a stock split, a cash dividend or a symbol change
(`AnnounceCorporateAction`), and list what was announced and how far it went.

Money is Decimal text in dollars at the edge (`"0.24"`), dates ISO trading days. The engine
checks the terms against the market (a known symbol, dates that are sessions and in order, a
free new symbol) and refuses with INVALID_CORPORATE_ACTION (422) or, for an id used before,
CORPORATE_ACTION_EXISTS (409).
"""

import datetime
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tradingfloor.domain.commands import AnnounceCorporateAction
from tradingfloor.domain.corporate_actions import (
    CashDividend,
    CorporateAction,
    StockSplit,
    SymbolChange,
)
from tradingfloor.domain.events import CommandRejected
from tradingfloor.domain.ids import SYMBOL_PATTERN
from tradingfloor.gateway import deps
from tradingfloor.gateway import settlement_views as views
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.errors import ApiError, refusal
from tradingfloor.gateway.params import price
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.store import settlement_queries as queries
from tradingfloor.store.settlement_queries import CorporateActionRow

routes = RouteTable(tags=["settlement"])

ACTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
SPLIT_SHARES_MAX = 1_000_000
actions_per_page_max = 500
MONEY = r"^[0-9]{1,12}(\.[0-9]{1,4})?$"
"""Dollars, not negative, at most four decimals (the price unit)."""

ActionId = Annotated[str, Field(pattern=ACTION_ID_PATTERN)]
Symbol = Annotated[str, Field(pattern=f"^{SYMBOL_PATTERN}$")]
Date = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
Money = Annotated[str, Field(pattern=MONEY)]
Shares = Annotated[int, Field(ge=1, le=SPLIT_SHARES_MAX)]


class SplitRequest(BaseModel):
    """Every `old_shares` become `new_shares` from `ex_date` (2-for-1: 1 and 2; 1-for-10
    reverse: 10 and 1); fractions are paid at `cash_in_lieu_price` per new share (default:
    the last price, adjusted)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["split"]
    id: ActionId
    symbol: Symbol
    old_shares: Shares
    new_shares: Shares
    ex_date: Date
    cash_in_lieu_price: Money | None = None


class DividendRequest(BaseModel):
    """`amount_per_share` to the holders of settled shares on `record_date`, paid on
    `pay_date`."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["dividend"]
    id: ActionId
    symbol: Symbol
    amount_per_share: Money
    record_date: Date
    pay_date: Date


class SymbolChangeRequest(BaseModel):
    """`symbol` trades as `new_symbol` from `effective_date`."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["symbol_change"]
    id: ActionId
    symbol: Symbol
    new_symbol: Symbol
    effective_date: Date


ActionRequest = Annotated[
    SplitRequest | DividendRequest | SymbolChangeRequest, Field(discriminator="kind")
]


def _date(text: str, field: str) -> str:
    try:
        datetime.date.fromisoformat(text)
    except ValueError as error:
        raise ApiError(422, MALFORMED, f"{field}: not a date") from error
    return text


def action_of(body: SplitRequest | DividendRequest | SymbolChangeRequest) -> CorporateAction:
    """The domain's terms of a request (its money in price units)."""
    if isinstance(body, SplitRequest):
        in_lieu = body.cash_in_lieu_price
        return StockSplit(
            body.id,
            body.symbol,
            body.old_shares,
            body.new_shares,
            _date(body.ex_date, "ex_date"),
            None if in_lieu is None else price(in_lieu, "cash_in_lieu_price"),
        )
    if isinstance(body, DividendRequest):
        return CashDividend(
            body.id,
            body.symbol,
            price(body.amount_per_share, "amount_per_share"),
            _date(body.record_date, "record_date"),
            _date(body.pay_date, "pay_date"),
        )
    return SymbolChange(
        body.id, body.symbol, body.new_symbol, _date(body.effective_date, "effective_date")
    )


@routes.post("/v1/admin/corporate-actions", status_code=201)
async def announce(body: ActionRequest, _admin: deps.Admin, platform: deps.Platform) -> Response:
    """Announce a corporate action: answered with it as announced (201)."""
    result = await platform.submit(AnnounceCorporateAction(action_of(body)))
    for event in result.events:
        if isinstance(event, CommandRejected):
            raise refusal(event.reason)
    row: CorporateActionRow | None = await platform.read_model(
        None, queries.get_corporate_action, body.id
    )
    if row is None:  # the read models waited for this command: a bug, not a refusal
        raise RuntimeError(f"corporate action {body.id!r} announced, not projected")
    return json_answer(views.corporate_action(row), 201)


@routes.get("/v1/admin/corporate-actions")
async def list_actions(
    _admin: deps.Admin,
    platform: deps.Platform,
    symbol: Annotated[str | None, Query(pattern=f"^{SYMBOL_PATTERN}$")] = None,
    kind: Annotated[str | None, Query(pattern="^(split|dividend|symbol_change)$")] = None,
    limit: Annotated[int, Query(ge=1, le=actions_per_page_max)] = 50,
    page_token: Annotated[str | None, Query(pattern=ACTION_ID_PATTERN)] = None,
) -> Response:
    """Corporate actions, newest announcement first; of a symbol (old or new name), a kind."""
    rows: list[CorporateActionRow] = await platform.read_model(
        None, queries.list_corporate_actions, symbol, kind, limit + 1, page_token
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_token = rows[-1].action_id if more else None
    return json_answer(
        {
            "corporate_actions": [views.corporate_action(row) for row in rows],
            "next_page_token": next_token,
        }
    )
