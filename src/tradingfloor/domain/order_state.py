"""One order's state as its events make it: the one reducer every reader of orders uses.

The answer to the client, the read models' order rows, the trade-updates stream and the
conformance runner all turn events into an order's status, quantities and average price here,
so that they cannot disagree. `evolve(state, event)` is pure: it returns the order after one
event (the same object when the event is not about it). `OrderStates` keeps many orders and
feeds each event to the ones it names.

Statuses, as the engine's matching names them: an order is `PENDING_TRIGGER` (a stop that waits),
`NEW`, `PARTIALLY_FILLED`, then done as `FILLED`, `CANCELED` (`cancel_reason` says why),
`EXPIRED` (the end of its session), `REPLACED` (`replaced_by` names its successor, which carries
its fills on) or `REJECTED` (`reject_code` says why; a refused order's event carries no terms,
so its side, type, time in force and quantity are None). A corporate action's
`OrderAdjusted` gives a live order new terms (symbol, quantity, leaves, prices) and keeps its
status (`adjusted`).

Order classes (`engine.order_classes`): `LegsAttached` gives a bracket's, OCO's or OTO's
parent its class; a leg is `HELD` from its `LegHeld` (its parent and class noted) until its
`OrderAccepted` brings it into the book (keeping its parent, class and creation), grows with
`LegResized`, and is canceled while held by `LegCanceled`. A held leg counts as open, as
Alpaca lists it among open orders.
"""

from collections.abc import Iterable

import msgspec

from tradingfloor.domain.enums import (
    STOP_ORDER_TYPES,
    CancelReason,
    OrderClass,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    Event,
    FractionAttached,
    FractionCanceled,
    FractionFilled,
    LegCanceled,
    LegHeld,
    LegResized,
    LegsAttached,
    OrderAccepted,
    OrderAdjusted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.domain.fractions import average_fill_price
from tradingfloor.domain.reasons import RejectReason

NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
PENDING_TRIGGER = OrderStatus.PENDING_TRIGGER
HELD = OrderStatus.HELD
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED, PENDING_TRIGGER, HELD})
NO_ORDER_REJECTS = frozenset(
    {RejectReason.DUPLICATE_ORDER_ID, RejectReason.CLIENT_ORDER_ID_REUSED}
)
"""Refusals that make no order: the id they name is another order's (or the client order id
is), so the refused entry must not take its place."""
_replace = msgspec.structs.replace


class OrderState(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One order. Prices and money in price units, quantities in shares, times in ns.

    `filled_notional` is the sum of qty x price over the fills (the average fill price is
    `filled_notional / filled_qty`); `leaves_qty` is what is still open. `created_*` are the
    command that made the order (for a replacement: the replace), `updated_*` the last that
    changed it. The fields are in the order of the read models' `orders` columns.
    """

    order_id: int
    account: str
    symbol: str
    side: Side | None
    order_type: OrderType | None
    tif: TimeInForce | None
    qty: int | None
    price: int | None
    stop_price: int | None
    client_order_id: str
    status: OrderStatus
    filled_qty: int
    leaves_qty: int
    filled_notional: int
    reject_code: int | None
    cancel_reason: CancelReason | None
    replaced_by: int | None
    replaces: int | None
    created_seq: int
    created_ts: int
    updated_seq: int
    updated_ts: int
    order_class: OrderClass = OrderClass.SIMPLE
    parent_order_id: int | None = None
    """The bracket, OCO or OTO order a leg belongs to; None for any other order."""
    fraction: int = 0
    """Nano-shares asked beyond the whole `qty` (`domain.fractions`)."""
    filled_fraction: int = 0
    fraction_price: int | None = None
    """The price the fractional desk filled the fraction at (None: not filled)."""
    notional: int | None = None
    """The cash a notional order asked for (None: sized in shares)."""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def average_fill_price(self) -> int | None:
        """The mean fill price, rounded down; None before the first fill."""
        return average_fill_price(
            self.filled_qty, self.filled_notional, self.filled_fraction, self.fraction_price
        )


def accepted(event: OrderAccepted) -> OrderState:
    """The order an `OrderAccepted` makes: waiting for its trigger if it is a stop."""
    seq, ts = event.seq, event.ts
    return OrderState(
        event.order_id, event.account, event.symbol, event.side, event.order_type, event.tif,
        event.qty, event.price, event.stop_price, event.client_order_id,
        PENDING_TRIGGER if event.order_type in STOP_ORDER_TYPES else NEW,
        0, event.qty, 0, None, None, None, None, seq, ts, seq, ts,
    )  # fmt: skip


def held(event: LegHeld) -> OrderState:
    """The leg a `LegHeld` makes: outside the book until its entry fills."""
    seq, ts = event.seq, event.ts
    return OrderState(
        event.order_id, event.account, event.symbol, event.side, event.order_type, event.tif,
        event.qty, event.price, event.stop_price, "", HELD, 0, 0, 0, None, None, None, None,
        seq, ts, seq, ts, event.order_class, event.parent_order_id,
    )  # fmt: skip


def leg_accepted(old: OrderState, event: OrderAccepted) -> OrderState:
    """A held leg enters the book (for what its entry filled); an OCO's live stop-loss is
    linked after its `OrderAccepted`, so this is only ever a held one."""
    made = accepted(event)
    return _replace(
        made,
        order_class=old.order_class,
        parent_order_id=old.parent_order_id,
        created_seq=old.created_seq,
        created_ts=old.created_ts,
    )


def linked(state: OrderState, event: Event) -> OrderState:
    """`LegsAttached` (a parent's class) or `LegHeld` of a leg already live (an OCO's)."""
    if type(event) is LegHeld:
        return _replace(
            state, order_class=event.order_class, parent_order_id=event.parent_order_id
        )
    return _replace(state, order_class=event.order_class)  # type: ignore[attr-defined]


def rejected(event: OrderRejected) -> OrderState | None:
    """The refused order an `OrderRejected` makes; None when the refusal makes none
    (`NO_ORDER_REJECTS`)."""
    reason = event.reason
    if reason in NO_ORDER_REJECTS:
        return None
    seq, ts = event.seq, event.ts
    return OrderState(
        event.order_id, event.account, event.symbol, event.side, event.order_type, event.tif,
        event.qty, event.price, event.stop_price, event.client_order_id, OrderStatus.REJECTED,
        0, 0, 0, int(reason), None, None, None, seq, ts, seq, ts, OrderClass.SIMPLE, None,
        event.fraction, 0, None, event.notional,
    )  # fmt: skip


def replacement(old: OrderState, event: OrderReplaced) -> OrderState:
    """The order that replaces `old`: its new terms, its fills so far, its own client order
    id (its predecessor's in records from before replacements had their own)."""
    if old.status == PENDING_TRIGGER:
        status = PENDING_TRIGGER
    else:
        status = PARTIALLY_FILLED if old.filled_qty else NEW
    client_order_id = event.client_order_id
    return _replace(
        old,
        order_id=event.new_order_id,
        qty=event.qty,
        price=event.price,
        stop_price=event.stop_price,
        client_order_id=old.client_order_id if client_order_id is None else client_order_id,
        tif=old.tif if event.tif is None else event.tif,
        status=status,
        leaves_qty=event.leaves,
        replaces=event.order_id,
        replaced_by=None,
        created_seq=event.seq,
        created_ts=event.ts,
        updated_seq=event.seq,
        updated_ts=event.ts,
    )


def evolve(state: OrderState, event: Event) -> OrderState:
    """`state` after `event`: the same object when the event does not change this order."""
    kind = type(event)
    order_id = state.order_id
    if kind is TradeExecuted:
        trade: TradeExecuted = event  # type: ignore[assignment]
        if trade.maker_order_id == order_id:
            leaves = trade.maker_leaves
        elif trade.taker_order_id == order_id:
            leaves = trade.taker_leaves
        else:
            return state
        done = not leaves and state.filled_fraction == state.fraction
        return _replace(
            state,
            filled_qty=state.filled_qty + trade.qty,
            filled_notional=state.filled_notional + trade.qty * trade.price,
            leaves_qty=leaves,
            status=FILLED if done else PARTIALLY_FILLED,
            updated_seq=trade.seq,
            updated_ts=trade.ts,
        )
    if getattr(event, "order_id", None) != order_id:
        return state
    if kind is OrderCanceled:
        canceled: OrderCanceled = event  # type: ignore[assignment]
        if canceled.leaves and canceled.reason == CancelReason.CONTINGENT:
            # a leg cut to its pair's open quantity: it is an order for that much less now
            return _replace(
                state,
                qty=None if state.qty is None else state.qty - canceled.canceled_qty,
                leaves_qty=canceled.leaves,
                updated_seq=event.seq,
                updated_ts=event.ts,
            )
        if canceled.leaves:  # a self-trade decrement of part of it: the order stays live
            return _replace(
                state, leaves_qty=canceled.leaves, updated_seq=event.seq, updated_ts=event.ts
            )
        return _replace(
            state,
            leaves_qty=0,
            status=OrderStatus.CANCELED,
            cancel_reason=canceled.reason,
            updated_seq=event.seq,
            updated_ts=event.ts,
        )
    if kind is OrderExpired:
        return _replace(
            state,
            leaves_qty=0,
            status=OrderStatus.EXPIRED,
            updated_seq=event.seq,
            updated_ts=event.ts,
        )
    if kind is StopTriggered:
        triggered: StopTriggered = event  # type: ignore[assignment]
        return _replace(
            state,
            status=PARTIALLY_FILLED if state.filled_qty else NEW,
            stop_price=triggered.stop_price,  # a trailing stop's, where it ended
            updated_seq=event.seq,
            updated_ts=event.ts,
        )
    if kind is OrderAdjusted:
        return adjusted(state, event)  # type: ignore[arg-type]
    if kind is LegResized:
        resized: LegResized = event  # type: ignore[assignment]
        grown = resized.leaves - state.leaves_qty  # a leg cut by its pair keeps its cut
        return _replace(
            state,
            qty=None if state.qty is None else state.qty + grown,
            leaves_qty=resized.leaves,
            updated_seq=event.seq,
            updated_ts=event.ts,
        )
    if kind is LegCanceled:
        return _replace(
            state,
            status=OrderStatus.CANCELED,
            cancel_reason=event.reason,  # type: ignore[attr-defined]
            updated_seq=event.seq,
            updated_ts=event.ts,
        )
    if kind is LegsAttached or kind is LegHeld:
        return linked(state, event)
    if kind is FractionAttached or kind is FractionFilled or kind is FractionCanceled:
        return fractional(state, event)
    if kind is OrderReplaced:
        return _replace(
            state,
            leaves_qty=0,
            status=OrderStatus.REPLACED,
            replaced_by=event.new_order_id,  # type: ignore[attr-defined]
            updated_seq=event.seq,
            updated_ts=event.ts,
        )
    return state


def fractional(state: OrderState, event: Event) -> OrderState:
    """A fractional order's fraction: asked (`FractionAttached`), filled by the desk, or not
    to fill (the order ends: canceled, expired at its session's end for one below a share,
    or, when its whole shares filled, filled for what they did)."""
    seq, ts = event.seq, event.ts
    kind = type(event)
    if kind is FractionAttached:
        attached: FractionAttached = event  # type: ignore[assignment]
        return _replace(state, fraction=attached.fraction, notional=attached.notional)
    if kind is FractionFilled:
        filled: FractionFilled = event  # type: ignore[assignment]
        return _replace(
            state,
            filled_fraction=filled.fraction,
            fraction_price=filled.price,
            status=FILLED,
            updated_seq=seq,
            updated_ts=ts,
        )
    canceled: FractionCanceled = event  # type: ignore[assignment]
    if canceled.reason == CancelReason.SESSION_END:
        return _replace(state, status=OrderStatus.EXPIRED, updated_seq=seq, updated_ts=ts)
    return _replace(
        state,
        status=OrderStatus.CANCELED,
        cancel_reason=canceled.reason,
        updated_seq=seq,
        updated_ts=ts,
    )


def adjusted(state: OrderState, event: OrderAdjusted) -> OrderState:
    """A live order's new terms after a corporate action: a split scales what was filled as
    it scales the quantity (in the new shares; the fills' notional stays, so the average
    fill price follows the ratio); a dividend changes its prices alone; a symbol change its
    symbol alone."""
    filled = state.filled_qty
    if state.qty and event.qty != state.qty:
        filled = filled * event.qty // state.qty
    return _replace(
        state,
        symbol=event.symbol,
        qty=event.qty,
        leaves_qty=event.leaves,
        filled_qty=filled,
        price=event.price,
        stop_price=event.stop_price,
        updated_seq=event.seq,
        updated_ts=event.ts,
    )


def order_ids_of(event: Event) -> tuple[int, ...]:
    """The orders an event changes or makes (both sides of a trade, both ends of a replace)."""
    kind = type(event)
    if kind is TradeExecuted:
        return (event.maker_order_id, event.taker_order_id)  # type: ignore[attr-defined]
    if kind is OrderReplaced:
        return (event.order_id, event.new_order_id)  # type: ignore[attr-defined]
    if kind in ORDER_EVENTS:
        return (event.order_id,)  # type: ignore[attr-defined]
    return ()


ORDER_EVENTS = frozenset(
    {
        OrderAccepted,
        OrderRejected,
        TradeExecuted,
        OrderCanceled,
        OrderExpired,
        StopTriggered,
        OrderReplaced,
        OrderAdjusted,
        LegsAttached,
        LegHeld,
        LegResized,
        LegCanceled,
        FractionAttached,
        FractionFilled,
        FractionCanceled,
    }
)
"""The events that make or change an order."""


class OrderStates:
    """Orders by id, each as its events made it. Events about orders it does not hold (made
    before it started, and not given to `add`) pass it by."""

    def __init__(self, states: Iterable[OrderState] = ()) -> None:
        self.orders: dict[int, OrderState] = {state.order_id: state for state in states}

    def add(self, state: OrderState) -> None:
        self.orders[state.order_id] = state

    def get(self, order_id: int) -> OrderState | None:
        return self.orders.get(order_id)

    def apply(self, event: Event) -> list[OrderState]:
        """Apply one event; returns the orders it made or changed, as they are after it."""
        kind = type(event)
        orders = self.orders
        made: OrderState | None = None
        if kind is OrderAccepted:
            old = orders.get(event.order_id)  # type: ignore[attr-defined]
            if old is not None and old.status == HELD:
                made = leg_accepted(old, event)  # type: ignore[arg-type]
            else:
                made = accepted(event)  # type: ignore[arg-type]
        elif kind is LegHeld and event.order_id not in orders:  # type: ignore[attr-defined]
            made = held(event)  # type: ignore[arg-type]
        elif kind is OrderRejected:
            made = rejected(event)  # type: ignore[arg-type]
        elif kind is OrderReplaced:
            old = orders.get(event.order_id)  # type: ignore[attr-defined]
            if old is None:
                return []
            made = replacement(old, event)  # type: ignore[arg-type]
            ended = orders[old.order_id] = evolve(old, event)
            orders[made.order_id] = made
            return [ended, made]
        elif kind in ORDER_EVENTS:
            changed = []
            for order_id in order_ids_of(event):
                state = orders.get(order_id)
                if state is not None:
                    after = orders[order_id] = evolve(state, event)
                    changed.append(after)
            return changed
        if made is None:
            return []
        orders[made.order_id] = made
        return [made]
