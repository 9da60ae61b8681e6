"""Rows of the `orders` read model as the domain's `OrderState`, and back.

An order row is an `OrderState` (`tradingfloor.domain.order_state`) with its enumerations
stored by lowercase name, the words the API speaks ("buy", "stop_limit", "partially_filled").
The state's fields are the table's columns, in order, so a row converts field by field.
"""

from typing import Any

import msgspec

from tradingfloor.domain.enums import (
    CancelReason,
    OrderClass,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.order_state import OrderState
from tradingfloor.store.queries import OrderRow
from tradingfloor.store.readmodels import orders

SIDE_NAME = {side: side.name.lower() for side in Side}
TYPE_NAME = {kind: kind.name.lower() for kind in OrderType}
TIF_NAME = {tif: tif.name.lower() for tif in TimeInForce}
STATUS_NAME = {status: status.name.lower() for status in OrderStatus}
CANCEL_REASON_NAME = {reason: reason.name.lower() for reason in CancelReason}
CLASS_NAME = {order_class: order_class.name.lower() for order_class in OrderClass}
_SIDE = {name: side for side, name in SIDE_NAME.items()}
_TYPE = {name: kind for kind, name in TYPE_NAME.items()}
_TIF = {name: tif for tif, name in TIF_NAME.items()}
_STATUS = {name: status for status, name in STATUS_NAME.items()}
_CANCEL_REASON = {name: reason for reason, name in CANCEL_REASON_NAME.items()}
_CLASS = {name: order_class for order_class, name in CLASS_NAME.items()}

ORDER_COLUMNS = tuple(column.name for column in orders.c)
if OrderState.__struct_fields__ != ORDER_COLUMNS or OrderRow.__struct_fields__ != ORDER_COLUMNS:
    raise InvariantViolation("the orders table, OrderState and OrderRow list other fields")


def row_values(state: OrderState) -> tuple[Any, ...]:
    """The row of `state`, in the table's column order."""
    values = msgspec.structs.astuple(state)
    (order_id, account, symbol, side, order_type, tif, qty, price, stop_price, client_order_id,
     status, filled_qty, leaves_qty, filled_notional, reject_code, cancel_reason, replaced_by,
     replaces, created_seq, created_ts, updated_seq, updated_ts, order_class,
     parent_order_id, fraction, filled_fraction, fraction_price, notional) = values  # fmt: skip
    return (
        order_id, account, symbol,
        None if side is None else SIDE_NAME[side],
        None if order_type is None else TYPE_NAME[order_type],
        None if tif is None else TIF_NAME[tif],
        qty, price, stop_price, client_order_id, STATUS_NAME[status], filled_qty, leaves_qty,
        filled_notional, reject_code,
        None if cancel_reason is None else CANCEL_REASON_NAME[cancel_reason],
        replaced_by, replaces, created_seq, created_ts, updated_seq, updated_ts,
        CLASS_NAME[order_class], parent_order_id, fraction, filled_fraction, fraction_price,
        notional,
    )  # fmt: skip


def state_of_values(values: tuple[Any, ...]) -> OrderState:
    """The `OrderState` of a row given in the table's column order."""
    (order_id, account, symbol, side, order_type, tif, qty, price, stop_price, client_order_id,
     status, filled_qty, leaves_qty, filled_notional, reject_code, cancel_reason, replaced_by,
     replaces, created_seq, created_ts, updated_seq, updated_ts, order_class,
     parent_order_id, fraction, filled_fraction, fraction_price, notional) = values  # fmt: skip
    return OrderState(
        order_id, account, symbol,
        None if side is None else _SIDE[side],
        None if order_type is None else _TYPE[order_type],
        None if tif is None else _TIF[tif],
        qty, price, stop_price, client_order_id, _STATUS[status], filled_qty, leaves_qty,
        filled_notional, reject_code,
        None if cancel_reason is None else _CANCEL_REASON[cancel_reason],
        replaced_by, replaces, created_seq, created_ts, updated_seq, updated_ts,
        _CLASS[order_class], parent_order_id, fraction, filled_fraction, fraction_price,
        notional,
    )  # fmt: skip


def order_row(state: OrderState) -> OrderRow:
    """`state` as the read models' row (what the gateway's views show)."""
    return OrderRow(*row_values(state))


def order_state(row: OrderRow) -> OrderState:
    """A read-model row as the order's state, to go on from with its later events."""
    return state_of_values(msgspec.structs.astuple(row))
