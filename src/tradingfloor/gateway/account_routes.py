"""`/v1` reads of your account: orders, positions, the account, activities.

Positions and the account are the shard's live state (settled shares and good-faith
violations included); orders and activities come from the read models.
"""

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response
from pydantic import Field

from tradingfloor.domain.ids import SYMBOL_PATTERN
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import error_answer, json_answer
from tradingfloor.gateway.openapi import order_responses
from tradingfloor.gateway.params import SQL_INT_MAX, order_number, time_ns
from tradingfloor.gateway.route_table import RouteTable

routes = RouteTable()

ActivityKind = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]


@routes.get("/v1/orders/{order_id}", tags=["orders"], responses=order_responses())
async def get_order(order_id: str, principal: deps.Reader, platform: deps.Platform) -> Response:
    """One of your orders (another account's is 404)."""
    view = await platform.order_view(order_number(order_id), principal.account_id)
    if view is None:
        reason = RejectReason.UNKNOWN_ORDER
        return error_answer(int(reason), reason.message, 404)
    return json_answer(view)


@routes.get("/v1/orders", tags=["orders"])
async def list_orders(
    principal: deps.Reader,
    platform: deps.Platform,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "all",
    symbol: Annotated[str | None, Query(pattern=f"^{SYMBOL_PATTERN}$")] = None,
    after: Annotated[str | None, Query(description="ISO time or ns since epoch")] = None,
    until: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: Annotated[str | None, Query(pattern="^[0-9]{1,18}$")] = None,
    direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    fills: Annotated[bool, Query(description="each order with its fills")] = False,
) -> Response:
    """Your orders, newest first by default; `next_page_token` continues the listing;
    `fills=true` lists each order's fills too (else `fills` is empty: see the order)."""
    orders, next_token = await platform.list_orders(
        principal.account_id,
        status,
        symbol,
        time_ns(after, "after"),
        time_ns(until, "until"),
        limit,
        int(page_token) if page_token else None,
        direction,
        fills,
    )
    return json_answer({"orders": orders, "next_page_token": next_token})


@routes.get("/v1/positions", tags=["portfolio"])
async def positions(principal: deps.Reader, platform: deps.Platform) -> Response:
    """Open positions with cost basis and P&L at the last trade price; `settled_qty` the
    shares whose settlement is done (the rest were traded and settle at T+N)."""
    return json_answer(await platform.positions(principal.account_id))


@routes.get("/v1/account", tags=["portfolio"])
async def account(principal: deps.Reader, platform: deps.Platform) -> Response:
    """Cash (settled and unsettled), buying power, equity; `good_faith_violations` within
    the rule's window and `settled_cash_only_until`, the last day of the restriction they
    brought (null: none)."""
    summary = await platform.account_summary(principal.account_id)
    if summary is None:
        reason = RejectReason.UNKNOWN_ACCOUNT
        return error_answer(int(reason), reason.message, 404)
    return json_answer(summary)


@routes.get("/v1/activities", tags=["portfolio"])
async def activities(
    principal: deps.Reader,
    platform: deps.Platform,
    kind: Annotated[list[ActivityKind] | None, Query(max_length=16)] = None,
    after_seq: Annotated[int, Query(ge=0, le=SQL_INT_MAX)] = 0,
    until_seq: Annotated[int | None, Query(ge=0, le=SQL_INT_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
) -> Response:
    """Your transaction history: trades, fees, deposits, withdrawals, settlements (cash,
    and shares), splits, dividend entitlements and dividends, symbol changes, adjustments,
    good-faith violations; oldest first, or newest first with `direction=desc`."""
    rows = await platform.activities(
        principal.account_id, kind, after_seq, until_seq, limit, direction
    )
    return json_answer(rows)
