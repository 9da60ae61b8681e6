"""Hypothesis properties of one order book under random command streams.

A stream mixes places of every order type and time in force from two or three accounts with
varied self-trade rules, cancels and replaces of live and dead ids, and end-of-session expiry.
Every property is checked after EVERY command, against a projection built from the events alone.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    ExpireOrders,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.enums import OrderType, SelfTradePrevention, Side, TimeInForce
from tradingfloor.domain.events import (
    CancelRejected,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.matching import OrderBook

SYMBOL = "P"
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
STOP, STOP_LIMIT, TRAILING = OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP
STOP_TYPES = {STOP, STOP_LIMIT, TRAILING}
DAY, GTC, IOC, FOK = TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
ACCOUNTS = ("A", "B", "C")

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


# ---------------------------------------------------------------- streams of commands


@dataclass(frozen=True)
class Scenario:
    instrument: Instrument
    commands: list[Command]


PRICES = st.integers(97, 103)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """An instrument and a stream of commands for its book.

    Order ids increase, except where a place deliberately reuses one. A shadow engine runs the
    stream as it is drawn, so that most cancels and replaces aim at orders still live.
    """
    accounts = ACCOUNTS[: draw(st.sampled_from([2, 3]))]
    instrument = Instrument(SYMBOL, tick_size=1, stp=draw(st.sampled_from(SelfTradePrevention)))
    shadow = Engine()
    shadow.apply(AddInstrument(instrument), 1, 0)
    last_id = 0
    commands: list[Command] = []
    for index in range(1, draw(st.integers(1, 40)) + 1):
        kind = draw(st.sampled_from(["place"] * 6 + ["cancel"] * 2 + ["replace"] * 2 + ["expire"]))
        command: Command
        if kind == "place":
            reuse = last_id > 0 and draw(st.integers(0, 19)) == 0
            last_id += 0 if reuse else 1
            command = _place(draw, last_id, accounts)
        elif kind == "expire":
            command = ExpireOrders(draw(st.sampled_from([None, SYMBOL])))
        else:
            target = _target(draw, shadow.book(SYMBOL).live_order_ids(), last_id)
            account = draw(st.sampled_from(("", "", "", *accounts)))
            if kind == "cancel":
                command = CancelOrder(target, SYMBOL, account)
            else:
                last_id += 1
                command = ReplaceOrder(
                    target,
                    last_id,
                    SYMBOL,
                    account,
                    qty=draw(st.sampled_from([None, None, 1, 3, 8, 15, 30, 45])),
                    price=draw(st.none() | PRICES),
                    stop_price=draw(st.sampled_from([None] * 3) | PRICES),
                )
        shadow.apply(command, index + 1, index * 1_000)
        commands.append(command)
    return Scenario(instrument, commands)


def _target(draw: st.DrawFn, live: list[int], last_id: int) -> int:
    """Mostly a live order, else any id used so far, else one never used."""
    choice = draw(st.integers(0, 9))
    if live and choice >= 3:
        return draw(st.sampled_from(live))
    if last_id and choice >= 1:
        return draw(st.integers(1, last_id))
    return last_id + 50


def _place(draw: st.DrawFn, order_id: int, accounts: tuple[str, ...]) -> PlaceOrder:
    order_type = draw(st.sampled_from([LIMIT] * 5 + [MARKET, STOP, STOP_LIMIT, TRAILING]))
    trail = draw(st.sampled_from(["price", "bps"]))
    return PlaceOrder(
        order_id,
        draw(st.sampled_from(accounts)),
        SYMBOL,
        draw(st.sampled_from(Side)),
        order_type,
        draw(st.integers(1, 40)),
        price=draw(PRICES) if order_type in (LIMIT, STOP_LIMIT) else None,
        stop_price=draw(PRICES) if order_type in (STOP, STOP_LIMIT) else None,
        tif=draw(st.sampled_from([DAY, DAY, GTC, GTC, GTC, IOC, FOK])),
        trail_price=draw(st.integers(1, 4))
        if order_type == TRAILING and trail == "price"
        else None,
        trail_bps=draw(st.integers(10, 400))
        if order_type == TRAILING and trail == "bps"
        else None,
        stp=draw(st.none() | st.sampled_from(SelfTradePrevention)),
    )


# ---------------------------------------------------------------- the projection


@dataclass
class Tracked:
    """One order as its events describe it."""

    order_id: int
    account: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    qty: int
    price: int | None
    stop_price: int | None
    stp: SelfTradePrevention
    filled: int = 0
    canceled: int = 0
    ended: bool = False  # replaced or expired
    triggered: bool = False
    arrival: tuple[int, int] = (0, 0)  # (command, event) of its latest entry to the book

    @property
    def open(self) -> int:
        return 0 if self.ended else self.qty - self.filled - self.canceled

    @property
    def pending(self) -> bool:
        return self.order_type in STOP_TYPES and not self.triggered and self.open > 0


@dataclass
class Tape:
    """Orders projected from events, as every consumer of the engine builds them."""

    instrument: Instrument
    orders: dict[int, Tracked] = field(default_factory=dict)
    command: Command | None = None
    command_index: int = 0
    last_price: int | None = None

    def apply(self, event: Event, position: int) -> None:
        stamp = (self.command_index, position)
        if isinstance(event, OrderAccepted):
            command = self.command
            assert isinstance(command, PlaceOrder) and command.order_id == event.order_id
            stp = self.instrument.stp if command.stp is None else command.stp
            self.orders[event.order_id] = Tracked(
                event.order_id, event.account, event.side, event.order_type, event.tif,
                event.qty, event.price, event.stop_price, stp, arrival=stamp,
            )  # fmt: skip
        elif isinstance(event, TradeExecuted):
            for order_id in (event.maker_order_id, event.taker_order_id):
                self.orders[order_id].filled += event.qty
            self.last_price = event.price
        elif isinstance(event, OrderCanceled):
            self.orders[event.order_id].canceled += event.canceled_qty
        elif isinstance(event, OrderExpired):
            expired = self.orders[event.order_id]
            expired.canceled += event.expired_qty
            expired.ended = True
        elif isinstance(event, OrderReplaced):
            old = self.orders[event.order_id]
            new = Tracked(
                event.new_order_id, old.account, old.side, old.order_type, old.tif, event.qty,
                event.price, event.stop_price, old.stp, filled=old.filled,
                triggered=old.triggered, arrival=old.arrival if event.kept_priority else stamp,
            )  # fmt: skip
            self.orders[event.new_order_id] = new
            old.ended = True
        elif isinstance(event, StopTriggered):
            stop = self.orders[event.order_id]
            stop.triggered = True
            stop.arrival = stamp


@dataclass
class Step:
    """One command, its events, and what a reader saw of the book just before it."""

    index: int
    command: Command
    events: list[Event]
    before: tuple[object, ...]
    live_before: list[int]


def snapshot(book: OrderBook) -> tuple[object, ...]:
    return (
        book.depth(),
        list(book.resting_orders(BUY)),
        list(book.resting_orders(SELL)),
        book.live_order_ids(),
        book.last_price,
    )


EventCheck = Callable[[Tape, Step, Event], None]


def replay(
    scenario: Scenario, check_event: EventCheck | None = None
) -> Iterator[tuple[Tape, Step, OrderBook]]:
    """Apply the stream to a fresh engine; after each command, yield the projection updated
    with its events. `check_event` sees each event right after the projection applied it."""
    engine = Engine()
    engine.apply(AddInstrument(scenario.instrument), 1, 0)
    book = engine.book(SYMBOL)
    tape = Tape(scenario.instrument)
    for index, command in enumerate(scenario.commands, start=1):
        step = Step(index, command, [], snapshot(book), book.live_order_ids())
        step.events = engine.apply(command, index + 1, index * 1_000)
        tape.command, tape.command_index = command, index
        for position, event in enumerate(step.events):
            tape.apply(event, position)
            if check_event is not None:
                check_event(tape, step, event)
        yield tape, step, book


# ---------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_book_is_never_crossed_and_its_invariants_hold(scenario: Scenario) -> None:
    for _, step, book in replay(scenario):
        book.check_invariants()
        best_bid, best_ask = book.best_bid(), book.best_ask()
        if best_bid is not None and best_ask is not None:
            assert best_bid.price < best_ask.price, f"crossed after {step.command}"
        depth = book.depth()
        assert [level.price for level in depth.bids] == sorted(
            (level.price for level in depth.bids), reverse=True
        )
        assert [level.price for level in depth.asks] == sorted(level.price for level in depth.asks)
        assert all(level.qty > 0 and level.order_count > 0 for level in depth.bids + depth.asks)


def _leaves_match_projection(tape: Tape, step: Step, event: Event) -> None:
    if isinstance(event, TradeExecuted):
        assert event.qty > 0
        assert event.maker_leaves == tape.orders[event.maker_order_id].open, event
        assert event.taker_leaves == tape.orders[event.taker_order_id].open, event
    elif isinstance(event, OrderCanceled):
        assert event.canceled_qty > 0, event
        assert event.leaves == tape.orders[event.order_id].open, event
    elif isinstance(event, OrderExpired):
        expired = tape.orders[event.order_id]
        assert expired.filled + expired.canceled == expired.qty, event
    elif isinstance(event, OrderReplaced):
        replacement = tape.orders[event.new_order_id]
        assert event.leaves == replacement.qty - replacement.filled > 0, event
    for order in tape.orders.values():
        assert 0 <= order.filled <= order.qty and order.open >= 0, (event, order)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_quantity_is_conserved_per_order(scenario: Scenario) -> None:
    for tape, step, book in replay(scenario, _leaves_match_projection):
        # placed qty = filled + canceled + open, where open is what the book still holds
        live = {order_id for order_id, order in tape.orders.items() if order.open > 0}
        assert set(book.live_order_ids()) == live, f"after {step.command}"
        for side in (BUY, SELL):
            for resting in book.resting_orders(side):
                order = tape.orders[resting.order_id]
                assert resting.leaves == order.open, (step.command, resting, order)
                assert (resting.price, resting.side, resting.account) == (
                    order.price,
                    order.side,
                    order.account,
                )
        resting_ids = {o.order_id for side in (BUY, SELL) for o in book.resting_orders(side)}
        for order_id in live - resting_ids:
            assert tape.orders[order_id].pending, f"{order_id} neither rests nor waits"


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_orders_at_one_price_are_listed_in_arrival_order(scenario: Scenario) -> None:
    for tape, step, book in replay(scenario):
        for side in (BUY, SELL):
            for price, level in groupby(book.resting_orders(side), key=lambda o: o.price):
                arrivals = [tape.orders[order.order_id].arrival for order in level]
                assert arrivals == sorted(arrivals), f"{side.name} {price} after {step.command}"
                assert len(set(arrivals)) == len(arrivals)


def _trade_is_fair(tape: Tape, step: Step, event: Event) -> None:
    if not isinstance(event, TradeExecuted):
        return
    maker = tape.orders[event.maker_order_id]
    taker = tape.orders[event.taker_order_id]
    assert maker.side != taker.side, event
    assert event.aggressor == taker.side, event
    assert (event.maker_account, event.taker_account) == (maker.account, taker.account)
    assert event.price == maker.price, f"not at the maker's price: {event}"
    if taker.price is not None:
        if taker.side == BUY:
            assert event.price <= taker.price, f"above the buyer's limit: {event}"
        else:
            assert event.price >= taker.price, f"below the seller's limit: {event}"
    if taker.stp != SelfTradePrevention.NONE:
        assert maker.account != taker.account, f"self-trade despite {taker.stp!r}: {event}"
    earlier = [
        e
        for e in step.events[: step.events.index(event)]
        if isinstance(e, TradeExecuted) and e.taker_order_id == event.taker_order_id
    ]
    if earlier:  # a taker walks the book from its best price outwards
        if taker.side == BUY:
            assert earlier[-1].price <= event.price, event
        else:
            assert earlier[-1].price >= event.price, event


def _stop_trigger_is_due(tape: Tape, step: Step, event: Event) -> None:
    if not isinstance(event, StopTriggered):
        return
    stop = tape.orders[event.order_id]
    if stop.order_type != TRAILING:
        assert event.stop_price == stop.stop_price, event
    if stop.side == BUY:
        assert event.last_price >= event.stop_price, event
    else:
        assert event.last_price <= event.stop_price, event


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_trades_are_at_the_makers_price_within_the_takers_limit(scenario: Scenario) -> None:
    def check(tape: Tape, step: Step, event: Event) -> None:
        _trade_is_fair(tape, step, event)
        _stop_trigger_is_due(tape, step, event)

    for tape, _step, book in replay(scenario, check):
        assert book.last_price == tape.last_price
        for order in tape.orders.values():
            if order.pending and order.order_type != TRAILING and book.last_price is not None:
                stop: int = order.stop_price  # type: ignore[assignment]
                reached = book.last_price >= stop if order.side == BUY else book.last_price <= stop
                assert not reached, f"stop {order} missed the last price {book.last_price}"


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_same_commands_give_the_same_events(scenario: Scenario) -> None:
    encodings = []
    for _ in range(2):
        engine = Engine()
        events = engine.apply(AddInstrument(scenario.instrument), 1, 0)
        for index, command in enumerate(scenario.commands, start=1):
            events += engine.apply(command, index + 1, index * 1_000)
        encodings.append((msgspec.msgpack.encode(events), snapshot(engine.book(SYMBOL))))

    assert encodings[0] == encodings[1]


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_market_and_ioc_never_rest_and_fok_fills_whole_or_not_at_all(scenario: Scenario) -> None:
    for tape, _step, book in replay(scenario):
        for side in (BUY, SELL):
            for resting in book.resting_orders(side):
                order = tape.orders[resting.order_id]
                assert order.order_type in (LIMIT, STOP_LIMIT), f"{order} rests"
                assert not order.pending, f"{order} rests before its trigger"
                assert order.tif in (DAY, GTC), f"{order} rests"
        for order in tape.orders.values():
            if order.tif in (IOC, FOK) or order.order_type in (MARKET, STOP, TRAILING):
                assert order.open == 0 or order.pending, f"{order} still open"
            if order.tif == FOK:
                assert order.filled in (0, order.qty), f"FOK partly filled: {order}"


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_rejected_commands_change_nothing_and_expiry_ends_every_day_order(
    scenario: Scenario,
) -> None:
    for tape, step, book in replay(scenario):
        if len(step.events) == 1 and isinstance(
            step.events[0], OrderRejected | CancelRejected | ReplaceRejected
        ):
            assert snapshot(book) == step.before, f"{step.command} was rejected yet changed it"
        assert all(event.seq == step.index + 1 for event in step.events)
        if isinstance(step.command, ExpireOrders):
            for order in tape.orders.values():
                if order.open > 0:
                    assert order.tif != DAY, f"{order} survived the end of the session"
            expired = {e.order_id for e in step.events if isinstance(e, OrderExpired)}
            assert set(step.live_before) - expired == set(book.live_order_ids())
        if isinstance(step.command, CancelOrder) and isinstance(step.events[0], OrderCanceled):
            assert not book.is_live(step.command.order_id)
