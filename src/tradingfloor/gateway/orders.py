"""Orders between the API and the engine: a request becomes a command, events become the
answer."""

from tradingfloor.domain.commands import PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import STOP_ORDER_TYPES, CancelReason, OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.domain.ids import CLIENT_ORDER_ID_LENGTH_MAX, is_client_order_id, is_symbol
from tradingfloor.domain.prices import (
    PRICE_SCALE,
    PriceFormatError,
    format_optional_price,
    format_price,
    parse_decimal,
    parse_price,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway.schemas import ErrorBody, Fill, OrderRequest, OrderView, ReplaceRequest

SIDES = {side.name.lower(): side for side in Side}
TYPES = {kind.name.lower(): kind for kind in OrderType}
TIFS = {tif.name.lower(): tif for tif in TimeInForce}
SIDE_TEXT = {value: key for key, value in SIDES.items()}
TYPE_TEXT = {value: key for key, value in TYPES.items()}
TIF_TEXT = {value: key for key, value in TIFS.items()}


class RequestError(ValueError):
    """A well-formed request whose values cannot be a command: a 422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


PRICE_MAX = 1_000_000_000 * PRICE_SCALE
"""$1,000,000,000: no price, stop or trail above it reaches the engine."""


def price_of(field: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        price = parse_price(text)
    except PriceFormatError as error:
        raise RequestError(field, f"{field}: {error}") from error
    if price > PRICE_MAX:
        raise RequestError(field, f"{field}: above the maximum of $1,000,000,000")
    return price


def place_command(request: OrderRequest, account: str) -> PlaceOrder:
    """The command for a new order; the sequencer gives it its order id."""
    if not is_symbol(request.symbol):
        raise RequestError("symbol", f"symbol: not a symbol: {request.symbol[:32]!r}")
    client_order_id = request.client_order_id
    if client_order_id is not None and not is_client_order_id(client_order_id):
        raise RequestError(
            "client_order_id",
            f"client_order_id: 1 to {CLIENT_ORDER_ID_LENGTH_MAX} visible ASCII characters",
        )
    trail_bps = None
    if request.trail_percent is not None:
        try:
            bps = parse_decimal(request.trail_percent) * 100
        except PriceFormatError as error:
            raise RequestError("trail_percent", f"trail_percent: {error}") from error
        if bps != bps.to_integral_value():
            raise RequestError("trail_percent", "trail_percent: at most two decimals")
        trail_bps = int(bps)
    return PlaceOrder(
        0,
        account,
        request.symbol,
        SIDES[request.side],
        TYPES[request.type],
        request.qty,
        price_of("limit_price", request.limit_price),
        price_of("stop_price", request.stop_price),
        TIFS[request.time_in_force],
        price_of("trail_price", request.trail_price),
        trail_bps,
        None,
        client_order_id or "",
    )


def replace_command(
    request: ReplaceRequest, order_id: int, symbol: str, account: str
) -> ReplaceOrder:
    if request.qty is None and request.limit_price is None and request.stop_price is None:
        raise RequestError("qty", "give at least one of qty, limit_price, stop_price")
    return ReplaceOrder(
        order_id,
        0,
        symbol,
        account,
        request.qty,
        price_of("limit_price", request.limit_price),
        price_of("stop_price", request.stop_price),
    )


def answer_of(
    order_id: int, seq: int, events: list[Event]
) -> tuple[OrderView | None, RejectReason | None]:
    """The order as it stands after its command: (view, None), or (None, reason) if refused."""
    view: OrderView | None = None
    notional = 0
    for event in events:
        if isinstance(event, OrderRejected) and event.order_id == order_id:
            return None, event.reason
        if isinstance(event, ReplaceRejected) and event.order_id == order_id:
            return None, event.reason
        if isinstance(event, OrderAccepted) and event.order_id == order_id:
            view = OrderView(
                str(order_id),
                event.client_order_id or None,
                event.account,
                event.symbol,
                SIDE_TEXT[event.side],
                TYPE_TEXT[event.order_type],
                TIF_TEXT[event.tif],
                event.qty,
                0,
                event.qty,
                format_optional_price(event.price),
                format_optional_price(event.stop_price),
                None,
                "pending_trigger" if event.order_type in STOP_ORDER_TYPES else "new",
                seq,
            )
        elif view is None:
            continue
        elif isinstance(event, StopTriggered) and event.order_id == order_id:
            view.status = "new"
        elif isinstance(event, TradeExecuted) and order_id in (
            event.maker_order_id,
            event.taker_order_id,
        ):
            maker = event.maker_order_id == order_id
            view.filled_qty += event.qty
            view.leaves_qty = event.maker_leaves if maker else event.taker_leaves
            notional += event.qty * event.price
            view.avg_fill_price = format_price(notional // view.filled_qty)
            view.status = "filled" if view.leaves_qty == 0 else "partially_filled"
            view.fills.append(
                Fill(
                    event.trade_id,
                    format_price(event.price),
                    event.qty,
                    format_price(event.maker_fee if maker else event.taker_fee),
                    "maker" if maker else "taker",
                )
            )
        elif isinstance(event, OrderCanceled) and event.order_id == order_id:
            view.leaves_qty = event.leaves
            if event.leaves == 0:
                view.status = "canceled"
                view.cancel_reason = CancelReason(event.reason).name.lower()
    return view, None


def replaced_answer(
    events: list[Event],
) -> tuple[OrderReplaced | None, RejectReason | None]:
    for event in events:
        if isinstance(event, ReplaceRejected):
            return None, event.reason
        if isinstance(event, OrderReplaced):
            return event, None
    return None, RejectReason.UNKNOWN_ORDER


def error_body(reason: RejectReason) -> ErrorBody:
    return ErrorBody(int(reason), reason.message)
