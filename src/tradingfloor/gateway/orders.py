"""Orders between the API and the engine: a request becomes a command, events become the
answer (through the domain's order-state reducer, as every reader of orders)."""

from tradingfloor.domain.commands import PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    Event,
    OrderRejected,
    OrderReplaced,
    OrderResubmitted,
    ReplaceRejected,
    TradeExecuted,
)
from tradingfloor.domain.ids import CLIENT_ORDER_ID_LENGTH_MAX, is_client_order_id, is_symbol
from tradingfloor.domain.order_state import OrderState, OrderStates
from tradingfloor.domain.prices import (
    CENT,
    PRICE_SCALE,
    PriceFormatError,
    format_optional_price,
    format_price,
    parse_decimal,
    parse_price,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway.order_legs import with_legs
from tradingfloor.gateway.schemas import Fill, OrderRequest, OrderView, ReplaceRequest
from tradingfloor.store.queries import FillRow

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
    _check_client_order_id(client_order_id)
    trail_bps = _bps_of(request.trail_percent)
    notional = _notional_of(request)
    command = PlaceOrder(
        0,
        account,
        request.symbol,
        SIDES[request.side],
        TYPES[request.type],
        request.qty or 0,
        price_of("limit_price", request.limit_price),
        price_of("stop_price", request.stop_price),
        TIFS[request.time_in_force],
        price_of("trail_price", request.trail_price),
        trail_bps,
        None,
        client_order_id or "",
        fraction=request.fraction,
        notional=notional,
    )
    take_profit, stop_loss = request.take_profit, request.stop_loss
    if request.order_class == "simple" and take_profit is None and stop_loss is None:
        return command
    return with_legs(
        command,
        request.order_class,
        None if take_profit is None else price_of("take_profit", take_profit.limit_price),
        None if stop_loss is None else price_of("stop_loss", stop_loss.stop_price),
        None if stop_loss is None else price_of("stop_loss", stop_loss.limit_price),
    )


def _notional_of(request: OrderRequest) -> int | None:
    """A notional order's cash in price units (whole cents); checks that the request asks
    shares or cash, one of them."""
    if request.notional is None:
        if request.qty is None and not request.fraction:
            raise RequestError("qty", "qty: required (or fraction, or notional)")
        return None
    if request.qty is not None or request.fraction:
        raise RequestError("notional", "notional: give qty or notional, not both")
    notional = price_of("notional", request.notional)
    if not notional or notional % CENT:
        raise RequestError("notional", "notional: a positive amount in whole cents")
    return notional


def _bps_of(trail_percent: str | None) -> int | None:
    """A trail in percent (two decimals at most) as basis points."""
    if trail_percent is None:
        return None
    try:
        bps = parse_decimal(trail_percent) * 100
    except PriceFormatError as error:
        raise RequestError("trail_percent", f"trail_percent: {error}") from error
    if bps != bps.to_integral_value():
        raise RequestError("trail_percent", "trail_percent: at most two decimals")
    return int(bps)


REPLACE_TERMS = ("qty", "limit_price", "stop_price", "time_in_force", "trail_price")
"""The terms a replace changes (`trail_percent` as `trail_price`): at least one."""


def replace_command(
    request: ReplaceRequest, order_id: int, symbol: str, account: str
) -> ReplaceOrder:
    """The command for a replace; the replacement answers to the client order id the request
    names, or to none (never to its predecessor's)."""
    terms = [getattr(request, name) for name in REPLACE_TERMS]
    if all(term is None for term in terms) and request.trail_percent is None:
        raise RequestError("qty", f"give at least one of {', '.join(REPLACE_TERMS)}")
    _check_client_order_id(request.client_order_id)
    tif = request.time_in_force
    return ReplaceOrder(
        order_id,
        0,
        symbol,
        account,
        request.qty,
        price_of("limit_price", request.limit_price),
        price_of("stop_price", request.stop_price),
        request.client_order_id or "",
        None if tif is None else TIFS[tif],
        price_of("trail_price", request.trail_price),
        _bps_of(request.trail_percent),
    )


def _check_client_order_id(client_order_id: str | None) -> None:
    if client_order_id is not None and not is_client_order_id(client_order_id):
        raise RequestError(
            "client_order_id",
            f"client_order_id: 1 to {CLIENT_ORDER_ID_LENGTH_MAX} visible ASCII characters",
        )


def state_after(
    order_id: int, events: list[Event]
) -> tuple[OrderState | None, list[Fill], RejectReason | None]:
    """The order `order_id` as its command's events leave it, and the fills they gave it:
    (state, fills, None), or (None, [], reason) if it was refused. (None, [], None) when the
    events do not make it (a replacement, or a resubmission: see `resubmission_of`)."""
    states = OrderStates()
    fills: list[Fill] = []
    for event in events:
        if isinstance(event, OrderRejected | ReplaceRejected) and event.order_id == order_id:
            return None, [], event.reason
        states.apply(event)
        if type(event) is TradeExecuted:
            trade = event
            if order_id in (trade.maker_order_id, trade.taker_order_id):
                maker = trade.maker_order_id == order_id
                fills.append(
                    Fill(
                        trade.trade_id,
                        format_price(trade.price),
                        trade.qty,
                        format_price(trade.maker_fee if maker else trade.taker_fee),
                        "maker" if maker else "taker",
                    )
                )
    return states.get(order_id), fills, None


def resubmission_of(events: list[Event]) -> OrderResubmitted | None:
    """The engine's answer to a new order that repeated one entered before, if it was one."""
    for event in events:
        if type(event) is OrderResubmitted:
            return event
    return None


def view_of(state: OrderState, seq: int, fills: list[Fill]) -> OrderView:
    """An order as the answer to its entry shows it; `seq` is the command it stands after."""
    side, order_type, tif, cancel_reason = (
        state.side,
        state.order_type,
        state.tif,
        state.cancel_reason,
    )
    return OrderView(
        str(state.order_id),
        state.client_order_id or None,
        state.account,
        state.symbol,
        "" if side is None else SIDE_TEXT[side],
        "" if order_type is None else TYPE_TEXT[order_type],
        "" if tif is None else TIF_TEXT[tif],
        state.qty or 0,
        state.filled_qty,
        state.leaves_qty,
        format_optional_price(state.price),
        format_optional_price(state.stop_price),
        format_optional_price(state.average_fill_price),
        state.status.name.lower(),
        seq,
        cancel_reason=None if cancel_reason is None else cancel_reason.name.lower(),
        replaced_by=None if state.replaced_by is None else str(state.replaced_by),
        replaces=None if state.replaces is None else str(state.replaces),
        fills=fills,
        order_class=state.order_class.name.lower(),
        parent_id=None if state.parent_order_id is None else str(state.parent_order_id),
        fraction=state.fraction,
        filled_fraction=state.filled_fraction,
        notional=format_optional_price(state.notional),
    )


def stored_fill(fill: FillRow) -> Fill:
    """A fill of the read models as an answer shows it."""
    return Fill(
        fill.trade_id,
        format_price(fill.price),
        fill.qty,
        format_price(fill.fee),
        "maker" if fill.liquidity == "maker" else "taker",
    )


def replaced_answer(
    events: list[Event],
) -> tuple[OrderReplaced | None, RejectReason | None]:
    for event in events:
        if isinstance(event, ReplaceRejected):
            return None, event.reason
        if isinstance(event, OrderReplaced):
            return event, None
    return None, RejectReason.UNKNOWN_ORDER
