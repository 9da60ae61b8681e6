"""The legs of bracket, OCO and OTO orders between the API and the engine: a request's
`order_class`, `take_profit` and `stop_loss` onto the command, and the legs a command's
events made, for the answer (`engine.order_classes` has the rules)."""

import msgspec

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import OrderClass
from tradingfloor.domain.events import Event
from tradingfloor.domain.order_state import OrderState, OrderStates

CLASSES = {order_class.name.lower(): order_class for order_class in OrderClass}


def with_legs(
    command: PlaceOrder,
    order_class: str,
    take_profit_price: int | None,
    stop_loss_price: int | None,
    stop_loss_limit_price: int | None,
) -> PlaceOrder:
    """`command` with its class and legs. An OCO's own limit price is its take-profit's
    when the request gives none (Alpaca's OCO request names only the legs)."""
    price = command.price
    kind = CLASSES[order_class]
    if kind == OrderClass.OCO and price is None:
        price = take_profit_price
    return msgspec.structs.replace(
        command,
        price=price,
        order_class=kind,
        take_profit_price=take_profit_price,
        stop_loss_price=stop_loss_price,
        stop_loss_limit_price=stop_loss_limit_price,
    )


def legs_after(order_id: int, events: list[Event]) -> list[OrderState]:
    """The legs of order `order_id` as its command's events leave them, take-profit first."""
    states = OrderStates()
    for event in events:
        states.apply(event)
    legs = [state for state in states.orders.values() if state.parent_order_id == order_id]
    return sorted(legs, key=lambda state: state.order_id)
