"""Commands: imperative, frozen, and the only way state changes.

A command carries no sequence number or time: the sequencer gives it both, and the engine
receives them as arguments (`Engine.apply(command, seq, ts)`), so the same journal replays to the
same events. Commands are tagged msgspec structs so the journal can encode any of them.
"""

import msgspec

from tradingfloor.domain.enums import OrderType, SelfTradePrevention, Side, TimeInForce
from tradingfloor.domain.instruments import Instrument


class Command(msgspec.Struct, frozen=True, gc=False, tag=True, array_like=True):
    """Base of every command."""


class AddInstrument(Command, frozen=True, gc=False, tag=True, array_like=True):
    """List a symbol: its order book exists from this command on."""

    instrument: Instrument


class PlaceOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Enter a new order.

    `order_id` is assigned before the engine (by the sequencer) and must exceed every order id the
    engine has seen. Prices are integer price units. `trail_price` (price units) or `trail_bps`
    (hundredths of a percent) sets a trailing stop's distance; `stp` overrides the instrument's
    self-trade rule for this order.
    """

    order_id: int
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: int | None = None
    stop_price: int | None = None
    tif: TimeInForce = TimeInForce.DAY
    trail_price: int | None = None
    trail_bps: int | None = None
    stp: SelfTradePrevention | None = None
    client_order_id: str = ""


class CancelOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cancel what is left of a live order. An empty `account` skips the owner check (admin)."""

    order_id: int
    symbol: str
    account: str = ""


class ReplaceOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cancel/replace: the live order `order_id` becomes `new_order_id` with new terms.

    `qty` is the new total quantity (fills carry over); `None` keeps a term as it is. Lowering the
    quantity at the same price keeps time priority; any other change loses it.
    """

    order_id: int
    new_order_id: int
    symbol: str
    account: str = ""
    qty: int | None = None
    price: int | None = None
    stop_price: int | None = None


class ExpireOrders(Command, frozen=True, gc=False, tag=True, array_like=True):
    """End of session: every live DAY order (of `symbol`, or of all symbols) expires."""

    symbol: str | None = None


ANY_COMMAND = AddInstrument | PlaceOrder | CancelOrder | ReplaceOrder | ExpireOrders
