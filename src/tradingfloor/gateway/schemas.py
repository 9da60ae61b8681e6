"""API schemas: what clients send and receive, apart from the domain's types.

Prices and money are decimal strings in dollars ("150.25"), never floats; quantities are
integers. Identifiers follow `domain.ids` (a pattern here is what the JSON Schema shows; the
whole-string check is `place_command`'s, since `$` in a pattern lets a final newline through).
Order-entry schemas are msgspec structs (the hot path parses with msgspec); the JSON Schema the
OpenAPI document shows for them is msgspec's own.
"""

from typing import Annotated, Literal

import msgspec

from tradingfloor.domain.ids import (
    CLIENT_ORDER_ID_LENGTH_MAX,
    CLIENT_ORDER_ID_PATTERN,
    SYMBOL_LENGTH_MAX,
    SYMBOL_PATTERN,
)

Symbol = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=SYMBOL_LENGTH_MAX, pattern=f"^{SYMBOL_PATTERN}$"),
]
DecimalText = Annotated[
    str, msgspec.Meta(max_length=24, pattern=r"^[0-9]+(\.[0-9]+)?$", examples=["150.25"])
]
Quantity = Annotated[int, msgspec.Meta(gt=0, le=1_000_000_000)]
Fraction = Annotated[int, msgspec.Meta(ge=0, le=999_999_999)]
"""Nano-shares (1e-9 share) beyond an order's whole quantity."""
ClientOrderId = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=CLIENT_ORDER_ID_LENGTH_MAX, pattern=f"^{CLIENT_ORDER_ID_PATTERN}$"
    ),
]
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)
"""What decoding a client's JSON raises: msgspec's error, or invalid UTF-8 in a bytes body."""

SideText = Literal["buy", "sell"]
TypeText = Literal["market", "limit", "stop", "stop_limit", "trailing_stop"]
TifText = Literal["day", "gtc", "ioc", "fok"]
OrderClassText = Literal["simple", "bracket", "oco", "oto"]


class TakeProfitRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The take-profit leg of a bracket, OCO or OTO order: a limit order on the other side."""

    limit_price: DecimalText


class StopLossRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The stop-loss leg: a stop order on the other side, a stop-limit with `limit_price`."""

    stop_price: DecimalText
    limit_price: DecimalText | None = None


class OrderRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A new order. `qty` whole shares and `fraction` nano-shares (1e-9 share) beyond them
    (a fractional order: market or limit, day), or `notional` dollars instead (a market day
    order, sized at the other side's best price): the whole shares trade on the book, the
    fraction with the platform's fractional desk."""

    symbol: Symbol
    side: SideText
    type: TypeText
    qty: Quantity | None = None
    time_in_force: TifText = "day"
    limit_price: DecimalText | None = None
    stop_price: DecimalText | None = None
    trail_price: DecimalText | None = None
    trail_percent: DecimalText | None = None
    client_order_id: ClientOrderId | None = None
    order_class: OrderClassText = "simple"
    """bracket: this order is the entry of a take-profit and a stop-loss; oto: of one of
    them; oco: this order (a sell limit at the take-profit's price) is the take-profit, the
    stop-loss its leg. The legs are answered in `legs`."""
    take_profit: TakeProfitRequest | None = None
    stop_loss: StopLossRequest | None = None
    fraction: Fraction = 0
    notional: DecimalText | None = None


class ReplaceRequest(msgspec.Struct, forbid_unknown_fields=True):
    """New terms for a live order: at least one; `qty` is the new total (fills carry over).
    The replacement is a new order: it answers to `client_order_id` if given (one not used
    before), else to none. A trailing stop's trail changes in the kind it was placed with
    (`trail_price` or `trail_percent`)."""

    qty: Quantity | None = None
    limit_price: DecimalText | None = None
    stop_price: DecimalText | None = None
    client_order_id: ClientOrderId | None = None
    time_in_force: TifText | None = None
    trail_price: DecimalText | None = None
    trail_percent: DecimalText | None = None


class Fill(msgspec.Struct):
    trade_id: int
    price: str
    qty: int
    fee: str
    liquidity: Literal["maker", "taker"]


class OrderView(msgspec.Struct, omit_defaults=False):
    id: str
    client_order_id: str | None
    account: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: int
    filled_qty: int
    leaves_qty: int
    limit_price: str | None
    stop_price: str | None
    avg_fill_price: str | None
    status: str
    """new, partially_filled, filled, canceled, expired, rejected, replaced, pending_trigger"""
    seq: int
    reject: "ErrorBody | None" = None
    cancel_reason: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    fills: list[Fill] = msgspec.field(default_factory=list)
    order_class: str = "simple"
    parent_id: str | None = None
    """For a leg: its bracket, OCO or OTO order."""
    legs: "list[OrderView] | None" = None
    """For a bracket, OCO or OTO order: its legs (status `held` until its entry fills)."""
    fraction: int = 0
    """Nano-shares asked beyond `qty` (a fractional order), and those filled."""
    filled_fraction: int = 0
    notional: str | None = None
    """A notional order's amount in dollars (its `qty` and `fraction` are what it came to)."""


class ErrorBody(msgspec.Struct):
    code: int
    message: str


class ErrorDetail(msgspec.Struct):
    code: int
    message: str
    field: str | None = None
