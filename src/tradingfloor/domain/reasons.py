"""Stable reject codes, grouped by area: 1xxx validation, 2xxx risk, 3xxx matching, 4xxx auth.

Codes never change meaning once published; new reasons take new numbers.
"""

from enum import IntEnum


class RejectReason(IntEnum):
    # validation: the command itself is malformed for this instrument
    INVALID_QUANTITY = 1001
    QUANTITY_NOT_LOT_MULTIPLE = 1002
    INVALID_PRICE = 1003
    PRICE_NOT_ON_TICK = 1004
    PRICE_REQUIRED = 1005
    PRICE_NOT_ALLOWED = 1006
    STOP_PRICE_REQUIRED = 1007
    STOP_PRICE_NOT_ALLOWED = 1008
    INVALID_STOP_PRICE = 1009
    TRAIL_REQUIRED = 1010
    INVALID_TRAIL = 1011
    UNKNOWN_SYMBOL = 1012
    DUPLICATE_ORDER_ID = 1013
    TRAIL_NOT_ALLOWED = 1014
    REPLACE_NOTHING_TO_CHANGE = 1015

    # matching: the command is well formed but the book cannot do it
    UNKNOWN_ORDER = 3001
    """The id is above every order id the engine has seen."""
    ORDER_NOT_LIVE = 3002
    """No live order with this id in this book: filled, canceled, expired, replaced, or never
    placed here (ids come from the sequencer, so an engine keeps no memory of dead ones)."""
    FOK_NOT_FILLABLE = 3003
    REPLACE_QTY_NOT_ABOVE_FILLED = 3004
    ACCOUNT_MISMATCH = 3005

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES: dict[RejectReason, str] = {
    RejectReason.INVALID_QUANTITY: "quantity must be a positive whole number of shares",
    RejectReason.QUANTITY_NOT_LOT_MULTIPLE: "quantity is not a multiple of the lot size",
    RejectReason.INVALID_PRICE: "price must be positive",
    RejectReason.PRICE_NOT_ON_TICK: "price is not a multiple of the tick size",
    RejectReason.PRICE_REQUIRED: "this order type needs a limit price",
    RejectReason.PRICE_NOT_ALLOWED: "this order type takes no limit price",
    RejectReason.STOP_PRICE_REQUIRED: "this order type needs a stop price",
    RejectReason.STOP_PRICE_NOT_ALLOWED: "this order type takes no stop price",
    RejectReason.INVALID_STOP_PRICE: "stop price must be positive and on the tick",
    RejectReason.TRAIL_REQUIRED: "a trailing stop needs one of trail price or trail percent",
    RejectReason.INVALID_TRAIL: "trail price or trail percent must be positive",
    RejectReason.UNKNOWN_SYMBOL: "no such symbol",
    RejectReason.DUPLICATE_ORDER_ID: "order id already used",
    RejectReason.TRAIL_NOT_ALLOWED: "only a trailing stop takes a trail",
    RejectReason.REPLACE_NOTHING_TO_CHANGE: "replace must change price, quantity or stop price",
    RejectReason.UNKNOWN_ORDER: "no such order",
    RejectReason.ORDER_NOT_LIVE: "no live order with this id in this book",
    RejectReason.FOK_NOT_FILLABLE: "fill-or-kill order cannot be filled in full",
    RejectReason.REPLACE_QTY_NOT_ABOVE_FILLED: "new quantity must exceed the quantity filled",
    RejectReason.ACCOUNT_MISMATCH: "order belongs to another account",
}
