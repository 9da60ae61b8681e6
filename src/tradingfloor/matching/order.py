"""The matching engine's view of one live order."""

import msgspec

from tradingfloor.domain.enums import (
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)


class Order(msgspec.Struct, gc=False, eq=False, array_like=True):
    """A live order inside one book. Mutable, owned by the book, never shared with the edges.

    Quantities: `qty` is the order's total; `filled` went to trades; `leaves` is still open;
    whatever else (qty - filled - leaves) was canceled, e.g. by an STP decrement.
    The traded notional is not kept here: it follows from the `TradeExecuted` events, and the
    hot loop is cheaper without it. `price` is None for market and stop orders;
    `stop_price` is the trigger of stop orders (for trailing stops it moves with the market).
    `protection` is the worst price a market (or stop-market) order may trade at: the price it
    was held at by the risk layer; None without one.
    `oco` is the other leg of a one-cancels-other pair (0: none): the two always have the same
    open quantity (`matching.contingent`). `parent` is the order a leg belongs to (0: none).
    """

    order_id: int
    account: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    qty: int
    leaves: int
    price: int | None
    stop_price: int | None
    stp: SelfTradePrevention
    filled: int = 0
    status: OrderStatus = OrderStatus.NEW
    trail_price: int | None = None
    trail_bps: int | None = None
    watermark: int | None = None
    client_order_id: str = ""
    protection: int | None = None
    oco: int = 0
    parent: int = 0

    @property
    def canceled(self) -> int:
        return self.qty - self.filled - self.leaves
