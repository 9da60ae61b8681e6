"""Bracket, OCO and OTO orders in the pure engine: legs held until their entry fills, armed
and grown by its fills, one leg's fill taking the other down, cancels, refusals, and the
legs' shares held once. Every command is followed by the full ledger check (risk_helpers)."""

from typing import Any

import pytest

from risk_helpers import DOLLAR, Market, rejection
from tradingfloor.domain.commands import CancelOrder, ExpireOrders, ReplaceOrder
from tradingfloor.domain.enums import (
    CancelReason,
    OrderClass,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    Event,
    LegCanceled,
    LegHeld,
    LegResized,
    LegsAttached,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    TradeExecuted,
)
from tradingfloor.domain.order_state import ORDER_EVENTS, OrderStates
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.shards import leg_id
from tradingfloor.engine import Engine

BUY, SELL = Side.BUY, Side.SELL
BRACKET, OCO, OTO = OrderClass.BRACKET, OrderClass.OCO, OrderClass.OTO


def market() -> Market:
    """XYZ at $100; alice has cash, bob and carol shares and cash."""
    m = Market()
    m.listing("XYZ", 100 * DOLLAR)
    m.account("alice", cash=100_000 * DOLLAR)
    m.account("bob", cash=100_000 * DOLLAR, shares={"XYZ": 1_000})
    m.account("carol", cash=100_000 * DOLLAR, shares={"XYZ": 1_000})
    return m


def bracket(m: Market, qty: int = 10, **terms: Any) -> int:
    terms.setdefault("take_profit_price", 110 * DOLLAR)
    terms.setdefault("stop_loss_price", 90 * DOLLAR)
    order_id, events = m.order(
        "alice", BUY, qty, terms.pop("price", 100 * DOLLAR), order_class=BRACKET, **terms
    )
    assert rejection(events) is None, events
    return order_id


def states(m: Market) -> OrderStates:
    orders = OrderStates()
    for event in m.events:
        orders.apply(event)
    return orders


def of(events: list[Event], kind: type) -> list[Any]:
    return [event for event in events if type(event) is kind]


def test_bracket_legs_are_held_until_the_entry_fills() -> None:
    m = market()
    parent = bracket(m)
    take_profit, stop_loss = leg_id(parent, 0), leg_id(parent, 1)
    attached = of(m.events, LegsAttached)
    assert attached[0].leg_ids == [take_profit, stop_loss]
    held = of(m.events, LegHeld)
    assert [(h.order_id, h.side, h.order_type, h.qty) for h in held] == [
        (take_profit, SELL, OrderType.LIMIT, 10),
        (stop_loss, SELL, OrderType.STOP, 10),
    ]
    orders = states(m)
    assert orders.get(take_profit).status == OrderStatus.HELD  # type: ignore[union-attr]
    assert orders.get(stop_loss).parent_order_id == parent  # type: ignore[union-attr]
    assert orders.get(parent).order_class == BRACKET  # type: ignore[union-attr]
    book = m.engine.books["XYZ"]
    assert not book.is_live(take_profit) and not book.is_live(stop_loss)


def test_each_partial_fill_arms_the_legs_for_what_it_filled() -> None:
    m = market()
    parent = bracket(m)
    take_profit, stop_loss = leg_id(parent, 0), leg_id(parent, 1)
    _, first = m.order("bob", SELL, 4, 100 * DOLLAR)
    armed = of(first, OrderAccepted)[1:]
    assert sorted((a.order_id, a.qty) for a in armed) == [(take_profit, 4), (stop_loss, 4)]
    assert m.position("alice").held == 4  # the pair's shares held once
    _, second = m.order("bob", SELL, 6, 100 * DOLLAR)
    assert [(r.order_id, r.qty, r.leaves) for r in of(second, LegResized)] == [
        (take_profit, 10, 10),
        (stop_loss, 10, 10),
    ]
    assert m.position("alice").held == 10
    orders = states(m)
    assert orders.get(take_profit).status == OrderStatus.NEW  # type: ignore[union-attr]
    assert orders.get(stop_loss).status == OrderStatus.PENDING_TRIGGER  # type: ignore[union-attr]


def test_a_take_profit_fill_takes_the_stop_loss_down_by_as_much() -> None:
    m = market()
    parent = bracket(m)
    take_profit, stop_loss = leg_id(parent, 0), leg_id(parent, 1)
    m.order("bob", SELL, 10, 100 * DOLLAR)
    _, events = m.order("carol", BUY, 3, 110 * DOLLAR)
    cut = of(events, OrderCanceled)
    assert [(c.order_id, c.canceled_qty, c.leaves, c.reason) for c in cut] == [
        (stop_loss, 3, 7, CancelReason.CONTINGENT)
    ]
    _, events = m.order("carol", BUY, 7, 110 * DOLLAR)
    assert [(c.order_id, c.leaves) for c in of(events, OrderCanceled)] == [(stop_loss, 0)]
    orders = states(m)
    assert orders.get(take_profit).status == OrderStatus.FILLED  # type: ignore[union-attr]
    assert orders.get(stop_loss).status == OrderStatus.CANCELED  # type: ignore[union-attr]
    assert m.position("alice").qty == 0 and m.position("alice").held == 0
    assert not m.engine.order_classes.groups


def test_a_stop_loss_fill_takes_the_take_profit_down_and_draws_on_its_hold() -> None:
    m = market()
    parent = bracket(m, stop_loss_price=95 * DOLLAR)
    take_profit, stop_loss = leg_id(parent, 0), leg_id(parent, 1)
    m.order("bob", SELL, 10, 100 * DOLLAR)
    m.order("carol", BUY, 20, 94 * DOLLAR)
    m.order("bob", SELL, 1, 94 * DOLLAR)  # a trade at 94 elects the stop
    sold = [t for t in of(m.events, TradeExecuted) if t.taker_order_id == stop_loss]
    assert sum(t.qty for t in sold) == 10
    orders = states(m)
    assert orders.get(stop_loss).status == OrderStatus.FILLED  # type: ignore[union-attr]
    assert orders.get(take_profit).status == OrderStatus.CANCELED  # type: ignore[union-attr]
    assert m.position("alice").held == 0


def test_one_sweep_cannot_fill_both_legs() -> None:
    """A buy that fills the take-profit and, on its way, trades low enough to elect the
    stop-loss: the stop-loss was taken down by the take-profit's fill first."""
    m = market()
    parent = bracket(m, take_profit_price=102 * DOLLAR, stop_loss_price=99 * DOLLAR)
    take_profit, stop_loss = leg_id(parent, 0), leg_id(parent, 1)
    m.order("bob", SELL, 10, 100 * DOLLAR)
    m.order("carol", BUY, 50, 98 * DOLLAR)  # bids the stop-loss could sell into
    m.order("bob", SELL, 5, 101 * DOLLAR)
    m.order("bob", SELL, 5, 99 * DOLLAR)  # rests below the take-profit: a buy hits it first
    m.order("carol", BUY, 30, 102 * DOLLAR)
    legs = [
        t
        for t in of(m.events, TradeExecuted)
        if {t.maker_order_id, t.taker_order_id} & {take_profit, stop_loss}
    ]
    assert sum(t.qty for t in legs) == 10
    assert not m.engine.books["XYZ"].is_live(stop_loss)


def test_canceling_the_unfilled_entry_cancels_the_held_legs() -> None:
    m = market()
    parent = bracket(m)
    events = m.do(CancelOrder(parent, "XYZ", "alice"))
    canceled = of(events, LegCanceled)
    assert [c.order_id for c in canceled] == [leg_id(parent, 0), leg_id(parent, 1)]
    assert not m.engine.order_classes.groups
    orders = states(m)
    assert orders.get(leg_id(parent, 1)).status == OrderStatus.CANCELED  # type: ignore[union-attr]


def test_canceling_a_partly_filled_entry_leaves_its_legs_live() -> None:
    m = market()
    parent = bracket(m)
    m.order("bob", SELL, 4, 100 * DOLLAR)
    m.do(CancelOrder(parent, "XYZ", "alice"))
    book = m.engine.books["XYZ"]
    assert book.is_live(leg_id(parent, 0)) and book.is_live(leg_id(parent, 1))
    assert book.order_view(leg_id(parent, 0)).leaves == 4  # type: ignore[union-attr]


def test_canceling_a_live_leg_cancels_the_other_and_the_rest_of_the_entry() -> None:
    m = market()
    parent = bracket(m)
    m.order("bob", SELL, 4, 100 * DOLLAR)
    events = m.do(CancelOrder(leg_id(parent, 0), "XYZ", "alice"))
    ended = {c.order_id: c.reason for c in of(events, OrderCanceled)}
    assert ended == {
        leg_id(parent, 0): CancelReason.REQUESTED,
        leg_id(parent, 1): CancelReason.CONTINGENT,
        parent: CancelReason.CONTINGENT,
    }
    assert m.position("alice").held == 0
    assert not m.engine.order_classes.groups


def test_canceling_a_held_leg_drops_the_legs_and_keeps_the_entry() -> None:
    m = market()
    parent = bracket(m)
    events = m.do(CancelOrder(leg_id(parent, 1), "XYZ", "alice"))
    assert [c.order_id for c in of(events, LegCanceled)] == [leg_id(parent, 0), leg_id(parent, 1)]
    assert m.engine.books["XYZ"].is_live(parent)
    _, events = m.order("bob", SELL, 10, 100 * DOLLAR)
    assert of(events, OrderAccepted)[1:] == []  # a simple order now


def test_an_oto_arms_its_one_leg() -> None:
    m = market()
    order_id, _ = m.order(
        "alice", BUY, 5, 100 * DOLLAR, order_class=OTO, stop_loss_price=95 * DOLLAR
    )
    _, events = m.order("bob", SELL, 5, 100 * DOLLAR)
    armed = of(events, OrderAccepted)[1:]
    assert [(a.order_id, a.order_type, a.qty) for a in armed] == [
        (leg_id(order_id, 1), OrderType.STOP, 5)
    ]
    assert m.position("alice").held == 5


def test_an_oco_is_live_at_once_with_its_shares_held_once() -> None:
    m = market()
    order_id, events = m.order(
        "bob",
        SELL,
        100,
        110 * DOLLAR,
        order_class=OCO,
        take_profit_price=110 * DOLLAR,
        stop_loss_price=90 * DOLLAR,
        stop_loss_limit_price=89 * DOLLAR,
    )
    assert [(a.order_id, a.order_type) for a in of(events, OrderAccepted)] == [
        (leg_id(order_id, 1), OrderType.STOP_LIMIT),
        (order_id, OrderType.LIMIT),
    ]
    assert m.position("bob").held == 100
    m.order("alice", BUY, 40, 110 * DOLLAR)
    assert m.engine.books["XYZ"].order_view(leg_id(order_id, 1)).leaves == 60  # type: ignore[union-attr]
    assert m.position("bob").held == 60


def test_an_oco_beyond_the_shares_held_is_refused() -> None:
    m = market()
    _, events = m.order(
        "bob",
        SELL,
        2_000,
        110 * DOLLAR,
        order_class=OCO,
        take_profit_price=110 * DOLLAR,
        stop_loss_price=90 * DOLLAR,
    )
    assert rejection(events) == RejectReason.INSUFFICIENT_SHARES


@pytest.mark.parametrize(
    ("terms", "reason"),
    [
        ({"order_class": BRACKET, "take_profit_price": 110 * DOLLAR}, "ORDER_CLASS_LEGS"),
        (
            {"order_class": OTO, "take_profit_price": 110 * DOLLAR, "stop_loss_price": 1},
            "ORDER_CLASS_LEGS",
        ),
        (
            {
                "order_class": BRACKET,
                "take_profit_price": 110 * DOLLAR,
                "stop_loss_price": 90 * DOLLAR,
                "tif": TimeInForce.IOC,
            },
            "ORDER_CLASS_TIME_IN_FORCE",
        ),
        (
            {
                "order_class": BRACKET,
                "take_profit_price": 90 * DOLLAR,
                "stop_loss_price": 95 * DOLLAR,
            },
            "ORDER_CLASS_PRICES",
        ),
        (
            {
                "order_class": BRACKET,
                "take_profit_price": 99 * DOLLAR,
                "stop_loss_price": 90 * DOLLAR,
            },
            "ORDER_CLASS_PRICES",
        ),
        (
            {
                "order_class": BRACKET,
                "take_profit_price": 110 * DOLLAR + 1,
                "stop_loss_price": 90 * DOLLAR,
            },
            "PRICE_NOT_ON_TICK",
        ),
        (
            {"order_class": OCO, "take_profit_price": 110 * DOLLAR, "stop_loss_price": 90},
            "ORDER_CLASS_ORDER_TYPE",
        ),
        ({"stop_loss_price": 90 * DOLLAR}, "ORDER_CLASS_LEGS"),
    ],
)
def test_refusals_change_nothing(terms: dict[str, Any], reason: str) -> None:
    m = market()
    tif = terms.pop("tif", TimeInForce.GTC)
    _, events = m.order("alice", BUY, 10, 100 * DOLLAR, tif=tif, **terms)
    assert rejection(events) == RejectReason[reason]
    refused = next(event for event in events if isinstance(event, OrderRejected))
    assert (refused.side, refused.qty, refused.price, refused.tif) == (BUY, 10, 100 * DOLLAR, tif)
    assert not m.engine.order_classes.groups
    assert m.engine.books["XYZ"].live_order_count() == 0
    assert m.summary("alice").held == 0


def test_legs_are_not_replaceable() -> None:
    m = market()
    parent = bracket(m)
    events = m.do(ReplaceOrder(parent, 0, "XYZ", "alice", price=101 * DOLLAR))
    assert rejection(events) == RejectReason.LEG_NOT_REPLACEABLE


def test_day_legs_expire_with_their_session() -> None:
    m = market()
    parent = bracket(m, tif=TimeInForce.DAY)
    m.order("bob", SELL, 4, 100 * DOLLAR)
    m.do(ExpireOrders("XYZ"))
    assert m.engine.books["XYZ"].live_order_count() == 0
    assert not m.engine.order_classes.groups
    assert m.position("alice").held == 0
    assert states(m).get(leg_id(parent, 0)).status == OrderStatus.EXPIRED  # type: ignore[union-attr]


def test_a_snapshot_carries_the_groups() -> None:
    m = market()
    parent = bracket(m)
    m.order("bob", SELL, 4, 100 * DOLLAR)
    restored = Engine.restore(m.engine.snapshot())
    assert restored.state_hash() == m.engine.state_hash()
    assert restored.order_classes.groups[parent].filled == 4


def test_legs_done_before_the_entry_end_the_rest_of_it() -> None:
    """The exit has happened: more shares would have none, so the entry's rest is canceled."""
    m = market()
    parent = bracket(m)
    m.order("bob", SELL, 4, 100 * DOLLAR)
    _, events = m.order("carol", BUY, 4, 110 * DOLLAR)
    ended = {c.order_id: (c.canceled_qty, c.reason) for c in of(events, OrderCanceled)}
    assert ended == {
        leg_id(parent, 1): (4, CancelReason.CONTINGENT),
        parent: (6, CancelReason.CONTINGENT),
    }
    assert not m.engine.order_classes.groups
    assert m.summary("alice").held == 0


def test_legs_grow_after_a_partial_exit_by_what_the_entry_filled_since() -> None:
    m = market()
    parent = bracket(m)
    take_profit, stop_loss = leg_id(parent, 0), leg_id(parent, 1)
    m.order("bob", SELL, 4, 100 * DOLLAR)
    m.order("carol", BUY, 3, 110 * DOLLAR)  # the take-profit sells 3 of the 4
    _, events = m.order("bob", SELL, 5, 100 * DOLLAR)
    assert [(r.order_id, r.leaves) for r in of(events, LegResized)] == [
        (take_profit, 6),
        (stop_loss, 6),
    ]
    orders = states(m)
    assert orders.get(stop_loss).qty == 6  # type: ignore[union-attr]  # cut to 1, grown by 5
    assert orders.get(take_profit).qty == 9  # type: ignore[union-attr]  # 3 sold, 6 open
    assert m.position("alice").qty == 6 and m.position("alice").held == 6


def test_an_oto_take_profit_alone() -> None:
    m = market()
    order_id, _ = m.order(
        "alice", BUY, 5, 100 * DOLLAR, order_class=OTO, take_profit_price=105 * DOLLAR
    )
    m.order("bob", SELL, 5, 100 * DOLLAR)
    _, events = m.order("carol", BUY, 5, 105 * DOLLAR)
    assert [t.maker_order_id for t in of(events, TradeExecuted)] == [leg_id(order_id, 0)]
    assert not m.engine.order_classes.groups
    assert m.position("alice").qty == 0


def test_a_matching_only_engine_runs_brackets_too() -> None:
    from tradingfloor.domain.commands import AddInstrument, PlaceOrder
    from tradingfloor.domain.instruments import Instrument

    engine = Engine()
    engine.apply(AddInstrument(Instrument("XYZ")), 1, 1)
    engine.apply(
        PlaceOrder(
            2, "a", "XYZ", BUY, OrderType.LIMIT, 10, 100 * DOLLAR, tif=TimeInForce.GTC,
            order_class=BRACKET, take_profit_price=110 * DOLLAR, stop_loss_price=90 * DOLLAR,
        ),
        2,
        2,
    )  # fmt: skip
    out = engine.apply(PlaceOrder(3, "b", "XYZ", SELL, OrderType.LIMIT, 10, 100 * DOLLAR), 3, 3)
    assert {a.order_id for a in of(out, OrderAccepted)} == {3, leg_id(2, 0), leg_id(2, 1)}


def test_a_retry_must_repeat_the_legs_too() -> None:
    m = market()
    first = bracket(m, client_order_id="b-1")
    _, same = m.order(
        "alice", BUY, 10, 100 * DOLLAR, order_class=BRACKET, client_order_id="b-1",
        take_profit_price=110 * DOLLAR, stop_loss_price=90 * DOLLAR,
    )  # fmt: skip
    assert [e.first_order_id for e in same] == [first]  # type: ignore[attr-defined]
    _, other = m.order(
        "alice", BUY, 10, 100 * DOLLAR, order_class=BRACKET, client_order_id="b-1",
        take_profit_price=111 * DOLLAR, stop_loss_price=90 * DOLLAR,
    )  # fmt: skip
    assert rejection(other) == RejectReason.CLIENT_ORDER_ID_REUSED


def test_leg_ids_are_derived_from_their_parent_and_a_dead_leg_is_not_live() -> None:
    from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN, parent_of_leg

    for parent in (1, 12_345, 3 * ORDER_ID_SHARD_SPAN + 77):
        for which in (0, 1):
            leg = leg_id(parent, which)
            assert leg // ORDER_ID_SHARD_SPAN == parent // ORDER_ID_SHARD_SPAN  # same shard
            assert parent_of_leg(leg) == parent
    m = market()
    parent = bracket(m)
    m.do(CancelOrder(parent, "XYZ", "alice"))
    events = m.do(CancelOrder(leg_id(parent, 0), "XYZ", "alice"))
    assert rejection(events) == RejectReason.ORDER_NOT_LIVE
    events = m.do(CancelOrder(leg_id(parent + 100, 0), "XYZ", "alice"))
    assert rejection(events) == RejectReason.UNKNOWN_ORDER


def test_the_trade_updates_stream_follows_legs() -> None:
    """A leg is new on the stream when it enters the book, canceled when canceled held."""
    from tradingfloor.gateway.alpaca_stream import Listener, _updates

    m = market()
    parent = bracket(m, qty=5)
    other = bracket(m, qty=5)
    m.order("bob", SELL, 5, 100 * DOLLAR)
    m.do(CancelOrder(other, "XYZ", "alice"))
    listener = Listener("alice")
    sent = []
    for event in m.events:
        if type(event) not in ORDER_EVENTS or isinstance(event, TradeExecuted):
            continue
        if event.account != "alice":  # type: ignore[attr-defined]
            continue
        listener.apply(event)
        for name, order_id, _ in _updates(listener, event):
            state = listener.orders.get(order_id)
            if state is not None and state.parent_order_id is not None:
                sent.append((name, order_id, state.status, state.parent_order_id))
    assert sent == [
        ("new", leg_id(parent, 1), OrderStatus.PENDING_TRIGGER, parent),  # armed first
        ("new", leg_id(parent, 0), OrderStatus.NEW, parent),
        ("canceled", leg_id(other, 0), OrderStatus.CANCELED, other),
        ("canceled", leg_id(other, 1), OrderStatus.CANCELED, other),
    ]
