"""The market-data view is the engine's visible book, built from events alone.

Random streams go through a real engine; after EVERY command the view fed only that command's
events must show, for every symbol, every level of the engine's book (price, quantity, order
count), its best bid and ask and its last trade price; and a view rebuilt from the whole
event log from seq 1 must end the same. Hand-made cases pin the rules a book built from events
has to infer (a stop that trades against the order that elected it, replaces that keep or lose
priority, STP decrements, IOC and market orders that never rest); the real NASDAQ flow of the
LOBSTER samples is the last check. And the platform answers the same market data after a
restart: it rebuilds it from its event log.
"""

from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api_helpers import served
from test_matching_properties import PROPERTY_SETTINGS, Scenario, scenarios
from test_replay_lobster import AAPL, AMZN, lobster_files
from tradingfloor.bench.ledger import random_stream
from tradingfloor.domain.commands import AddInstrument, Command, PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import OrderType, SelfTradePrevention, Side, TimeInForce
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import Event, OrderAccepted, StopTriggered, TradeExecuted
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.marketdata.levels import DepthView, LevelView
from tradingfloor.marketdata.view import Applied, MarketDataView
from tradingfloor.replay.lobster import LobsterReplay, read_book_rows, read_messages

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, STOP_LIMIT = OrderType.LIMIT, OrderType.MARKET, OrderType.STOP_LIMIT
GTC, IOC = TimeInForce.GTC, TimeInForce.IOC


Level = tuple[int, int, int]


def level(found: LevelView | None) -> Level | None:
    """(price, qty, orders): the engine's levels and the view's are different types."""
    return None if found is None else (found.price, found.qty, found.order_count)


def levels(depth: DepthView) -> tuple[list[Level | None], list[Level | None]]:
    return [level(found) for found in depth.bids], [level(found) for found in depth.asks]


def assert_same_books(view: MarketDataView, engine: Engine, after: object) -> None:
    assert set(view.symbols()) == set(engine.books), after
    for symbol, book in engine.books.items():
        assert levels(view.depth(symbol)) == levels(book.depth()), f"{symbol} after {after}"
        assert levels(view.depth(symbol, 2)) == levels(book.depth(2)), f"{symbol} after {after}"
        quote = view.quote(symbol)
        assert (level(quote.bid), level(quote.ask)) == (
            level(book.best_bid()),
            level(book.best_ask()),
        ), f"{symbol} after {after}"
        assert quote.last_price == book.last_price, f"{symbol} after {after}"
        assert quote.seq == engine.last_seq
        live = view.book(symbol)
        assert live is not None and live.live_order_count() == book.live_order_count()


def rebuilt(log: Iterable[Applied]) -> MarketDataView:
    view = MarketDataView()
    view.on_batch(log)
    return view


class Run:
    """A real engine and a view fed each command's events, with the event log kept."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.view = MarketDataView()
        self.log: list[Applied] = []

    def apply(self, command: Command, ts: int = 0) -> list[Event]:
        seq = self.engine.last_seq + 1
        events = self.engine.apply(command, seq, ts)
        self.log.append(Applied(seq, ts, events))
        self.view.apply(seq, ts, events)
        assert_same_books(self.view, self.engine, command)
        return events

    def check_rebuild(self) -> None:
        assert_same_books(rebuilt(self.log), self.engine, "a rebuild from seq 1")


# ---------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_event_built_books_equal_the_engine_after_every_command(scenario: Scenario) -> None:
    run = Run(Engine())
    run.apply(AddInstrument(scenario.instrument))
    for command in scenario.commands:
        run.apply(command, run.engine.last_seq * 1_000)
    run.check_rebuild()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), length=st.integers(50, 800))
def test_books_of_a_risk_engine_with_halts_kill_switches_and_expiry(
    seed: int, length: int
) -> None:
    run = Run(Engine(RiskSettings()))
    for command, ts in random_stream(run.engine, seed, length):
        run.apply(command, ts)
    run.check_rebuild()
    risk = run.engine.risk
    assert risk is not None
    for symbol in run.engine.books:
        assert run.view.quote(symbol).reference_price == risk.guards[symbol].reference


# ---------------------------------------------------------------- the rules, one by one


def place(
    order_id: int,
    account: str,
    side: Side,
    qty: int,
    price: int | None,
    order_type: OrderType = LIMIT,
    tif: TimeInForce = GTC,
    stop_price: int | None = None,
    stp: SelfTradePrevention | None = None,
) -> PlaceOrder:
    return PlaceOrder(
        order_id, account, "P", side, order_type, qty, price, tif=tif, stop_price=stop_price,
        stp=stp,
    )  # fmt: skip


def started() -> Run:
    run = Run(Engine())
    run.apply(AddInstrument(Instrument("P", tick_size=1)))
    return run


def test_a_stop_elected_by_an_order_trades_against_what_that_order_left_resting() -> None:
    run = started()
    run.apply(place(1, "A", SELL, 5, 100))
    run.apply(place(2, "B", SELL, 10, 99, STOP_LIMIT, stop_price=100))  # waits unseen
    assert levels(run.view.depth("P")) == ([], [(100, 5, 1)])
    # The buy takes the 5 at 100, elects the stop, rests 15 at 100; the stop sells into it.
    events = run.apply(place(3, "C", BUY, 20, 100))
    kinds = [type(event) for event in events]
    assert kinds == [OrderAccepted, TradeExecuted, StopTriggered, TradeExecuted]
    assert events[-1].maker_order_id == 3  # type: ignore[attr-defined]
    assert levels(run.view.depth("P")) == ([(100, 5, 1)], [])
    run.check_rebuild()


def test_replaces_keep_priority_only_when_lowered_in_place() -> None:
    run = started()
    run.apply(place(1, "A", BUY, 10, 100))
    run.apply(place(2, "B", BUY, 10, 100))
    run.apply(ReplaceOrder(1, 3, "P", qty=4))  # lowered: keeps its place under id 3
    run.apply(ReplaceOrder(2, 4, "P", price=101))  # moved: a new order at 101
    run.apply(ReplaceOrder(4, 5, "P", price=100))  # back to 100: behind 3
    assert levels(run.view.depth("P")) == ([(100, 14, 2)], [])
    run.apply(place(6, "C", SELL, 6, 100, tif=IOC))
    assert levels(run.view.depth("P")) == ([(100, 8, 1)], [])  # 3 filled first, then 2 of 5
    run.apply(ReplaceOrder(5, 7, "P", price=99))  # lost priority, crosses nothing: rests
    run.apply(place(8, "D", SELL, 3, 101))
    run.apply(ReplaceOrder(8, 9, "P", price=99))  # crosses on its way in: filled at once
    assert levels(run.view.depth("P")) == ([(99, 5, 1)], [])
    run.check_rebuild()


def test_stp_decrement_leaves_the_rest_of_both_orders_in_place() -> None:
    run = started()
    run.apply(place(1, "A", BUY, 10, 100))
    run.apply(place(2, "B", BUY, 3, 99))
    run.apply(place(3, "A", SELL, 4, 100, stp=SelfTradePrevention.DECREMENT))
    assert levels(run.view.depth("P")) == ([(100, 6, 1), (99, 3, 1)], [])  # 10 - 4 of A's
    run.apply(place(4, "A", SELL, 8, 100, stp=SelfTradePrevention.DECREMENT))
    # 6 decremented against A's 6 left (A's bid goes); the 2 left rest, nothing traded
    assert levels(run.view.depth("P")) == ([(99, 3, 1)], [(100, 2, 1)])
    run.check_rebuild()


def test_market_ioc_and_fok_never_rest() -> None:
    run = started()
    run.apply(place(1, "A", SELL, 5, 100))
    run.apply(place(2, "B", BUY, 8, None, MARKET))
    run.apply(place(3, "A", SELL, 5, 101))
    run.apply(place(4, "B", BUY, 8, 101, tif=IOC))
    run.apply(place(5, "B", BUY, 8, 101, tif=TimeInForce.FOK))  # refused: nothing to fill
    assert levels(run.view.depth("P")) == ([], [])
    assert run.view.quote("P").last_price == 101
    run.check_rebuild()


def test_a_gap_in_the_feed_is_refused_and_a_repeat_is_skipped() -> None:
    run = started()
    run.apply(place(1, "A", BUY, 10, 100))
    view = rebuilt(run.log)
    view.on_batch(run.log)  # the same commands again: nothing changes
    assert levels(view.depth("P")) == ([(100, 10, 1)], [])
    with pytest.raises(InvariantViolation, match=r"missed commands 3\.\.4"):
        view.apply(5, 0, [])


def test_an_event_the_book_cannot_explain_is_refused() -> None:
    view = rebuilt(started().log)
    trade = TradeExecuted(2, 0, "P", 1, 100, 1, 7, 8, "A", "B", BUY, 0, 0)
    with pytest.raises(InvariantViolation, match="maker 7 not resting"):
        view.apply(2, 0, [trade])


# ---------------------------------------------------------------- real flow


class RecordingReplay(LobsterReplay):
    """The LOBSTER replay, with the view fed each command's events as the engine makes them."""

    def __init__(self, levels: int) -> None:
        self.view = MarketDataView()
        self.log: list[Applied] = []
        super().__init__(levels)

    def _run_command(self, command: Command) -> list[Event]:
        events = super()._run_command(command)
        self.log.append(Applied(self._seq, self._ts, events))
        self.view.apply(self._seq, self._ts, events)
        return events


@pytest.mark.parametrize(
    ("stem", "depth", "every"),
    [(AAPL, 10, 1), (AMZN, 1, 1000)],
)
def test_real_nasdaq_flow_builds_the_engines_book(stem: str, depth: int, every: int) -> None:
    """The levels the sample shows after every message; the whole book every `every`
    messages (a day's book grows deep: sorting all of it each time costs more than the
    replay)."""
    messages, orderbook = lobster_files(stem, depth)
    replay = RecordingReplay(depth)
    symbol = replay.symbol
    book = replay.engine.book(symbol)
    for row, _ in enumerate(replay.run(read_messages(messages), read_book_rows(orderbook))):
        assert levels(replay.view.depth(symbol, depth)) == levels(book.depth(depth)), row
        if row % every == 0:
            assert levels(replay.view.depth(symbol)) == levels(book.depth()), row
    assert levels(replay.view.depth(replay.symbol)) == levels(book.depth())
    assert levels(rebuilt(replay.log).depth(replay.symbol)) == levels(book.depth())
    assert replay.view.quote(replay.symbol).last_price == book.last_price


# ---------------------------------------------------------------- the platform

MARKET_READS = (
    "/v1/quotes/XYZ",
    "/v1/book/XYZ?depth=10",
    "/v1/trades/XYZ",
    "/v1/last-trade/XYZ",
    "/v1/last-quote/XYZ",
    "/v1/bars/XYZ?timeframe=1Day",
)


async def test_a_restart_rebuilds_market_data_from_the_event_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with served(data) as api:
        await api.symbol("XYZ", "100")
        alice = await api.trader("alice")
        bob = await api.trader("bob", cash="0", shares={"XYZ": 100})
        for side, headers, qty, price in (
            ("sell", bob, 30, "101"),
            ("sell", bob, 20, "100.50"),
            ("buy", alice, 10, "99"),
            ("buy", alice, 25, "100.50"),  # trades 20, rests 5
        ):
            terms = {"side": side, "type": "limit", "qty": qty, "limit_price": price}
            assert (await api.order(headers, **terms)).status_code == 200
        stop = {"side": "sell", "type": "stop", "qty": 5, "stop_price": "90"}
        assert (await api.order(bob, **stop)).status_code == 200  # waits: not in the book
        before = [(await api.client.get(path, headers=alice)).json() for path in MARKET_READS]
        quote = before[0]
        assert quote["bid"] == {"price": "100.50", "qty": 5, "orders": 1}
        assert quote["ask"] == {"price": "101.00", "qty": 30, "orders": 1}
        assert quote["last"] == "100.50" and before[2][0]["qty"] == 20
    async with served(data) as api:
        platform = api.platform
        assert platform.backend.market.last_seq == platform.engine.last_seq
        after = [(await api.client.get(path, headers=alice)).json() for path in MARKET_READS]
        assert after == before
        engine_book = platform.engine.books["XYZ"].depth()
        assert levels(platform.backend.market.depth("XYZ")) == levels(engine_book)
