"""Alpaca's order classes on `/v2`: a request's `order_class`, `take_profit` and
`stop_loss` as our `/v1` request's fields, and the `legs` of Alpaca's order JSON (nested
orders, as `GET /v2/orders?nested=true` shows them).

Alpaca's OCO request names only its legs: its limit order is the take-profit
(`engine.order_classes`). `legs` (Alpaca's multi-leg options field) is not taken."""

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradingfloor.domain.prices import PriceFormatError, bounded_decimal
from tradingfloor.gateway.alpaca_views import alpaca_order
from tradingfloor.gateway.orders import RequestError
from tradingfloor.gateway.schemas import StopLossRequest, TakeProfitRequest
from tradingfloor.store import queries
from tradingfloor.store.queries import OrderRow

if TYPE_CHECKING:
    from tradingfloor.gateway.alpaca_orders import LegBody, OrderBody
    from tradingfloor.gateway.backend import Backend

ORDER_CLASSES = ("simple", "bracket", "oco", "oto")


def _text(field: str, value: Decimal | None) -> str | None:
    if value is None:
        return None
    try:
        return format(bounded_decimal(value), "f")
    except PriceFormatError as error:
        raise RequestError(field, f"{field}: {error}") from error


def class_fields(body: "OrderBody") -> dict[str, Any]:
    """The `/v1` request fields of the body's order class (none for a simple order)."""
    order_class = body.order_class or "simple"
    if order_class not in ORDER_CLASSES:
        raise RequestError("order_class", f"order_class: one of {', '.join(ORDER_CLASSES)}")
    if body.legs is not None:
        raise RequestError("legs", "legs: multi-leg (options) orders are not supported")
    fields: dict[str, Any] = {}
    if order_class != "simple":
        fields["order_class"] = order_class
    if body.take_profit is not None:
        fields["take_profit"] = _take_profit(body.take_profit)
    if body.stop_loss is not None:
        fields["stop_loss"] = _stop_loss(body.stop_loss)
    return fields


def _take_profit(leg: "LegBody") -> TakeProfitRequest:
    price = _text("take_profit.limit_price", leg.limit_price)
    if price is None:
        raise RequestError("take_profit", "take_profit.limit_price: required")
    return TakeProfitRequest(price)


def _stop_loss(leg: "LegBody") -> StopLossRequest:
    stop = _text("stop_loss.stop_price", leg.stop_price)
    if stop is None:
        raise RequestError("stop_loss", "stop_loss.stop_price: required")
    return StopLossRequest(stop, _text("stop_loss.limit_price", leg.limit_price))


def nest(order: dict[str, Any], legs: list[dict[str, Any]]) -> dict[str, Any]:
    """Alpaca's JSON of an order with its legs nested (None when it has none)."""
    order["legs"] = legs or None
    return order


async def nest_legs(
    platform: "Backend", account: str, rows: list[OrderRow], answer: list[dict[str, Any]]
) -> None:
    """Nest each parent's legs (read from the read models) into its JSON in `answer`."""
    parents = [row.order_id for row in rows if row.order_class != "simple"]
    if not parents:
        return
    legs: list[OrderRow] = await platform.read_model(account, queries.list_legs, parents)
    by_parent: dict[int, list[dict[str, Any]]] = {}
    for leg in legs:
        by_parent.setdefault(leg.parent_order_id or 0, []).append(alpaca_order(leg))
    for row, order in zip(rows, answer, strict=True):
        if row.order_id in by_parent:
            nest(order, by_parent[row.order_id])
