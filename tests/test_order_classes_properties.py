"""Hypothesis: random flows of brackets, OCOs and OTOs among simple orders, with partial
fills, cancels (of entries and of legs, held or live) and expiries. After every command:
the ledger's invariants hold, no leg is live beyond what its entry filled (less what its
legs sold), a pair's legs are open for the same quantity, and no group's legs ever filled
more than its entry. The journal replays to the same events and state, and from a snapshot
taken halfway to the same state."""

from typing import Any

import msgspec
from hypothesis import event as note_statistic
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_helpers import DOLLAR, Market, check_journal_replays
from tradingfloor.domain.commands import CancelOrder, Command, ExpireOrders, PlaceOrder
from tradingfloor.domain.enums import OrderClass, OrderStatus, OrderType, Side, TimeInForce
from tradingfloor.domain.events import LegResized, OrderAccepted, TradeExecuted
from tradingfloor.domain.order_state import OrderState, OrderStates
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine.check import check_postings
from tradingfloor.marketdata.levels import LevelBook

ACCOUNTS = ("alice", "bob", "carol")
CENT = DOLLAR // 100

prices = st.integers(197, 204).map(lambda halves: halves * 50 * CENT)
entries = st.fixed_dictionaries(
    {
        "kind": st.just("entry"),
        "account": st.sampled_from(ACCOUNTS),
        "order_class": st.sampled_from([OrderClass.BRACKET, OrderClass.OTO]),
        "qty": st.integers(1, 20),
        "market": st.booleans(),
        "price": st.integers(99 * 100, 101 * 100),
        "take_profit": st.integers(1, 150),
        "stop_loss": st.integers(1, 150),
        "stop_limit": st.one_of(st.none(), st.integers(0, 100)),
        "oto_leg": st.sampled_from(["take_profit", "stop_loss"]),
        "day": st.booleans(),
    }
)
ocos = st.fixed_dictionaries(
    {
        "kind": st.just("oco"),
        "account": st.sampled_from(ACCOUNTS),
        "qty": st.integers(1, 30),
        "take_profit": st.integers(1, 150),
        "stop_loss": st.integers(1, 150),
        "stop_limit": st.one_of(st.none(), st.integers(0, 100)),
    }
)
simples = st.fixed_dictionaries(
    {
        "kind": st.just("simple"),
        "account": st.sampled_from(ACCOUNTS),
        "side": st.sampled_from([Side.BUY, Side.SELL]),
        "qty": st.integers(1, 25),
        "price": prices,
        "ioc": st.sampled_from([False, False, False, True]),
    }
)
cancels = st.fixed_dictionaries({"kind": st.just("cancel"), "pick": st.integers(0, 10_000)})
expiries = st.fixed_dictionaries({"kind": st.just("expire")})
actions = st.one_of(entries, entries, ocos, simples, simples, simples, simples, cancels, expiries)


def command_of(action: dict[str, Any], order_id: int, known: list[int]) -> Command:
    kind = action["kind"]
    if kind == "cancel":
        return CancelOrder(known[action["pick"] % len(known)] if known else 1, "XYZ")
    if kind == "expire":
        return ExpireOrders("XYZ")
    account, qty = action["account"], action["qty"]
    if kind == "simple":
        tif = TimeInForce.IOC if action["ioc"] else TimeInForce.GTC
        return PlaceOrder(
            order_id, account, "XYZ", action["side"], OrderType.LIMIT, qty, action["price"],
            tif=tif,
        )  # fmt: skip
    if kind == "oco":
        take_profit = 100 * DOLLAR + action["take_profit"] * CENT
        stop_loss = 100 * DOLLAR - action["stop_loss"] * CENT
        limit = action["stop_limit"]
        return PlaceOrder(
            order_id, account, "XYZ", Side.SELL, OrderType.LIMIT, qty, take_profit,
            tif=TimeInForce.GTC, order_class=OrderClass.OCO, take_profit_price=take_profit,
            stop_loss_price=stop_loss,
            stop_loss_limit_price=None if limit is None else stop_loss - limit * CENT,
        )  # fmt: skip
    price = None if action["market"] else action["price"] * CENT
    base = price or 100 * DOLLAR
    take_profit = base + action["take_profit"] * CENT
    stop_loss = base - action["stop_loss"] * CENT
    limit = action["stop_limit"]
    stop_limit = None if limit is None else stop_loss - limit * CENT
    if action["order_class"] == OrderClass.OTO:
        if action["oto_leg"] == "take_profit":
            stop_loss, stop_limit = None, None  # type: ignore[assignment]
        else:
            take_profit = None  # type: ignore[assignment]
    return PlaceOrder(
        order_id, account, "XYZ", Side.BUY,
        OrderType.MARKET if price is None else OrderType.LIMIT, qty, price,
        tif=TimeInForce.DAY if action["day"] else TimeInForce.GTC,
        order_class=action["order_class"], take_profit_price=take_profit,
        stop_loss_price=stop_loss, stop_loss_limit_price=stop_limit,
    )  # fmt: skip


def opened(m: Market) -> None:
    """XYZ listed, three accounts with cash and shares, and a book a few lots deep."""
    m.listing("XYZ", 100 * DOLLAR)
    for account in ACCOUNTS:
        m.account(account, cash=1_000_000 * DOLLAR, shares={"XYZ": 500})
    for step in range(4):
        m.order("bob", Side.SELL, 4, 100 * DOLLAR + step * 50 * CENT)
        m.order("carol", Side.BUY, 4, 99 * DOLLAR + 50 * CENT - step * 50 * CENT)


def check_groups(orders: OrderStates, placed: dict[int, int]) -> None:
    """What the legs did, as every reader sees it, never exceeds what their entry did."""
    legs: dict[int, list[OrderState]] = {}
    for state in orders.orders.values():
        if state.parent_order_id is not None:
            legs.setdefault(state.parent_order_id, []).append(state)
    for parent_id, group in legs.items():
        parent = orders.get(parent_id)
        assert parent is not None and parent.qty is not None
        exited = sum(leg.filled_qty for leg in group)
        live = [leg.leaves_qty for leg in group if leg.status != OrderStatus.HELD and leg.is_open]
        if parent.order_class == OrderClass.OCO:  # the take-profit is the parent
            assert parent.filled_qty + exited <= placed[parent_id], (parent, group)
            if parent.is_open and live:
                assert live == [parent.leaves_qty], (parent, group)
            continue
        assert exited <= parent.filled_qty, (parent, group)
        for leg in group:
            assert leg.filled_qty + leg.leaves_qty <= parent.filled_qty, (parent, leg)
            if leg.status == OrderStatus.HELD:
                assert parent.filled_qty == 0 or exited == 0, (parent, leg)
        if len(live) == 2:
            assert live[0] == live[1], (parent, group)
        for leaves in live:
            assert leaves + exited <= parent.filled_qty, (parent, group)


@settings(max_examples=150, deadline=None)
@given(flow=st.lists(actions, min_size=10, max_size=80))
def test_random_flows_keep_legs_within_their_entries_and_replay(
    flow: list[dict[str, Any]],
) -> None:
    m = Market()
    opened(m)
    setup = m.seq
    journal: list[tuple[Command, int, int]] = []
    known: list[int] = []
    placed: dict[int, int] = {}
    """The quantity each order was accepted with."""
    halfway = b""
    orders = OrderStates()
    for event in m.events:
        orders.apply(event)
    visible = LevelBook(m.engine.books["XYZ"].instrument)  # what market data shows
    for event in m.events:
        visible.apply(event)
    visible.end_command()
    for index, action in enumerate(flow):
        m.order_id += 1
        command = command_of(action, m.order_id, known)
        out = m.do(command)  # checks the ledger and the books
        for event in out:
            visible.apply(event)
        visible.end_command()
        engine_depth = m.engine.books["XYZ"].depth()
        assert msgspec.to_builtins(visible.depth()) == msgspec.to_builtins(engine_depth)
        journal.append((command, m.seq, m.ts))
        for event in out:
            if isinstance(event, OrderAccepted):
                placed.setdefault(event.order_id, event.qty)
            for state in orders.apply(event):
                if state.order_id not in known:
                    known.append(state.order_id)
        check_groups(orders, placed)
        if index == len(flow) // 2:
            halfway = m.engine.snapshot()
    check_postings(m.engine, m.events)
    leg_fills = sum(
        1
        for e in m.events
        if isinstance(e, TradeExecuted) and max(e.maker_order_id, e.taker_order_id) > 10**12
    )
    note_statistic(f"legs filled: {'yes' if leg_fills else 'no'}")
    note_statistic(
        f"legs resized: {'yes' if any(isinstance(e, LegResized) for e in m.events) else 'no'}"
    )

    replayed = Market()
    opened(replayed)
    assert replayed.seq == setup
    check_journal_replays(m, replayed, journal, halfway)


def test_flows_trade_legs() -> None:
    """The flows reach what they are about: legs armed, grown and filled."""
    m = Market(RiskSettings())
    m.listing("XYZ", 100 * DOLLAR)
    for account in ACCOUNTS:
        m.account(account, cash=1_000_000 * DOLLAR, shares={"XYZ": 500})
    entry = {"kind": "entry", "account": "alice", "order_class": OrderClass.BRACKET, "qty": 10,
             "market": False, "price": 10_000, "take_profit": 100, "stop_loss": 100,
             "stop_limit": None, "oto_leg": "take_profit", "day": False}  # fmt: skip
    m.order_id += 1
    m.do(command_of(entry, m.order_id, []))
    for qty in (3, 7):
        m.order("bob", Side.SELL, qty, 100 * DOLLAR)
    m.order("carol", Side.BUY, 4, 101 * DOLLAR)
    legs = [e for e in m.events if isinstance(e, TradeExecuted) and e.maker_order_id > 10**12]
    assert sum(t.qty for t in legs) == 4
