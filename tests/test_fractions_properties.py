"""Hypothesis: random flows of fractional, notional and whole-share orders, buys and sells,
market and limit, with cancels and expiries, between customers and a fractional desk. After
every command the ledger's invariants hold (nano-shares conserved, holds exactly what open
orders and waiting fractions need, nothing negative); what market data shows equals the
engine's book (no fraction ever reaches it); every reader's order state never fills more
than was asked; at the end the double-entry postings replay to every balance, and the
journal replays to the same events and state, also from a snapshot taken halfway."""

from typing import Any

import msgspec
from hypothesis import event as note_statistic
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_helpers import DOLLAR, Market, check_journal_replays
from tradingfloor.domain.commands import CancelOrder, Command, ExpireOrders, PlaceOrder
from tradingfloor.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from tradingfloor.domain.events import FractionCanceled, FractionFilled
from tradingfloor.domain.fractions import NANO
from tradingfloor.domain.order_state import OrderStates
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine.check import check_postings
from tradingfloor.marketdata.levels import LevelBook

ACCOUNTS = ("alice", "bob", "carol")
DESK = "desk"
CENT = DOLLAR // 100

orders = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["fraction", "fraction", "notional", "whole"]),
        "account": st.sampled_from(ACCOUNTS),
        "side": st.sampled_from([Side.BUY, Side.SELL]),
        "qty": st.integers(0, 6),
        "fraction": st.integers(1, NANO - 1),
        "notional": st.integers(1, 800).map(lambda dollars: dollars * DOLLAR // 4),
        "market": st.booleans(),
        "price": st.integers(98 * 4, 102 * 4).map(lambda quarters: quarters * 25 * CENT),
    }
)
cancels = st.fixed_dictionaries(
    {"kind": st.just("cancel"), "pick": st.integers(0, 10_000), "account": st.none()}
)
expiries = st.fixed_dictionaries({"kind": st.just("expire")})
actions = st.one_of(orders, orders, orders, cancels, expiries)


def command_of(action: dict[str, Any], order_id: int, known: list[tuple[int, str]]) -> Command:
    kind = action["kind"]
    if kind == "expire":
        return ExpireOrders()
    if kind == "cancel":
        if not known:
            return ExpireOrders("XYZ")
        target, account = known[action["pick"] % len(known)]
        return CancelOrder(target, "XYZ", account)
    market = action["market"] or kind == "notional"
    order_type = OrderType.MARKET if market else OrderType.LIMIT
    price = None if market else action["price"]
    terms: dict[str, Any] = {}
    qty = action["qty"]
    if kind == "fraction":
        terms["fraction"] = action["fraction"]
    elif kind == "notional":
        qty = 0
        terms["notional"] = action["notional"]
    else:
        qty = max(qty, 1)
    return PlaceOrder(
        order_id,
        action["account"],
        "XYZ",
        action["side"],
        order_type,
        qty,
        price,
        tif=TimeInForce.DAY,
        **terms,
    )


def opened(m: Market) -> None:
    """XYZ listed; customers and the desk with cash and settled shares; a book a few deep."""
    m.listing("XYZ", 100 * DOLLAR)
    for account in (*ACCOUNTS, DESK):
        m.account(account, cash=100_000 * DOLLAR, shares={"XYZ": 50})
    for step in range(3):
        m.order("bob", Side.SELL, 3, 100 * DOLLAR + step * 50 * CENT)
        m.order("carol", Side.BUY, 3, 99 * DOLLAR + 50 * CENT - step * 50 * CENT)


def market() -> Market:
    return Market(settings=RiskSettings(fractional_desk_account=DESK))


@settings(max_examples=300, deadline=None)
@given(flow=st.lists(actions, min_size=10, max_size=80))
def test_random_fractional_flows_conserve_and_replay(flow: list[dict[str, Any]]) -> None:
    m = market()
    opened(m)
    setup = m.seq
    journal: list[tuple[Command, int, int]] = []
    known: list[tuple[int, str]] = []
    halfway = b""
    states = OrderStates()
    visible = LevelBook(m.engine.books["XYZ"].instrument)
    for event in m.events:
        states.apply(event)
        visible.apply(event)
    visible.end_command()
    for index, action in enumerate(flow):
        m.order_id += 1
        command = command_of(action, m.order_id, known)
        out = m.do(command)  # checks the ledger and the books
        for event in out:
            visible.apply(event)
            for state in states.apply(event):
                if state.is_open and (state.order_id, state.account) not in known:
                    known.append((state.order_id, state.account))
        visible.end_command()
        assert msgspec.to_builtins(visible.depth()) == msgspec.to_builtins(
            m.engine.books["XYZ"].depth()
        )
        journal.append((command, m.seq, m.ts))
        for state in states.orders.values():
            if state.qty is None:
                continue
            asked = state.qty * NANO + state.fraction
            filled = state.filled_qty * NANO + state.filled_fraction
            assert filled <= asked, state
            assert state.filled_fraction in (0, state.fraction), state
            if state.status == OrderStatus.FILLED:
                assert filled == asked, state
        if index == len(flow) // 2:
            halfway = m.engine.snapshot()
    check_postings(m.engine, m.events)
    filled = sum(1 for e in m.events if isinstance(e, FractionFilled))
    ended = sum(1 for e in m.events if isinstance(e, FractionCanceled))
    note_statistic(f"fractions filled: {'yes' if filled else 'no'}")
    note_statistic(f"fractions canceled: {'yes' if ended else 'no'}")

    replayed = market()
    opened(replayed)
    assert replayed.seq == setup
    check_journal_replays(m, replayed, journal, halfway)
