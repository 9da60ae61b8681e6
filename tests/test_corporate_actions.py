"""Corporate actions: splits (forward, reverse, cash in lieu), cash dividends under T+1 and
T+2, symbol changes, the announcement's checks, and snapshots; the ledger's invariants and
postings are checked after every command and every end-of-day step."""

import msgspec
import pytest

from corporate_helpers import announce, close, holders_market, of_type, risk_of, settle
from risk_helpers import DOLLAR, Market, rejection
from tradingfloor.domain.commands import AddInstrument, PlaceOrder
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import CancelReason, OrderType, Side
from tradingfloor.domain.events import (
    CommandRejected,
    CorporateActionAnnounced,
    DividendEntitled,
    DividendPaid,
    Event,
    OrderAdjusted,
    OrderCanceled,
    OrderResubmitted,
    StockSplitApplied,
    SymbolChanged,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.order_state import OrderStates
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.engine.pipeline import RiskState
from tradingfloor.risk.calendar import ts_at

BUY, SELL = Side.BUY, Side.SELL
CENT = DOLLAR // 100


def test_a_two_for_one_split_doubles_shares_and_orders_keeping_priority_and_basis() -> None:
    market = holders_market()
    b1, _ = market.order("bob", BUY, 10, 9_999 * CENT)
    b2, _ = market.order("bob", BUY, 10, 9_998 * CENT)
    b3, _ = market.order("carol", BUY, 5, 9_999 * CENT)
    ask, _ = market.order("alice", SELL, 50, 10_001 * CENT)
    stop, _ = market.order("alice", SELL, 20, order_type=OrderType.STOP, stop_price=9_501 * CENT)
    buy_stop, _ = market.order("bob", BUY, 5, order_type=OrderType.STOP, stop_price=10_501 * CENT)
    before = market.position("alice")
    cost, realized = before.cost, before.realized
    assert announce(market, StockSplit("split-1", "XYZ", 1, 2, "2026-11-25"))

    events = close(market, "2026-11-24")

    (applied,) = of_type(events, StockSplitApplied)
    assert (applied.account, applied.old_qty, applied.new_qty, applied.cash_in_lieu) == (
        "alice",
        101,
        202,
        0,
    )
    position = market.position("alice")
    assert (position.qty, position.cost, position.realized) == (202, cost, realized)
    adjusted = {event.order_id: event for event in of_type(events, OrderAdjusted)}
    assert (adjusted[b1].qty, adjusted[b1].price) == (20, 4_999 * CENT)  # 49.995 down
    assert (adjusted[b2].qty, adjusted[b2].price) == (20, 4_999 * CENT)
    assert (adjusted[ask].qty, adjusted[ask].price) == (100, 5_001 * CENT)  # 50.005 up
    assert adjusted[stop].stop_price == 4_750 * CENT  # 47.505 down
    assert adjusted[buy_stop].stop_price == 5_251 * CENT  # 52.505 up
    holds = risk_of(market).ledger.holds
    assert (holds[b1].leaves, holds[b1].price) == (20, 4_999 * CENT)
    assert position.held == 100 + 40

    market.ts = ts_at("2026-11-25 10:00")
    market.account("dave", shares={"XYZ": 45})
    _, sold = market.order("dave", SELL, 45, 4_999 * CENT)
    fills = [(t.maker_order_id, t.qty) for t in of_type(sold, TradeExecuted)]
    assert fills == [(b1, 20), (b3, 10), (b2, 15)]  # the better price before, then time


def test_three_for_two_pays_the_fraction_in_cash_as_a_sale_of_it() -> None:
    market = holders_market()
    ask, _ = market.order("alice", SELL, 3, 10_001 * CENT)
    settled = risk_of(market).ledger.accounts["alice"].settled
    announce(market, StockSplit("split-3-2", "XYZ", 2, 3, "2026-11-25", 70 * DOLLAR))

    events = close(market, "2026-11-24")

    (applied,) = of_type(events, StockSplitApplied)
    assert (applied.new_qty, applied.cash_in_lieu) == (151, 35 * DOLLAR)  # half a share at $70
    position = market.position("alice")
    basis_sold = 10_100 * DOLLAR * 1 // 303  # a half share of 151.5
    assert position.cost == 10_100 * DOLLAR - basis_sold
    assert position.realized == 35 * DOLLAR - basis_sold
    assert applied.basis_sold == basis_sold
    assert risk_of(market).ledger.accounts["alice"].settled == settled + 35 * DOLLAR
    (order,) = of_type(events, OrderAdjusted)
    assert (order.order_id, order.qty, order.leaves, order.price) == (ask, 4, 4, 6_668 * CENT)
    assert risk_of(market).corporate_actions.cash_paid == 35 * DOLLAR


def test_a_one_for_ten_reverse_split_cancels_orders_and_pays_cash_in_lieu() -> None:
    market = holders_market()
    market.account("erin", shares={"XYZ": 5})
    market.do(AddInstrument(Instrument("OTHER")))
    ask, _ = market.order("alice", SELL, 20, 10_100 * CENT)
    bid, _ = market.order("bob", BUY, 10, 9_900 * CENT)
    other, _ = market.order("bob", BUY, 1, 100 * DOLLAR, symbol="OTHER")
    announce(market, StockSplit("reverse", "XYZ", 10, 1, "2026-11-25"))

    events = close(market, "2026-11-24")

    canceled = of_type(events, OrderCanceled)
    assert [(c.order_id, c.reason) for c in canceled] == [
        (ask, CancelReason.CORPORATE_ACTION),
        (bid, CancelReason.CORPORATE_ACTION),
    ]
    applied = {event.account: event for event in of_type(events, StockSplitApplied)}
    # no trade yet: the fraction is paid at the reference price, $1,000 per new share
    assert (applied["alice"].new_qty, applied["alice"].cash_in_lieu) == (10, 100 * DOLLAR)
    assert (applied["erin"].new_qty, applied["erin"].cash_in_lieu) == (0, 500 * DOLLAR)
    erin = market.position("erin")
    assert (erin.qty, erin.cost, erin.realized) == (0, 0, 0)  # sold at what it cost
    assert market.position("alice").held == 0
    assert set(risk_of(market).ledger.holds) == {other}
    assert risk_of(market).guards["XYZ"].reference == 1_000 * DOLLAR


@pytest.mark.parametrize(
    ("sessions", "last_cum_date", "ex_date"),
    [(2, "2026-11-30", "2026-12-01"), (1, "2026-12-01", "2026-12-02")],
)
def test_a_dividend_goes_to_who_settles_by_the_record_date_and_is_paid_on_the_pay_date(
    sessions: int, last_cum_date: str, ex_date: str
) -> None:
    market = holders_market(RiskSettings(settlement_sessions=sessions))
    dividend = CashDividend("div-1", "XYZ", 2_525, "2026-12-02", "2026-12-04")  # $0.2525
    assert of_type(announce(market, dividend), CorporateActionAnnounced)
    bid, _ = market.order("carol", BUY, 5, 9_999 * CENT)
    ask, _ = market.order("alice", SELL, 5, 10_001 * CENT)
    for date in ("2026-11-24", "2026-11-25", "2026-11-27"):
        assert not of_type(close(market, date), DividendEntitled)
    if last_cum_date == "2026-12-01":
        assert not of_type(close(market, "2026-11-30"), DividendEntitled)
    market.ts = ts_at(f"{last_cum_date} 10:00")
    market.order("alice", SELL, 10, 10_000 * CENT)
    market.order("bob", BUY, 10, 10_000 * CENT)  # the last buy that settles by the record date

    events = close(market, last_cum_date)

    entitled = {e.account: (e.qty, e.amount) for e in of_type(events, DividendEntitled)}
    assert entitled == {"alice": (91, 91 * 2_525), "bob": (10, 10 * 2_525)}
    adjusted = {event.order_id: event.price for event in of_type(events, OrderAdjusted)}
    assert adjusted == {bid: 9_973 * CENT}  # 99.7375 down; the sell limit stays
    assert risk_of(market).ledger.holds[bid].price == 9_973 * CENT

    market.ts = ts_at(f"{ex_date} 10:00")
    market.order("alice", SELL, 10, 9_980 * CENT)
    market.order("bob", BUY, 10, 9_980 * CENT)  # ex: bob buys without the dividend
    assert not of_type(close(market, ex_date), DividendEntitled)
    assert not of_type(settle(market, "2026-12-03"), DividendPaid)
    alice_cash = risk_of(market).ledger.accounts["alice"].settled

    paid = of_type(settle(market, "2026-12-04"), DividendPaid)

    assert [(p.account, p.amount) for p in paid] == [("alice", 229_775), ("bob", 25_250)]
    assert risk_of(market).ledger.accounts["alice"].settled == alice_cash + 229_775
    assert not of_type(settle(market, "2026-12-07"), DividendPaid)  # paid once
    assert ask in risk_of(market).ledger.holds


def test_a_renamed_symbol_trades_its_live_orders_under_the_new_name() -> None:
    market = holders_market()
    market.order_id += 1
    command = PlaceOrder(
        market.order_id, "bob", "XYZ", BUY, OrderType.LIMIT, 10, 9_990 * CENT,
        client_order_id="bob-1",
    )  # fmt: skip
    market.do(command)
    bid = market.order_id
    ask, _ = market.order("alice", SELL, 40, 10_010 * CENT)
    announce(market, SymbolChange("rename", "XYZ", "XYZW", "2026-11-25"))
    announce(market, CashDividend("div", "XYZ", 1_000, "2026-11-30", "2026-12-01"))

    events = close(market, "2026-11-24")

    (changed,) = of_type(events, SymbolChanged)
    assert changed.shares == [("alice", 101)]
    assert {e.order_id: e.symbol for e in of_type(events, OrderAdjusted)} == {
        bid: "XYZW",
        ask: "XYZW",
    }
    engine = market.engine
    assert sorted(engine.books) == ["XYZW"] and sorted(risk_of(market).guards) == ["XYZW"]
    assert risk_of(market).ledger.accounts["bob"].open_orders == {"XYZW": 1}
    market.ts = ts_at("2026-11-25 10:00")
    market.order_id += 1
    retry = msgspec.structs.replace(command, order_id=market.order_id, symbol="XYZW")
    again = market.do(retry)
    assert of_type(again, OrderResubmitted)[0].first_order_id == bid
    _, old_name = market.order("carol", BUY, 1, 100 * DOLLAR)
    assert rejection(old_name) == RejectReason.UNKNOWN_SYMBOL
    _, bought = market.order("carol", BUY, 15, 10_010 * CENT, symbol="XYZW")
    (trade,) = of_type(bought, TradeExecuted)
    assert (trade.symbol, trade.maker_order_id, trade.qty) == ("XYZW", ask, 15)
    assert market.position("carol", "XYZW").qty == 15
    states = OrderStates()
    for event in market.events:
        states.apply(event)
    order = states.get(ask)
    assert order is not None
    assert (order.symbol, order.leaves_qty, order.filled_qty) == ("XYZW", 25, 15)
    for date in ("2026-11-25", "2026-11-27"):
        close(market, date)
    paid = of_type(settle(market, "2026-12-01"), DividendPaid)
    assert {(p.account, p.symbol) for p in paid} == {("alice", "XYZW"), ("carol", "XYZW")}


def _refused(market: Market, action: object) -> RejectReason:
    (event,) = announce(market, action)  # type: ignore[arg-type]
    assert isinstance(event, CommandRejected)
    return event.reason


@pytest.mark.parametrize(
    "action",
    [
        StockSplit("a", "NOPE", 1, 2, "2026-11-25"),
        StockSplit("a", "XYZ", 1, 2, "2026-11-26"),  # Thanksgiving: no session
        StockSplit("a", "XYZ", 1, 2, "2026-11-24"),  # today: too late
        StockSplit("a", "XYZ", 1, 2, "2026-13-01"),
        StockSplit("a", "XYZ", 0, 2, "2026-11-25"),
        StockSplit("a", "XYZ", 2, 2, "2026-11-25"),
        StockSplit("a", "XYZ", 1, 2, "2026-11-25", 0),
        StockSplit("", "XYZ", 1, 2, "2026-11-25"),
        CashDividend("a", "XYZ", 0, "2026-12-02", "2026-12-04"),
        CashDividend("a", "XYZ", -5, "2026-12-02", "2026-12-04"),
        CashDividend("a", "XYZ", 100, "2026-12-04", "2026-12-02"),  # paid before the record
        CashDividend("a", "XYZ", 100, "2026-11-25", "2026-11-30"),  # ex-date today under T+2
        SymbolChange("a", "XYZ", "OTHER", "2026-11-25"),  # taken
        SymbolChange("a", "XYZ", "xyz", "2026-11-25"),
        SymbolChange("a", "XYZ", "XYZ", "2026-11-25"),
    ],
)
def test_an_announcement_with_unusable_terms_is_refused(action: object) -> None:
    market = holders_market()
    market.do(AddInstrument(Instrument("OTHER")))
    assert _refused(market, action) == RejectReason.INVALID_CORPORATE_ACTION
    assert not risk_of(market).corporate_actions.pending


def test_an_action_id_is_used_once() -> None:
    market = holders_market()
    announce(market, SymbolChange("once", "XYZ", "XYZW", "2026-11-25"))
    split = StockSplit("once", "XYZ", 1, 2, "2026-11-30")
    assert _refused(market, split) == RejectReason.CORPORATE_ACTION_EXISTS
    close(market, "2026-11-24")
    assert _refused(market, split) == RejectReason.CORPORATE_ACTION_EXISTS
    assert _refused(market, SymbolChange("twice", "XYZW", "XYZW", "2026-11-30")) == (
        RejectReason.INVALID_CORPORATE_ACTION
    )


def test_a_symbol_a_pending_change_will_take_is_neither_listed_nor_claimed_twice() -> None:
    market = holders_market()
    announce(market, SymbolChange("new-name", "XYZ", "XYZN", "2026-11-25"))
    market.do(AddInstrument(Instrument("ABC")))
    (refused,) = market.do(AddInstrument(Instrument("XYZN")))
    assert isinstance(refused, CommandRejected)
    assert refused.reason == RejectReason.SYMBOL_EXISTS
    assert _refused(market, SymbolChange("same", "ABC", "XYZN", "2026-11-25")) == (
        RejectReason.INVALID_CORPORATE_ACTION
    )
    close(market, "2026-11-24")
    assert sorted(market.engine.books) == ["ABC", "XYZN"]


def test_snapshots_and_replays_keep_actions_and_dividends_owed() -> None:
    def run() -> Market:
        market = holders_market()
        market.order("bob", BUY, 10, 9_999 * CENT)
        announce(market, CashDividend("div", "XYZ", 2_525, "2026-11-30", "2026-12-02"))
        announce(market, StockSplit("split", "XYZ", 2, 3, "2026-12-01"))
        close(market, "2026-11-24")
        close(market, "2026-11-25")
        return market

    market = run()
    assert risk_of(market).corporate_actions.entitlements  # owed, not paid yet
    restored = Engine.restore(market.engine.snapshot())
    assert restored.state_hash() == market.engine.state_hash() == run().engine.state_hash()
    assert restored.risk is not None and restored.risk.client_orders is restored.client_orders
    events = close(market, "2026-11-30")
    out: list[Event] = []
    restored.risk.corporate_actions.at_close(
        restored.risk.calendar.session_of_date("2026-11-30"), market.seq, market.ts, out
    )
    restored.last_seq, restored.last_ts = market.seq, market.ts
    assert out == events and of_type(out, StockSplitApplied)
    assert restored.snapshot() == market.engine.snapshot()


def test_a_state_from_before_corporate_actions_still_decodes() -> None:
    market = holders_market()
    state = risk_of(market).export_state()
    assert state.corporate_actions is None
    older = msgspec.msgpack.decode(msgspec.msgpack.encode(state))[:-1]  # without the field
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(older), type=RiskState)
    assert decoded == state
