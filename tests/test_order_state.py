"""The one order-state reducer (`domain.order_state`): its rules, and, over random order flows,
its agreement with the engine's live orders and with the projector's stored rows."""

import datetime
import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine as Database
from sqlalchemy import delete, select

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    Deposit,
    DepositShares,
    ExpireOrders,
    OpenAccount,
    PlaceOrder,
    ReplaceOrder,
    SetReferencePrice,
)
from tradingfloor.domain.enums import (
    CancelReason,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderReplaced,
    OrderResubmitted,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.order_state import (
    OrderStates,
    accepted,
    evolve,
    rejected,
    replacement,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.store.database import make_engine, upgrade
from tradingfloor.store.order_rows import row_values
from tradingfloor.store.projector import Projector
from tradingfloor.store.quote_tables import arrival_quotes, book_levels
from tradingfloor.store.readmodels import READ_MODEL_TABLES, orders

SYMBOL = "P"
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
STOP, STOP_LIMIT, TRAILING = OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP
DAY, GTC, IOC, FOK = TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
ACCOUNTS = ("A", "B", "C")
CLIENT_ORDER_IDS = ("", "", "", "k1", "k2", "k3")
OPEN_TS = int(datetime.datetime(2026, 3, 3, 15, tzinfo=datetime.UTC).timestamp()) * 10**9
"""A Tuesday, 10:00 in New York: the risk layer's calendar has a session then."""


def ts_of(seq: int) -> int:
    return OPEN_TS + seq * 1_000


# ---------------------------------------------------------------- the rules


def _bid(order_id: int = 7, order_type: OrderType = LIMIT) -> OrderAccepted:
    stop = 101 if order_type in (STOP, STOP_LIMIT) else None
    price = None if order_type == STOP else 100
    return OrderAccepted(1, 10, order_id, "A", SYMBOL, BUY, order_type, GTC, 10, price, stop, "c")


def _trade(seq: int, qty: int, price: int, leaves: int, order_id: int = 7) -> TradeExecuted:
    return TradeExecuted(
        seq, seq * 10, SYMBOL, seq, price, qty, 99, order_id, "B", "A", BUY, 0, leaves
    )


def test_fills_make_an_order_partially_filled_then_filled_at_its_average_price() -> None:
    state = accepted(_bid())

    partial = evolve(state, _trade(2, 4, 100, 6))
    filled = evolve(partial, _trade(3, 6, 99, 0))

    assert (state.status, state.leaves_qty) == (OrderStatus.NEW, 10)
    assert (partial.status, partial.filled_qty, partial.leaves_qty) == (
        OrderStatus.PARTIALLY_FILLED,
        4,
        6,
    )
    assert (filled.status, filled.filled_notional) == (OrderStatus.FILLED, 4 * 100 + 6 * 99)
    assert filled.average_fill_price == (4 * 100 + 6 * 99) // 10
    assert (filled.updated_seq, filled.updated_ts, filled.created_seq) == (3, 30, 1)


def test_a_stop_waits_then_triggers_where_its_stop_ended() -> None:
    state = accepted(_bid(order_type=STOP))

    triggered = evolve(state, StopTriggered(2, 20, 7, SYMBOL, 102, 103, "A"))

    assert state.status == OrderStatus.PENDING_TRIGGER and state.is_open
    assert (triggered.status, triggered.stop_price) == (OrderStatus.NEW, 102)


def test_a_self_trade_decrement_keeps_the_order_live_and_a_cancel_ends_it() -> None:
    state = accepted(_bid())

    cut = evolve(state, OrderCanceled(2, 20, 7, SYMBOL, 4, 6, CancelReason.SELF_TRADE, "A"))
    ended = evolve(cut, OrderCanceled(3, 30, 7, SYMBOL, 6, 0, CancelReason.REQUESTED, "A"))

    assert (cut.status, cut.leaves_qty, cut.cancel_reason) == (OrderStatus.NEW, 6, None)
    assert (ended.status, ended.leaves_qty) == (OrderStatus.CANCELED, 0)
    assert ended.cancel_reason == CancelReason.REQUESTED and not ended.is_open


def test_a_replacement_carries_the_fills_and_answers_to_its_own_client_order_id() -> None:
    state = evolve(accepted(_bid()), _trade(2, 4, 100, 6))
    event = OrderReplaced(3, 30, 7, 8, SYMBOL, 12, 98, None, 8, False, "A", "c-2")
    before_ids = OrderReplaced(3, 30, 7, 8, SYMBOL, 12, 98, None, 8, False)  # an older record

    new = replacement(state, event)
    old = evolve(state, event)

    assert (new.order_id, new.qty, new.price, new.leaves_qty, new.replaces) == (8, 12, 98, 8, 7)
    assert (new.status, new.filled_qty, new.client_order_id) == (
        OrderStatus.PARTIALLY_FILLED,
        4,
        "c-2",
    )
    assert (old.status, old.leaves_qty, old.replaced_by) == (OrderStatus.REPLACED, 0, 8)
    assert replacement(state, before_ids).client_order_id == "c"  # it then kept its own


def test_a_refusal_that_makes_no_order_makes_no_state_and_other_events_change_nothing() -> None:
    state = accepted(_bid())
    reused = OrderRejected(2, 20, 9, "A", SYMBOL, RejectReason.CLIENT_ORDER_ID_REUSED, "c")
    refused = OrderRejected(2, 20, 9, "A", SYMBOL, RejectReason.PRICE_NOT_ON_TICK, "d")

    assert rejected(reused) is None
    assert rejected(refused) is not None and rejected(refused).status == OrderStatus.REJECTED  # type: ignore[union-attr]
    assert evolve(state, _trade(2, 1, 100, 0, order_id=12)) is state
    assert evolve(state, OrderResubmitted(2, 20, 7, "A", SYMBOL, "c")) is state


# ---------------------------------------------------------------- random flows


@dataclass(frozen=True)
class Flow:
    commands: list[Command]


OPENING: list[Command] = [
    AddInstrument(Instrument(SYMBOL, tick_size=1)),
    SetReferencePrice(SYMBOL, 100),
    *(command for account in ACCOUNTS for command in (
        OpenAccount(account), Deposit(account, 10**12), DepositShares(account, SYMBOL, 10**6, 100),
    )),
]  # fmt: skip

PRICES = st.integers(97, 103)


def _place(draw: st.DrawFn, order_id: int) -> PlaceOrder:
    order_type = draw(st.sampled_from([LIMIT] * 5 + [MARKET, STOP, STOP_LIMIT, TRAILING]))
    return PlaceOrder(
        order_id,
        draw(st.sampled_from(ACCOUNTS)),
        SYMBOL,
        draw(st.sampled_from(Side)),
        order_type,
        draw(st.integers(1, 40)),
        price=draw(PRICES) if order_type in (LIMIT, STOP_LIMIT) else None,
        stop_price=draw(PRICES) if order_type in (STOP, STOP_LIMIT) else None,
        tif=draw(st.sampled_from([DAY, GTC, GTC, IOC, FOK])),
        trail_price=draw(st.integers(1, 4)) if order_type == TRAILING else None,
        stp=draw(st.none() | st.sampled_from(SelfTradePrevention)),
        client_order_id=draw(st.sampled_from(CLIENT_ORDER_IDS)),
    )


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    """Places (some repeating an earlier one: a resubmission, or a reuse of its client order
    id), cancels and replaces of live and dead ids, replaces naming client order ids, expiry."""
    shadow = Engine(RiskSettings())
    for seq, command in enumerate(OPENING, start=1):
        shadow.apply(command, seq, ts_of(seq))
    placed: list[PlaceOrder] = []
    commands: list[Command] = []
    for last_id in range(1, draw(st.integers(1, 40)) + 1):
        kind = draw(st.sampled_from(["place"] * 5 + ["again", "cancel", "replace", "expire"]))
        command: Command
        if kind == "again" and placed:
            command = msgspec.structs.replace(draw(st.sampled_from(placed)), order_id=last_id)
        elif kind in ("place", "again"):
            command = _place(draw, last_id)
            placed.append(command)
        elif kind == "expire":
            command = ExpireOrders()
        else:
            live = shadow.book(SYMBOL).live_order_ids()
            target = draw(st.sampled_from(live)) if live else last_id - 1
            account = draw(st.sampled_from(("", *ACCOUNTS)))
            if kind == "cancel":
                command = CancelOrder(target, SYMBOL, account)
            else:
                command = ReplaceOrder(
                    target,
                    last_id,
                    SYMBOL,
                    account,
                    qty=draw(st.sampled_from([None, 5, 15, 30])),
                    price=draw(st.none() | PRICES),
                    client_order_id=draw(st.sampled_from(CLIENT_ORDER_IDS)),
                )
        seq = len(OPENING) + last_id
        shadow.apply(command, seq, ts_of(seq))
        commands.append(command)
    return Flow(commands)


@functools.cache
def _scratch_database() -> Database:
    """One SQLite read-model database for every example (emptied before each)."""
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'order_state.db'}"
    upgrade(url)
    return make_engine(url)


def _stored_orders(database: Database) -> dict[int, tuple[object, ...]]:
    with database.connect() as connection:
        return {row[0]: tuple(row) for row in connection.execute(select(orders))}


@settings(max_examples=150, deadline=None)
@given(flow=flows())
def test_the_reducer_agrees_with_the_engine_and_with_the_projectors_rows(flow: Flow) -> None:
    engine = Engine(RiskSettings())
    states = OrderStates()
    batch: list[tuple[int, int, list[Event]]] = []
    for seq, command in enumerate([*OPENING, *flow.commands], start=1):
        events = engine.apply(command, seq, ts_of(seq))
        batch.append((seq, ts_of(seq), events))
        for event in events:
            states.apply(event)
        book = engine.book(SYMBOL)
        live = set(book.live_order_ids())
        assert {i for i, state in states.orders.items() if state.is_open} == live, command
        for order_id in live:
            order = book.order_view(order_id)
            state = states.orders[order_id]
            assert order is not None
            # the book keeps a resting order's status as it entered: its fills say the rest
            if order.status == OrderStatus.PENDING_TRIGGER:
                status = OrderStatus.PENDING_TRIGGER
            else:
                status = OrderStatus.PARTIALLY_FILLED if order.filled else OrderStatus.NEW
            assert (state.status, state.leaves_qty, state.filled_qty) == (
                status,
                order.leaves,
                order.filled,
            ), (command, flow.commands)
            assert state.client_order_id == order.client_order_id
    database = _scratch_database()
    with database.begin() as connection:
        for table in (*READ_MODEL_TABLES, arrival_quotes, book_levels):
            connection.execute(delete(table))

    Projector(database).apply(batch)

    expected = {order_id: row_values(state) for order_id, state in states.orders.items()}
    assert _stored_orders(database) == expected
