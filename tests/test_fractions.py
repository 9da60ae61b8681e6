"""Fractional and notional orders in the pure engine: the whole shares trade on the book, the
fraction against the fractional desk at their execution price, exact to the price unit, the
ledger checked after every command (risk_helpers) and its postings replayed."""

from typing import Any

import msgspec
import pytest

from risk_helpers import DOLLAR, Market, rejection
from tradingfloor.domain.commands import (
    AnnounceCorporateAction,
    CancelOrder,
    CloseDay,
    ConfigureRisk,
    ExpireOrders,
    PlaceOrder,
    ReplaceOrder,
    SetAccountStatus,
)
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import (
    AccountStatus,
    CancelReason,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    DividendEntitled,
    Event,
    FractionAttached,
    FractionCanceled,
    FractionFilled,
    OrderAccepted,
    ReplaceRejected,
    StockSplitApplied,
    TradeExecuted,
)
from tradingfloor.domain.fractions import NANO, fraction_value
from tradingfloor.domain.order_state import OrderStates
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.risk.calendar import ts_at

BUY, SELL = Side.BUY, Side.SELL
DAY = TimeInForce.DAY
HALF = NANO // 2


def market(desk: str = "desk") -> Market:
    """XYZ at $100; alice and bob have cash, bob and carol settled shares; the desk both."""
    m = Market(settings=RiskSettings(fractional_desk_account=desk))
    m.listing("XYZ", 100 * DOLLAR)
    m.account("desk", cash=10_000 * DOLLAR, shares={"XYZ": 10})
    m.account("alice", cash=10_000 * DOLLAR)
    m.account("bob", cash=10_000 * DOLLAR, shares={"XYZ": 100})
    m.account("carol", cash=10_000 * DOLLAR, shares={"XYZ": 100})
    return m


def fractional(
    m: Market,
    account: str,
    side: Side,
    qty: int,
    fraction: int,
    price: int | None = None,
    **terms: Any,
) -> tuple[int, list[Event]]:
    terms.setdefault("tif", DAY)
    return m.order(account, side, qty, price, fraction=fraction, **terms)


def of(events: list[Event], kind: type) -> list[Any]:
    return [event for event in events if type(event) is kind]


def order_state(m: Market, order_id: int):  # type: ignore[no-untyped-def]
    orders = OrderStates()
    for event in m.events:
        orders.apply(event)
    return orders.get(order_id)


def test_whole_shares_trade_on_the_book_and_the_fraction_at_their_price() -> None:
    m = market()
    m.order("bob", SELL, 10, 101 * DOLLAR)
    order_id, events = fractional(m, "alice", BUY, 2, HALF, 102 * DOLLAR)
    assert [type(e) for e in events] == [
        OrderAccepted,
        FractionAttached,
        TradeExecuted,
        FractionFilled,
    ]
    trade, filled = events[2], events[3]
    assert trade.qty == 2 and trade.price == 101 * DOLLAR
    assert (filled.price, filled.fraction, filled.value) == (101 * DOLLAR, HALF, 505_000)
    alice, desk = m.position("alice"), m.position("desk")
    assert (alice.qty, alice.fraction, alice.cost) == (2, HALF, 252 * DOLLAR + 5_000)
    assert (desk.qty, desk.fraction) == (9, HALF)  # the desk broke a share
    assert (filled.account_whole, filled.desk_whole) == (0, -1)
    state = order_state(m, order_id)
    assert state.status == OrderStatus.FILLED
    assert (state.filled_qty, state.filled_fraction) == (2, HALF)
    assert state.average_fill_price == 101 * DOLLAR
    assert m.summary("alice").held == 0
    assert m.check_postings() > 0


def test_fraction_waits_for_every_whole_share() -> None:
    m = market()
    m.order("bob", SELL, 1, 100 * DOLLAR)
    order_id, events = fractional(m, "alice", BUY, 2, NANO // 4, 100 * DOLLAR)
    assert not of(events, FractionFilled)
    assert order_state(m, order_id).status == OrderStatus.PARTIALLY_FILLED
    held = m.summary("alice").held
    assert held >= 100 * DOLLAR + 25 * DOLLAR  # the last share and the quarter
    _, events = m.order("carol", SELL, 5, 99 * DOLLAR)
    (filled,) = of(events, FractionFilled)
    assert filled.price == 100 * DOLLAR  # the last whole share's price (the resting buy's)
    assert order_state(m, order_id).status == OrderStatus.FILLED
    assert m.summary("alice").held == 0
    m.check_postings()


def test_a_fraction_passing_a_whole_share_makes_one() -> None:
    m = market()
    m.order("bob", SELL, 10, 100 * DOLLAR)
    for _ in range(3):
        _, events = fractional(m, "alice", BUY, 0, 400_000_000, None, order_type=OrderType.MARKET)
        assert of(events, FractionFilled), events
    alice = m.position("alice")
    assert (alice.qty, alice.fraction) == (1, 200_000_000)
    assert alice.cost == 3 * fraction_value(400_000_000, 100 * DOLLAR)
    m.check_postings()


def test_below_one_share_fills_at_once_at_the_best_price_within_its_limit() -> None:
    m = market()
    m.order("bob", SELL, 10, 100 * DOLLAR)
    order_id, events = fractional(m, "alice", BUY, 0, 123_456_789, 105 * DOLLAR)
    assert [type(e) for e in events] == [OrderAccepted, FractionAttached, FractionFilled]
    assert events[0].qty == 0
    assert events[2].price == 100 * DOLLAR and events[2].value == 123_457  # $12.3457
    assert order_state(m, order_id).status == OrderStatus.FILLED
    assert not of(m.events, TradeExecuted)  # nothing reached the book


def test_below_one_share_limit_waits_for_a_trade_through_it() -> None:
    m = market()
    m.order("bob", SELL, 10, 100 * DOLLAR)
    order_id, events = fractional(m, "alice", BUY, 0, HALF, 99 * DOLLAR)
    assert not of(events, FractionFilled)
    state = order_state(m, order_id)
    assert state.status == OrderStatus.NEW and state.fraction == HALF
    assert m.summary("alice").held == 49 * DOLLAR + 5_000
    m.order("carol", BUY, 1, 100 * DOLLAR)  # trades at 100: above the limit
    assert not of(m.events, FractionFilled)
    m.order("carol", SELL, 1, 98 * DOLLAR)  # a resting buy needed: carol's own rests first
    m.order("bob", SELL, 3, 98 * DOLLAR)
    m.order("carol", BUY, 2, 98 * DOLLAR)
    (filled,) = of(m.events, FractionFilled)
    assert filled.order_id == order_id and filled.price <= 99 * DOLLAR
    assert m.summary("alice").held == 0


def test_cancel_and_expiry_release_a_waiting_fraction() -> None:
    m = market()
    first, _ = fractional(m, "alice", BUY, 0, HALF, 90 * DOLLAR)
    second, _ = fractional(m, "alice", BUY, 0, HALF, 90 * DOLLAR)
    events = m.do(CancelOrder(first, "XYZ", "alice"))
    assert [(type(e), e.reason) for e in events] == [(FractionCanceled, CancelReason.REQUESTED)]
    events = m.do(ExpireOrders())
    assert [(type(e), e.reason) for e in events] == [(FractionCanceled, CancelReason.SESSION_END)]
    assert order_state(m, first).status == OrderStatus.CANCELED
    assert order_state(m, second).status == OrderStatus.EXPIRED
    assert m.summary("alice").held == 0


def test_whole_part_canceled_takes_the_fraction_with_it() -> None:
    m = market()
    m.order("bob", SELL, 1, 100 * DOLLAR)
    order_id, _ = fractional(m, "alice", BUY, 3, HALF, 100 * DOLLAR)
    m.do(CancelOrder(order_id, "XYZ", "alice"))
    state = order_state(m, order_id)
    assert state.status == OrderStatus.CANCELED and state.filled_qty == 1
    assert state.filled_fraction == 0
    assert m.summary("alice").held == 0
    assert not m.engine.fractions.orders


def test_market_below_one_share_without_a_price_ends() -> None:
    m = market()
    order_id, events = fractional(m, "alice", BUY, 0, HALF, None, order_type=OrderType.MARKET)
    (canceled,) = of(events, FractionCanceled)
    assert canceled.reason == CancelReason.MARKET_NO_LIQUIDITY
    assert order_state(m, order_id).status == OrderStatus.CANCELED
    assert m.summary("alice").held == 0


def test_selling_a_fraction_breaks_a_settled_share_only() -> None:
    m = market()
    m.order("carol", BUY, 1, 99 * DOLLAR)  # a bid for the desk's price
    _, events = fractional(m, "bob", SELL, 0, 300_000_000, None, order_type=OrderType.MARKET)
    (filled,) = of(events, FractionFilled)
    assert filled.price == 99 * DOLLAR and filled.account_whole == -1
    bob = m.position("bob")
    assert (bob.qty, bob.fraction) == (99, 700_000_000)
    assert m.position("desk").fraction == 300_000_000
    # shares bought today are not settled: a fraction cannot break one of them
    m.order("bob", SELL, 5, 100 * DOLLAR)
    m.order("alice", BUY, 1, 100 * DOLLAR)
    _, events = fractional(m, "alice", SELL, 0, HALF, None, order_type=OrderType.MARKET)
    (canceled,) = of(events, FractionCanceled)
    assert canceled.reason == CancelReason.FRACTION_UNSETTLED
    assert m.position("alice").fraction_held == 0
    m.check_postings()


def test_notional_orders_are_sized_at_the_best_price() -> None:
    m = market()
    m.order("bob", SELL, 10, 95 * DOLLAR)
    order_id, events = m.order(
        "alice", BUY, 0, None, order_type=OrderType.MARKET, tif=DAY, notional=250 * DOLLAR
    )
    (attached,) = of(events, FractionAttached)  # 250 / 95 = 2.631578947 shares
    assert (attached.fraction, attached.notional) == (631_578_947, 250 * DOLLAR)
    assert events[0].qty == 2
    state = order_state(m, order_id)
    assert state.status == OrderStatus.FILLED and state.notional == 250 * DOLLAR
    assert m.summary("alice").cash == 10_000 * DOLLAR - 250 * DOLLAR


@pytest.mark.parametrize(
    ("terms", "reason"),
    [
        ({"tif": TimeInForce.GTC}, RejectReason.FRACTIONAL_TERMS),
        ({"order_type": OrderType.STOP, "stop_price": 90 * DOLLAR}, RejectReason.FRACTIONAL_TERMS),
        ({"fraction": NANO}, RejectReason.INVALID_FRACTION),
        ({"fraction": -1}, RejectReason.INVALID_FRACTION),
        ({"qty": 1_000}, RejectReason.INSUFFICIENT_BUYING_POWER),
        ({"side": SELL}, RejectReason.INSUFFICIENT_SHARES),
        ({"symbol": "NOPE"}, RejectReason.UNKNOWN_SYMBOL),
        ({"notional": 100 * DOLLAR, "fraction": 0, "qty": 0}, RejectReason.FRACTIONAL_TERMS),
    ],
)
def test_refusals_name_their_reason_and_hold_nothing(
    terms: dict[str, Any], reason: RejectReason
) -> None:
    m = market()
    command: dict[str, Any] = {
        "qty": 1,
        "fraction": HALF,
        "price": 100 * DOLLAR,
        "order_type": OrderType.LIMIT,
        "side": BUY,
        "symbol": "XYZ",
        "tif": DAY,
    }
    command.update(terms)
    if command.get("notional") is not None:
        command["price"] = None
    m.order_id += 1
    side, symbol, order_type = (
        command.pop("side"),
        command.pop("symbol"),
        command.pop("order_type"),
    )
    qty = command.pop("qty")
    placed = PlaceOrder(m.order_id, "alice", symbol, side, order_type, qty, **command)
    before = m.engine.state_hash()
    events = m.do(placed)
    assert rejection(events) == reason
    state = order_state(m, m.order_id)
    assert state.status == OrderStatus.REJECTED and state.fraction == command.get("fraction", 0)
    assert m.summary("alice").held == 0 and not m.engine.fractions.orders
    assert m.engine.state_hash() != before  # only the order id is used up
    assert m.engine.last_order_id == m.order_id


def test_no_desk_no_fractions() -> None:
    m = market(desk="")
    _, events = fractional(m, "alice", BUY, 1, HALF, 100 * DOLLAR)
    assert rejection(events) == RejectReason.FRACTIONAL_NOT_OFFERED


def test_fractional_orders_cannot_be_replaced_and_fractions_held_guard_whole_sells() -> None:
    m = market()
    order_id, _ = fractional(m, "bob", SELL, 99, 600_000_000, 120 * DOLLAR)
    m.order_id += 1
    events = m.do(ReplaceOrder(order_id, m.order_id, "XYZ", "bob", price=121 * DOLLAR))
    assert of(events, ReplaceRejected)[0].reason == RejectReason.FRACTIONAL_NOT_REPLACEABLE
    # 99 shares and 0.6 held of 100: the one share left is held in part
    _, events = m.order("bob", SELL, 1, 130 * DOLLAR)
    assert rejection(events) == RejectReason.INSUFFICIENT_SHARES
    _, events = fractional(m, "bob", SELL, 0, 400_000_000, 130 * DOLLAR)
    assert rejection(events) is None


def test_snapshot_and_replay_keep_waiting_fractions() -> None:
    m = market()
    m.order("bob", SELL, 1, 100 * DOLLAR)
    fractional(m, "alice", BUY, 2, HALF, 100 * DOLLAR)
    fractional(m, "alice", BUY, 0, HALF, 90 * DOLLAR)
    restored = Engine.restore(m.engine.snapshot())
    assert restored.state_hash() == m.engine.state_hash()
    assert msgspec.structs.asdict(restored.fractions.export_state()) == msgspec.structs.asdict(
        m.engine.fractions.export_state()
    )
    m.order_id += 1
    command = PlaceOrder(m.order_id, "carol", "XYZ", SELL, OrderType.LIMIT, 5, 100 * DOLLAR)
    again = restored.apply(command, m.seq + 1, m.ts)
    events = m.do(command)
    assert again == events and len(of(events, FractionFilled)) == 1
    assert restored.state_hash() == m.engine.state_hash()


def test_corporate_actions_carry_fractions() -> None:
    """A split of one share into two scales a fraction exactly, a symbol change renames it,
    a dividend pays it its share, a reverse split pays it in lieu; orders waiting for their
    fraction (day orders) have expired at the close before any of them."""
    m = Market(settings=RiskSettings(fractional_desk_account="desk"))
    m.ts = ts_at("2026-11-24 10:00")
    m.listing("XYZ", 100 * DOLLAR)
    m.account("desk", cash=10_000 * DOLLAR, shares={"XYZ": 10})
    m.account("alice", cash=10_000 * DOLLAR)
    m.account("bob", cash=0, shares={"XYZ": 10})
    m.order("bob", SELL, 10, 100 * DOLLAR)
    fractional(m, "alice", BUY, 2, NANO // 4, 100 * DOLLAR)
    waiting, _ = fractional(m, "alice", BUY, 0, HALF, 95 * DOLLAR)
    for action in (
        StockSplit("two-for-one", "XYZ", 1, 2, "2026-11-25"),
        SymbolChange("rename", "XYZ", "XYZN", "2026-11-27"),
    ):
        assert rejection(m.do(AnnounceCorporateAction(action))) is None

    m.ts = ts_at("2026-11-24 17:00")
    events = m.do(CloseDay("2026-11-24"))
    (canceled,) = of(events, FractionCanceled)
    assert (canceled.order_id, canceled.reason) == (waiting, CancelReason.SESSION_END)
    assert (m.position("alice").qty, m.position("alice").fraction) == (4, HALF)
    assert (m.position("desk").qty, m.position("desk").fraction) == (19, HALF)
    assert m.summary("alice").held == 0

    m.ts = ts_at("2026-11-25 17:00")
    m.do(CloseDay("2026-11-25"))
    assert m.position("alice", "XYZN").fraction == HALF
    for action in (
        CashDividend("dividend", "XYZN", 1_000, "2026-12-01", "2026-12-03"),
        StockSplit("one-for-four", "XYZN", 4, 1, "2026-12-02"),
    ):
        assert rejection(m.do(AnnounceCorporateAction(action))) is None

    events = []
    for day in ("2026-11-27", "2026-11-30", "2026-12-01"):
        m.ts = ts_at(f"{day} 17:00")
        events.extend(m.do(CloseDay(day)))
    entitled = {e.account: e.amount for e in of(events, DividendEntitled)}
    assert entitled["alice"] == 4 * 1_000 + 500  # 4.5 shares at $0.10
    applied = {e.account: e for e in of(events, StockSplitApplied)}
    alice = applied["alice"]  # 4.5 shares are 1.125 new ones: 1 kept, 0.125 in lieu
    assert (alice.old_qty, alice.old_fraction, alice.new_qty, alice.new_fraction) == (
        4,
        HALF,
        1,
        0,
    )
    assert alice.cash_in_lieu > 0
    assert m.position("alice", "XYZN").fraction == 0
    assert m.check_postings() > 0


def test_orders_below_a_share_count_among_the_open_orders() -> None:
    """They wait outside the book, but count against `open_orders_per_symbol_max` as any
    open order does (a client cannot pile them up)."""
    m = Market(settings=RiskSettings(fractional_desk_account="desk", open_orders_per_symbol_max=2))
    m.listing("XYZ", 100 * DOLLAR)
    m.account("desk", cash=10_000 * DOLLAR, shares={"XYZ": 10})
    m.account("alice", cash=10_000 * DOLLAR)
    first, _ = fractional(m, "alice", BUY, 0, HALF, 95 * DOLLAR)
    fractional(m, "alice", BUY, 0, HALF, 95 * DOLLAR)
    assert m.summary("alice").open_orders == 2
    _, events = fractional(m, "alice", BUY, 0, HALF, 95 * DOLLAR)
    assert rejection(events) == RejectReason.OPEN_ORDERS_ABOVE_MAX
    _, events = m.order("alice", BUY, 1, 95 * DOLLAR)
    assert rejection(events) == RejectReason.OPEN_ORDERS_ABOVE_MAX
    m.do(CancelOrder(first, "XYZ", "alice"))
    assert m.summary("alice").open_orders == 1
    _, events = fractional(m, "alice", BUY, 0, HALF, 95 * DOLLAR)
    assert rejection(events) is None


def test_the_kill_switch_ends_orders_below_a_share_and_a_blocked_desk_takes_none() -> None:
    m = market()
    waiting, _ = fractional(m, "alice", BUY, 0, HALF, 95 * DOLLAR)
    resting, _ = fractional(m, "alice", BUY, 1, HALF, 95 * DOLLAR)
    events = m.do(SetAccountStatus("alice", AccountStatus.BLOCKED))
    ended = {e.order_id: e.reason for e in of(events, FractionCanceled)}
    assert ended == {waiting: CancelReason.KILL_SWITCH}
    assert order_state(m, resting).status == OrderStatus.CANCELED
    assert m.summary("alice").held == 0 and not m.engine.fractions.orders

    below, _ = fractional(m, "carol", BUY, 0, HALF, 100 * DOLLAR)
    m.do(SetAccountStatus("desk", AccountStatus.BLOCKED))
    _, events = fractional(m, "carol", BUY, 0, HALF, 100 * DOLLAR)
    assert rejection(events) == RejectReason.FRACTIONAL_NOT_OFFERED
    m.order("bob", SELL, 1, 100 * DOLLAR)
    _, events = m.order("carol", BUY, 1, 100 * DOLLAR)  # trades at the waiting limit
    (canceled,) = of(events, FractionCanceled)
    assert (canceled.order_id, canceled.reason) == (below, CancelReason.FRACTIONAL_DESK)


def test_whole_shares_sold_take_their_part_of_a_fractional_positions_basis() -> None:
    m = market()
    m.order("bob", SELL, 2, 100 * DOLLAR)
    fractional(m, "alice", BUY, 2, HALF, 100 * DOLLAR)  # 2.5 shares for $250
    assert m.position("alice").cost == 250 * DOLLAR
    m.order("carol", BUY, 2, 110 * DOLLAR)
    _, events = m.order("alice", SELL, 2, 110 * DOLLAR, tif=DAY)
    assert of(events, TradeExecuted)
    alice = m.position("alice")
    assert (alice.qty, alice.fraction, alice.cost) == (0, HALF, 50 * DOLLAR)
    assert alice.realized == 220 * DOLLAR - 200 * DOLLAR


def test_a_desk_no_longer_named_takes_no_fraction() -> None:
    m = market()
    waiting, _ = fractional(m, "alice", BUY, 0, HALF, 100 * DOLLAR)
    m.do(ConfigureRisk(RiskSettings(fractional_desk_account="")))
    m.order("bob", SELL, 1, 100 * DOLLAR)
    _, events = m.order("carol", BUY, 1, 100 * DOLLAR)
    (canceled,) = of(events, FractionCanceled)
    assert (canceled.order_id, canceled.reason) == (waiting, CancelReason.FRACTIONAL_DESK)
    assert m.summary("alice").held == 0
