"""`/v2/positions`, `/v2/account` and its activities: Alpaca's views of your account. Closing
a position (or all of them) enters a market order through `/v2`'s order path."""

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.fractions import NANO, format_shares
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.pipeline import PositionView
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway import deps, order_entry
from tradingfloor.gateway.alpaca_asset_routes import symbol_of
from tradingfloor.gateway.alpaca_order_routes import open_orders, place
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError, refusal
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.risk.calendar import calendar_for
from tradingfloor.store import queries
from tradingfloor.store.queries import ActivityRow, FillRow, OrderRow

activities_per_page_max = 100
"""`GET /v2/account/activities?page_size=`: Alpaca's maximum."""
POSITION_NOT_FOUND = 4040
"""No open position in the symbol: the code `/v1` gives any 404 without a reason of its own."""

routes = RouteTable(tags=["alpaca"])

ActivityQuery = Annotated[str | None, Query(max_length=400)]


@routes.get("/v2/positions")
async def get_all_positions(principal: deps.Reader, platform: deps.Platform) -> Response:
    positions = await platform.open_positions(principal.account_id)
    return json_answer([views.position(view) for view in positions])


@routes.get("/v2/positions/{symbol_or_asset_id}")
async def get_open_position(
    symbol_or_asset_id: str, principal: deps.Reader, platform: deps.Platform
) -> Response:
    view = await _position_in(platform, principal.account_id, symbol_or_asset_id)
    return json_answer(views.position(view))


@routes.delete("/v2/positions/{symbol_or_asset_id}")
async def close_position(
    symbol_or_asset_id: str,
    principal: deps.Trader,
    platform: deps.Platform,
    qty: Annotated[Decimal | None, Query()] = None,
    percentage: Annotated[Decimal | None, Query(gt=0, le=100)] = None,
) -> Response:
    """Close all of a position (or `qty` shares, or `percentage` of it, rounded down)
    with a market order: the answer is that order. To the nano-share where the platform
    has a fractional desk, else in whole shares."""
    account = principal.account_id
    view = await _position_in(platform, account, symbol_or_asset_id)
    held = view.qty * NANO + view.fraction
    if qty is not None and percentage is not None:
        raise ApiError(422, MALFORMED, "give one of qty and percentage")
    fractional = bool(platform.settings.fractional_desk_account)
    unit = 1 if fractional else NANO
    shares = held
    if qty is not None:
        nano = qty * NANO
        if not qty.is_finite() or nano != nano.to_integral_value() or int(nano) % unit:
            precision = "to 9 decimals" if fractional else "whole shares"
            raise ApiError(422, MALFORMED, f"qty: {precision}")
        shares = int(nano)
        if not 0 < shares <= held:
            raise ApiError(422, MALFORMED, f"qty: above 0, at most {format_shares(0, held)}")
    elif percentage is not None:
        shares = int(held * percentage / 100) // unit * unit
        if shares == 0:
            raise ApiError(422, MALFORMED, "percentage: less than the smallest quantity")
    return json_answer(await place(platform, _closing_order(account, view, shares)))


def _closing_order(account: str, view: PositionView, nano: int) -> PlaceOrder:
    """A market day order that takes `nano` nano-shares off the (long) position."""
    whole, fraction = divmod(nano, NANO)
    return PlaceOrder(
        0,
        account,
        view.symbol,
        Side.SELL,
        OrderType.MARKET,
        whole,
        client_order_id=str(uuid.uuid4()),
        fraction=fraction,
    )


@routes.delete("/v2/positions", status_code=207)
async def close_all_positions(
    principal: deps.Trader,
    platform: deps.Platform,
    cancel_orders: Annotated[bool, Query()] = False,
) -> Response:
    """Close every open position with a market order each (after canceling every open order
    with `cancel_orders=true`): 207, with each symbol's status and its order, or its refusal
    (shares held by open orders cannot be sold until those are canceled)."""
    account = principal.account_id
    if cancel_orders:
        await _cancel_open_orders(platform, account)
    answers = []
    for view in await platform.open_positions(account):
        answer: dict[str, Any] = {"symbol": view.symbol, "status": 200}
        try:
            nano = view.qty * NANO + view.fraction
            order = await place(platform, _closing_order(account, view, nano))
        except ApiError as error:
            answer["status"] = error.status
            answer["body"] = {
                "code": error.code,
                "message": error.message,
                "symbol": view.symbol,
                "existing_qty": format_shares(view.qty, view.fraction),
                "held_for_orders": str(view.held),
                "available": format_shares(0, view.available_nano),
            }
        else:
            answer["order_id"] = order["id"]
            answer["body"] = order
        answers.append(answer)
    return json_answer(answers, 207)


async def _cancel_open_orders(platform: Backend, account: str) -> None:
    """Cancel the account's open orders (one that is no longer live is passed over)."""
    for row in await open_orders(platform, account):
        await order_entry.cancel(platform, row.order_id, account)


async def _position_in(platform: Backend, account: str, symbol_or_asset_id: str) -> PositionView:
    symbol = symbol_of(platform, symbol_or_asset_id)
    for view in await platform.open_positions(account):
        if view.symbol == symbol:
            return view
    raise ApiError(404, POSITION_NOT_FOUND, f"no open position in {symbol}")


@routes.get("/v2/account")
async def get_account(principal: deps.Reader, platform: deps.Platform) -> Response:
    summary = await platform.account(principal.account_id)
    if summary is None:
        raise refusal(RejectReason.UNKNOWN_ACCOUNT)
    return json_answer(views.account(summary))


@routes.get("/v2/account/activities")
async def get_activities(
    principal: deps.Reader,
    platform: deps.Platform,
    activity_types: ActivityQuery = None,
    direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    page_size: Annotated[int, Query(ge=1, le=activities_per_page_max)] = 100,
    page_token: ActivityQuery = None,
) -> Response:
    """Fills (FILL), fees (FEE), deposits (CSD), withdrawals (CSW), share transfers
    (ACATS), splits (SPLIT), dividends (DIV), newest first by default; `page_token` is the
    last id of a page."""
    names = activity_types.split(",") if activity_types else list(views.ACTIVITY_TYPES)
    account = principal.account_id
    found = await _activities(platform, account, names, direction, page_size, page_token)
    return json_answer(found)


@routes.get("/v2/account/activities/{activity_type}")
async def get_activities_of_type(
    activity_type: str,
    principal: deps.Reader,
    platform: deps.Platform,
    direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    page_size: Annotated[int, Query(ge=1, le=activities_per_page_max)] = 100,
    page_token: ActivityQuery = None,
) -> Response:
    account = principal.account_id
    found = await _activities(platform, account, [activity_type], direction, page_size, page_token)
    return json_answer(found)


async def _activities(
    platform: Backend,
    account: str,
    types: list[str],
    direction: str,
    page_size: int,
    page_token: str | None,
) -> list[dict[str, Any]]:
    kinds = {kind for name in types for kind in views.ACTIVITY_TYPES.get(name, ())}
    if not kinds:
        return []
    after_id = None
    if page_token is not None:
        after_id = views.activity_number(page_token)
        if after_id is None:
            raise ApiError(422, MALFORMED, "page_token: not an activity id")
    rows: list[ActivityRow] = await platform.read_model(
        account,
        queries.list_activities,
        account,
        kinds,
        None,
        None,
        page_size,
        after_id,
        direction,
    )
    filled = ("trade", "fraction")
    order_ids = sorted({row.order_id for row in rows if row.kind in filled and row.order_id})
    fills, orders = await platform.read_model(account, _fills_of_orders, account, order_ids)
    calendar = calendar_for()
    answer = []
    for row in rows:
        fill = fills.get((row.order_id, row.trade_id)) if row.kind == "trade" else None
        order = orders.get(row.order_id) if fill is not None or row.kind == "fraction" else None
        day = views.moment(row.ts).astimezone(calendar.timezone).date()
        answer.append(views.activity(row, fill, order, day))
    return answer


def _fills_of_orders(
    connection: Any, account: str, order_ids: list[int]
) -> tuple[dict[tuple[int | None, int | None], FillRow], dict[int | None, OrderRow]]:
    """The fills and rows of these orders, by (order id, trade id) and by order id."""
    fills: dict[tuple[int | None, int | None], FillRow] = {}
    orders: dict[int | None, OrderRow] = {}
    for order_id in order_ids:
        for fill in queries.list_fills(connection, account, order_id, None, 10_000):
            fills[(fill.order_id, fill.trade_id)] = fill
        row = queries.get_order(connection, order_id)
        if row is not None:
            orders[order_id] = row
    return fills, orders
