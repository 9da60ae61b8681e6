"""The event of a refused new order, with the order's terms.

A refused order is still an order of its account: its row shows what was asked (side, type,
time in force, quantity, prices), as the client sent it, beside why it was refused. A refusal
that makes no order (`order_state.NO_ORDER_REJECTS`: the id or the client order id is another
order's) carries no terms: there is no order for them to describe."""

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.events import OrderRejected
from tradingfloor.domain.order_state import NO_ORDER_REJECTS
from tradingfloor.domain.reasons import RejectReason


def order_rejected(
    command: PlaceOrder, seq: int, ts: int, order_id: int, symbol: str, reason: RejectReason
) -> OrderRejected:
    """`command` refused for `reason`, as order `order_id` of `symbol`."""
    if reason in NO_ORDER_REJECTS:
        return OrderRejected(
            seq, ts, order_id, command.account, symbol, reason, command.client_order_id
        )
    return OrderRejected(
        seq,
        ts,
        order_id,
        command.account,
        symbol,
        reason,
        command.client_order_id,
        command.side,
        command.order_type,
        command.tif,
        command.qty,
        command.price,
        command.stop_price,
        command.fraction,
        command.notional,
    )
