"""Alpaca order requests (`POST` and `PATCH /v2/orders`) turned into our `/v1` request
schemas, so that one path (`orders.place_command`, `orders.replace_command`) makes the
commands. The SDK sends quantities and prices as JSON numbers: they are read as `Decimal`
from the JSON text, never through a float."""

from decimal import Decimal
from typing import Any

import msgspec

from tradingfloor.domain.fractions import NANO
from tradingfloor.domain.prices import PriceFormatError, bounded_decimal
from tradingfloor.gateway.alpaca_order_classes import class_fields
from tradingfloor.gateway.orders import SIDES, TIFS, TYPES, RequestError
from tradingfloor.gateway.schemas import OrderRequest, ReplaceRequest

order_qty_max = 1_000_000_000
"""Shares in one order at most (as `/v1`)."""


class LegBody(msgspec.Struct):
    """A take-profit or stop-loss leg of an Alpaca order class (typed, so a hostile body
    nested a thousand deep fails at its second level instead of recursing)."""

    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


class OrderBody(msgspec.Struct):
    """Alpaca's order request; unknown fields are ignored, as Alpaca does."""

    symbol: str | None = None
    qty: Decimal | None = None
    notional: Decimal | None = None
    side: str | None = None
    type: str | None = None
    time_in_force: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool | None = None
    client_order_id: str | None = None
    order_class: str | None = None
    legs: list[LegBody] | None = None
    take_profit: LegBody | None = None
    stop_loss: LegBody | None = None
    position_intent: str | None = None


class ReplaceBody(msgspec.Struct):
    qty: Decimal | None = None
    time_in_force: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    client_order_id: str | None = None


def _text(field: str, value: Decimal | None) -> str | None:
    """A JSON number as the decimal text `/v1` takes, checked for size before formatting."""
    if value is None:
        return None
    try:
        return format(bounded_decimal(value), "f")
    except PriceFormatError as error:
        raise RequestError(field, f"{field}: {error}") from error


def _qty(value: Decimal | None) -> int:
    """A replacement's quantity: whole shares (a fractional order cannot be replaced)."""
    if value is None or not value.is_finite() or value != value.to_integral_value():
        raise RequestError("qty", "qty: whole shares (a fractional order cannot be replaced)")
    if not 0 < value <= order_qty_max:
        raise RequestError("qty", f"qty: from 1 to {order_qty_max}")
    return int(value)


def _shares(value: Decimal | None) -> tuple[int | None, int]:
    """An order's quantity as (whole shares, nano-shares beyond them): to 1e-9 share."""
    if value is None:
        raise RequestError("qty", "qty: required (or notional)")
    if not value.is_finite() or not 0 < value <= order_qty_max:
        raise RequestError("qty", f"qty: above 0, at most {order_qty_max}")
    nano = value * NANO
    if nano != nano.to_integral_value():
        raise RequestError("qty", "qty: at most 9 decimals")
    whole, fraction = divmod(int(nano), NANO)
    return (whole or None), fraction


def _one_of(field: str, value: str | None, allowed: dict[str, Any]) -> str:
    if value is None or value not in allowed:
        raise RequestError(field, f"{field}: one of {', '.join(allowed)}")
    return value


def order_request(body: OrderBody) -> OrderRequest:
    """The `/v1` request for an Alpaca order request; `RequestError` names what we do not
    take."""
    if body.extended_hours:
        raise RequestError("extended_hours", "extended_hours: regular hours only")
    if body.time_in_force in ("opg", "cls"):
        raise RequestError("time_in_force", "time_in_force: no opening or closing auctions")
    if not body.symbol:
        raise RequestError("symbol", "symbol: required")
    qty: int | None = None
    fraction = 0
    if body.notional is None:
        qty, fraction = _shares(body.qty)
    elif body.qty is not None:
        raise RequestError("notional", "notional: give qty or notional, not both")
    return OrderRequest(
        symbol=body.symbol,
        side=_one_of("side", body.side, SIDES),  # type: ignore[arg-type]
        type=_one_of("type", body.type, TYPES),  # type: ignore[arg-type]
        qty=qty,
        fraction=fraction,
        notional=_text("notional", body.notional),
        time_in_force=_one_of("time_in_force", body.time_in_force, TIFS),  # type: ignore[arg-type]
        limit_price=_text("limit_price", body.limit_price),
        stop_price=_text("stop_price", body.stop_price),
        trail_price=_text("trail_price", body.trail_price),
        trail_percent=_text("trail_percent", body.trail_percent),
        client_order_id=body.client_order_id or None,
        **class_fields(body),
    )


def replace_request(body: ReplaceBody, trails_by: str | None) -> ReplaceRequest:
    """The `/v1` replace for an Alpaca one. `trail` is the new trail of a trailing stop in
    the kind it trails by (`trails_by`: `trail_price` or `trail_percent`; None for an order
    that does not trail, which refuses it). The replacement is a new order, with the client
    order id the request names (the caller names it when the request does not)."""
    tif = body.time_in_force
    if tif is not None and tif not in TIFS:
        raise RequestError("time_in_force", f"time_in_force: one of {', '.join(TIFS)}")
    trail = {}
    if body.trail is not None:
        if trails_by is None:
            raise RequestError("trail", "trail: only a trailing stop has one")
        trail[trails_by] = _text("trail", body.trail)
    return ReplaceRequest(
        qty=None if body.qty is None else _qty(body.qty),
        limit_price=_text("limit_price", body.limit_price),
        stop_price=_text("stop_price", body.stop_price),
        client_order_id=body.client_order_id or None,
        time_in_force=tif,  # type: ignore[arg-type]
        **trail,
    )
