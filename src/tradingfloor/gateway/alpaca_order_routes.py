"""`/v2/orders`: Alpaca's order routes. Requests become our commands through `/v1`'s request
schemas (`alpaca_orders`); order entry then takes `/v1`'s path (`order_entry`), and its outcome
is answered as Alpaca's order JSON (`alpaca_views`)."""

import uuid
from typing import Annotated, Any

import msgspec
from fastapi import Query, Request
from fastapi.responses import Response

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import OrderType
from tradingfloor.domain.ids import CLIENT_ORDER_ID_PATTERN, SYMBOL_PATTERN
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway import deps, order_entry
from tradingfloor.gateway.alpaca_order_classes import nest, nest_legs
from tradingfloor.gateway.alpaca_orders import (
    OrderBody,
    ReplaceBody,
    order_request,
    replace_request,
)
from tradingfloor.gateway.alpaca_refusals import order_refusal
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError, refusal
from tradingfloor.gateway.order_entry import Refused, Resubmitted
from tradingfloor.gateway.orders import RequestError, place_command, replace_command
from tradingfloor.gateway.params import rfc3339_ns
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.gateway.schemas import DECODE_ERRORS
from tradingfloor.matching.order import Order
from tradingfloor.store import queries
from tradingfloor.store.order_rows import order_row
from tradingfloor.store.queries import OrderRow
from tradingfloor.store.readmodels import OPEN_ORDER_STATUSES

orders_per_page_max = 500
"""`GET /v2/orders?limit=`: Alpaca's maximum."""
cancel_all_orders_max = 10_000
"""Open orders `DELETE /v2/orders` cancels in one call at most."""

routes = RouteTable(tags=["alpaca"])

_order_decoder = msgspec.json.Decoder(OrderBody)
_replace_decoder = msgspec.json.Decoder(ReplaceBody)


@routes.post("/v2/orders")
async def submit_order(
    request: Request, principal: deps.Trader, platform: deps.Platform
) -> Response:
    """Place an order (Alpaca's `POST /v2/orders`); answered once durable, with its
    status after matching. A client order id already used is answered as on `/v1`: with
    the same terms, with that first order as it stands; with other terms, refused (422,
    1016)."""
    try:
        body = _order_decoder.decode(await request.body())
        order = order_request(body)
        command = place_command(order, principal.account_id)
    except DECODE_ERRORS as error:
        raise ApiError(422, MALFORMED, str(error)) from error
    except RequestError as error:
        raise ApiError(422, MALFORMED, str(error)) from error
    if order.client_order_id is None:  # Alpaca names every order
        command = msgspec.structs.replace(command, client_order_id=str(uuid.uuid4()))
    return json_answer(await place(platform, command))


async def place(platform: Backend, command: PlaceOrder) -> dict[str, Any]:
    """Enter an order: Alpaca's JSON of it, or its refusal raised."""
    placed = await order_entry.place(platform, command)
    if isinstance(placed, Resubmitted):
        if placed.first is None or placed.reason is not None:
            raise refusal(placed.reason or RejectReason.UNKNOWN_ORDER)
        return await order_json(platform, placed.first)
    if isinstance(placed, Refused):
        raise order_refusal(placed.reason, command)
    live = None
    if command.order_type is OrderType.TRAILING_STOP:
        found = await platform.live_order(placed.seq)
        live = None if found is None else found.order
    answer = views.alpaca_order(order_row(placed.state), live=live)
    if placed.legs:
        nest(answer, [views.alpaca_order(order_row(leg)) for leg in placed.legs])
    return answer


@routes.get("/v2/orders")
async def get_orders(
    principal: deps.Reader,
    platform: deps.Platform,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=orders_per_page_max)] = 50,
    after: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    side: Annotated[str | None, Query(pattern="^(buy|sell)$")] = None,
    symbols: Annotated[
        str | None, Query(max_length=2_000, pattern=f"^{SYMBOL_PATTERN}(,{SYMBOL_PATTERN})*$")
    ] = None,
    nested: Annotated[bool, Query()] = False,
) -> Response:
    """Your orders, newest first by default, open ones unless `status` says otherwise
    (Alpaca's default). `after` and `until` bound the submission time (ISO 8601)."""
    account = principal.account_id
    wanted: list[str | None] = [s for s in (symbols or "").split(",") if s] or [None]
    after_ts = None if after is None else rfc3339_ns(after, "after")
    until_ts = None if until is None else rfc3339_ns(until, "until")
    rows: list[OrderRow] = []
    for symbol in wanted[:100]:
        rows += await platform.read_model(
            account,
            queries.list_orders,
            account,
            status,
            symbol,
            after_ts,
            until_ts,
            limit,
            None,
            direction,
        )
    if side is not None:
        rows = [row for row in rows if row.side == side]
    if nested:  # legs under their parents, as Alpaca rolls them up
        rows = [row for row in rows if row.parent_order_id is None]
    rows.sort(key=lambda row: (row.created_seq, row.order_id), reverse=direction == "desc")
    answer = [await order_json(platform, row) for row in rows[:limit]]
    if nested:
        await nest_legs(platform, account, rows[:limit], answer)
    return json_answer(answer)


async def open_orders(platform: Backend, account: str) -> list[OrderRow]:
    """The account's open orders, oldest first (at most `cancel_all_orders_max`)."""
    rows: list[OrderRow] = await platform.read_model(
        account,
        queries.list_orders,
        account,
        "open",
        None,
        None,
        None,
        cancel_all_orders_max,
        None,
        "asc",
    )
    return rows


@routes.delete("/v2/orders", status_code=207)
async def cancel_orders(principal: deps.Trader, platform: deps.Platform) -> Response:
    """Cancel every open order of yours: 207 with each order's own status."""
    account = principal.account_id
    open_rows = await open_orders(platform, account)
    answers: list[dict[str, Any]] = []
    canceled: list[int] = []
    for row in open_rows:
        answer: dict[str, Any] = {"id": str(views.order_uuid(row.order_id)), "status": 200}
        refused = await order_entry.cancel(platform, row.order_id, account)
        if refused is None:
            canceled.append(row.order_id)
        else:
            error = refusal(refused)
            answer.update(status=error.status, body={"code": error.code, "message": error.message})
        answers.append(answer)
    done: list[OrderRow] = await platform.read_model(account, _orders_by_id, canceled)
    after = {row.order_id: row for row in done}
    for answer in answers:
        found = after.get(views.order_id_of(answer["id"]) or 0)
        if found is not None and answer["status"] == 200:
            answer["body"] = await order_json(platform, found)
    return json_answer(answers, 207)


@routes.get("/v2/orders:by_client_order_id")
async def get_order_by_client_id(
    principal: deps.Reader,
    platform: deps.Platform,
    client_order_id: Annotated[str, Query(pattern=f"^{CLIENT_ORDER_ID_PATTERN}$")],
) -> Response:
    """Your order with this client order id (a replacement has one of its own)."""
    account = principal.account_id
    read = platform.read_model
    row: OrderRow | None = await read(
        account, queries.get_order_by_client_id, account, client_order_id
    )
    if row is None:  # an order placed without one answers to its own id
        number = views.order_id_of(client_order_id)
        found = None if number is None else await read(account, queries.get_order, number)
        if found is not None and found.account == account and not found.client_order_id:
            row = found
    if row is None:
        raise refusal(RejectReason.UNKNOWN_ORDER)
    return json_answer(await order_json(platform, row))


@routes.get("/v2/orders/{order_id}")
async def get_order(
    order_id: str, principal: deps.Reader, platform: deps.Platform, nested: bool = False
) -> Response:
    row = await _own_order(platform, order_id, principal.account_id)
    answer = await order_json(platform, row)
    if nested:
        await nest_legs(platform, principal.account_id, [row], [answer])
    return json_answer(answer)


@routes.delete("/v2/orders/{order_id}", status_code=204)
async def cancel_order(order_id: str, principal: deps.Trader, platform: deps.Platform) -> Response:
    """Cancel what is left of a live order: 204, or 422 when it is no longer live."""
    number = views.order_id_of(order_id)
    if number is None:
        raise refusal(RejectReason.UNKNOWN_ORDER)
    refused = await order_entry.cancel(platform, number, principal.account_id)
    if refused is not None:
        raise refusal(refused)
    return Response(status_code=204)


@routes.patch("/v2/orders/{order_id}")
async def replace_order(
    order_id: str, request: Request, principal: deps.Trader, platform: deps.Platform
) -> Response:
    """Replace a live order's qty, time in force, limit or stop price, or trail: the answer is
    the new order."""
    account = principal.account_id
    row = await _own_order(platform, order_id, account)
    live = await order_entry.live_order_of(platform, row.order_id, account)
    if isinstance(live, RejectReason):
        raise refusal(live)
    try:
        body = _replace_decoder.decode(await request.body())
        replace = replace_request(body, views.trails_by(live.order))
    except DECODE_ERRORS as error:
        raise ApiError(422, MALFORMED, str(error)) from error
    except RequestError as error:
        raise ApiError(422, MALFORMED, str(error)) from error
    if replace.client_order_id is None:  # Alpaca names the replacement anew
        replace = msgspec.structs.replace(replace, client_order_id=str(uuid.uuid4()))
    try:
        command = replace_command(replace, row.order_id, live.symbol, account)
    except RequestError as error:
        raise ApiError(422, MALFORMED, str(error)) from error
    replaced = await order_entry.replace(platform, command)
    if isinstance(replaced, RejectReason):
        raise refusal(replaced)
    new = await platform.read_model(account, queries.get_order, replaced.order_id)
    return json_answer(await order_json(platform, new))


async def order_json(platform: Backend, row: OrderRow) -> dict[str, Any]:
    """Alpaca's JSON of an order the read models hold."""
    return views.alpaca_order(row, live=await _live_order(platform, row))


async def _live_order(platform: Backend, row: OrderRow) -> Order | None:
    """The book's order while it lives, for what only the book knows: a trailing stop's
    trail, high-water mark and current stop (other orders need no question)."""
    if row.order_type != "trailing_stop" or row.status not in OPEN_ORDER_STATUSES:
        return None
    live = await platform.live_order(row.order_id)
    return None if live is None else live.order


async def _own_order(platform: Backend, order_id: str, account: str) -> OrderRow:
    number = views.order_id_of(order_id)
    row = None if number is None else await platform.read_model(account, queries.get_order, number)
    if row is None or row.account != account:
        raise refusal(RejectReason.UNKNOWN_ORDER)
    return row  # type: ignore[no-any-return]


def _orders_by_id(connection: Any, order_ids: list[int]) -> list[OrderRow]:
    found = (queries.get_order(connection, order_id) for order_id in order_ids)
    return [row for row in found if row is not None]
