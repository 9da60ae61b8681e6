"""`/v1` order entry: place, cancel and replace, the hot path.

These routes take the raw request, parse it with msgspec and answer with msgspec-encoded
bytes, skipping FastAPI's body and response models (their schemas still appear in the OpenAPI
document), and call the `trader` check themselves rather than through dependency solving.
`POST /v1/orders` skips FastAPI altogether (`fast_path.OrderEntryFastPath`). What happens
between the request and the answer is `order_entry`'s, shared with `/v2`.
"""

import time
from typing import Any

import msgspec
from fastapi import Request
from fastapi.responses import Response

from tradingfloor import observability as metrics
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import order_entry
from tradingfloor.gateway.answers import (
    MALFORMED,
    encode,
    error_answer,
    json_answer,
    malformed_answer,
    refusal_answer,
)
from tradingfloor.gateway.backend import Backend, ReadModelsUnavailable
from tradingfloor.gateway.deps import backend_of, trader
from tradingfloor.gateway.errors import http_status
from tradingfloor.gateway.openapi import ERROR_RESPONSES, body_schema, order_responses
from tradingfloor.gateway.order_entry import Entered, Placed, Refused
from tradingfloor.gateway.orders import (
    RequestError,
    place_command,
    replace_command,
    stored_fill,
    view_of,
)
from tradingfloor.gateway.params import order_number
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.gateway.schemas import DECODE_ERRORS, OrderRequest, ReplaceRequest
from tradingfloor.store import queries
from tradingfloor.store.order_rows import order_state

routes = RouteTable(tags=["orders"])

_order_decoder = msgspec.json.Decoder(OrderRequest)
_replace_decoder = msgspec.json.Decoder(ReplaceRequest)


@routes.post("/v1/orders", openapi_extra=body_schema("OrderRequest"), responses=order_responses())
async def place_order(request: Request) -> Response:
    """Place an order. Answered once it is durable, with its status after matching; a
    retry with the same client_order_id (and terms) is answered with that first order as
    it stands, one with other terms refused (422, 1016)."""
    started = time.perf_counter()
    principal = await trader(request)
    try:
        order = _order_decoder.decode(await request.body())
        command = place_command(order, principal.account_id)
    except DECODE_ERRORS as error:
        return malformed_answer(error)
    except RequestError as error:
        return error_answer(MALFORMED, str(error), 422, field=error.field)
    platform = backend_of(request)
    placed = await order_entry.place(platform, command)
    status, body = await _answer(platform, command.account, placed)
    metrics.ack_seconds.labels(command.symbol).observe(time.perf_counter() - started)
    return Response(body, status, media_type="application/json")


async def _answer(platform: Backend, account: str, placed: Placed) -> tuple[int, bytes]:
    """The status and body of an order's entry: the order after its command; or its refusal
    (with the id the engine gave it, if any); or, for a resubmission, the first order as the
    read models hold it now, as its own answer showed it (the same refusal, if refused)."""
    if isinstance(placed, Entered):
        view = view_of(placed.state, placed.seq, placed.fills)
        if placed.legs:
            view.legs = [view_of(leg, placed.seq, []) for leg in placed.legs]
        return 200, encode(view)
    if isinstance(placed, Refused):
        return _rejection(placed.reason, placed.order_id)
    first, reason = placed.first, placed.reason
    if first is None:
        return _rejection(RejectReason.UNKNOWN_ORDER, None)
    if reason is not None:
        return _rejection(reason, first.order_id)
    fills = await platform.read_model(
        account, queries.list_fills, account, first.order_id, None, 1_000
    )
    view = view_of(order_state(first), first.updated_seq, [stored_fill(fill) for fill in fills])
    return 200, encode(view)


def _rejection(reason: RejectReason, order_id: int | None) -> tuple[int, bytes]:
    body: dict[str, Any] = {"code": int(reason), "message": reason.message}
    if order_id is not None:
        body["order_id"] = str(order_id)
    return http_status(reason), encode(body)


@routes.delete("/v1/orders/{order_id}", responses=ERROR_RESPONSES)
async def cancel_order(order_id: str, request: Request) -> Response:
    """Cancel what is left of a live order of yours."""
    principal = await trader(request)
    number = order_number(order_id)
    platform = backend_of(request)
    refused = await order_entry.cancel(platform, number, principal.account_id)
    if refused is not None:
        return refusal_answer(refused)
    try:
        view = await platform.order_view(number, principal.account_id)
    except (ReadModelsUnavailable, TimeoutError):
        view = None  # the cancel is done: answered as such, not as a failure to retry
    return json_answer(view if view is not None else {"id": order_id, "status": "canceled"})


@routes.patch(
    "/v1/orders/{order_id}",
    openapi_extra=body_schema("ReplaceRequest"),
    responses=order_responses(),
)
async def replace_order(order_id: str, request: Request) -> Response:
    """Replace a live order's quantity, limit or stop price, time in force or trail: it gets
    a new id, and keeps its time priority only when the quantity goes down at the same price
    (and nothing else changes)."""
    principal = await trader(request)
    account = principal.account_id
    number = order_number(order_id)
    try:
        replace = _replace_decoder.decode(await request.body())
    except DECODE_ERRORS as error:
        return malformed_answer(error)
    platform = backend_of(request)
    live = await order_entry.live_order_of(platform, number, account)
    if isinstance(live, RejectReason):
        return refusal_answer(live)
    try:
        command = replace_command(replace, number, live.symbol, account)
    except RequestError as error:
        return error_answer(MALFORMED, str(error), 422, field=error.field)
    replaced = await order_entry.replace(platform, command)
    if isinstance(replaced, RejectReason):
        return refusal_answer(replaced)
    # The replacement as the read models hold it (they reach its seq before answering): the
    # command's events alone cannot show it, since they do not carry the order it replaces.
    return json_answer(await platform.order_view(replaced.order_id, account))
