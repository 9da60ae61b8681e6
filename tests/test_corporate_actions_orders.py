"""Corporate actions and the orders around them: trailing stops through a split, a buy the
fees of a split cannot cover, a dividend that takes a price to nothing, and the router that
sends an announcement to the symbol's shard and learns a renamed symbol's shard."""

from typing import Any

from corporate_helpers import announce, close, holders_market, of_type, risk_of, settle
from risk_helpers import DOLLAR, Market
from tradingfloor.domain.commands import (
    AddInstrument,
    AnnounceCorporateAction,
    HaltTrading,
    HandOverSymbol,
    RecordBreak,
    ResolveBreak,
    SetReferencePrice,
    TakeOverSymbol,
)
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import BreakKind, CancelReason, OrderType, Side
from tradingfloor.domain.events import (
    DividendEntitled,
    DividendPaid,
    OrderAdjusted,
    OrderCanceled,
    StockSplitApplied,
    SymbolChanged,
    SymbolHandedOver,
    SymbolTakenOver,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.settings import FeeSchedule, RiskSettings
from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN, ShardMap
from tradingfloor.marketdata.view import MarketDataView
from tradingfloor.risk.calendar import ts_at
from tradingfloor.service.shard_router import ShardRouter, break_shard

BUY, SELL = Side.BUY, Side.SELL
CENT = DOLLAR // 100


def test_a_trailing_stop_keeps_its_distance_through_a_split() -> None:
    market = holders_market()
    market.account("maker", cash=100_000 * DOLLAR, shares={"XYZ": 100})
    market.order("maker", SELL, 1, 100 * DOLLAR)
    market.order("bob", BUY, 1, 100 * DOLLAR)  # a last trade at $100
    trailing, _ = market.order(
        "alice", SELL, 10, order_type=OrderType.TRAILING_STOP, trail_price=2 * DOLLAR
    )
    announce(market, StockSplit("split", "XYZ", 1, 4, "2026-11-25"))

    (adjusted,) = of_type(close(market, "2026-11-24"), OrderAdjusted)

    assert (adjusted.order_id, adjusted.qty) == (trailing, 40)
    order = market.engine.books["XYZ"].order_view(trailing)
    assert order is not None
    assert (order.watermark, order.trail_price, order.stop_price) == (
        25 * DOLLAR,
        50 * CENT,
        2_450 * CENT,
    )


def test_a_buy_whose_split_fees_the_account_cannot_cover_is_canceled() -> None:
    fees = FeeSchedule(maker_per_share=100, taker_per_share=100)  # a cent a share
    market = holders_market(RiskSettings(fees=fees))
    market.account("dan", cash=9_995 * DOLLAR)
    tight, _ = market.order("dan", BUY, 100, 9_990 * CENT)  # $9,990 + $1 of fees held
    loose, _ = market.order("bob", BUY, 100, 9_990 * CENT)
    announce(market, StockSplit("split", "XYZ", 1, 10, "2026-11-25"))

    events = close(market, "2026-11-24")

    (canceled,) = of_type(events, OrderCanceled)  # 1,000 shares at $9.99 + $10 of fees
    assert (canceled.order_id, canceled.reason) == (tight, CancelReason.CORPORATE_ACTION)
    assert [event.order_id for event in of_type(events, OrderAdjusted)] == [loose]
    assert risk_of(market).ledger.accounts["dan"].held == 0


def test_a_dividend_cancels_a_buy_it_would_take_to_nothing() -> None:
    market = holders_market()
    market.do(AddInstrument(Instrument("PENNY")))
    market.do(SetReferencePrice("PENNY", 50))
    market.account("holder", shares={"PENNY": 1_000})
    low, _ = market.order("bob", BUY, 1_000, 48, symbol="PENNY")
    stop, _ = market.order(
        "holder",
        SELL,
        10,
        order_type=OrderType.STOP_LIMIT,
        stop_price=47,
        price=46,
        symbol="PENNY",
    )
    announce(market, CashDividend("div", "PENNY", 60, "2026-11-30", "2026-12-02"))
    for date in ("2026-11-24", "2026-11-25"):
        events = close(market, date)
    canceled = {event.order_id for event in of_type(events, OrderCanceled)}
    assert canceled == {low, stop}
    assert not risk_of(market).ledger.holds


def test_the_router_sends_an_announcement_to_the_symbols_shard_and_learns_a_new_name() -> None:
    shard_map = ShardMap(("east", "west"), {"AAA": "east", "BBB": "west"})
    ports: dict[str, Any] = {"east": object(), "west": object()}
    router = ShardRouter(shard_map, ports)
    rename = SymbolChange("r", "BBB", "BBBN", "2026-11-25")
    assert router.shard_of(AnnounceCorporateAction(rename)) == "west"
    router.learn([(7, 0, [SymbolChanged(7, 0, "r", "BBB", "BBBN", [])])])
    assert router.moved["BBBN"] == "west"
    moved = SymbolChange("s", "BBBN", "AAA2", "2026-11-30")
    assert router.shard_of(AnnounceCorporateAction(moved)) == "west"


def test_pending_actions_move_with_their_symbol_to_another_shard() -> None:
    east, west = holders_market(), Market(ts=ts_at("2026-11-24 10:00"))
    west.order_id = ORDER_ID_SHARD_SPAN
    west.listing("ABC")
    announce(east, StockSplit("split", "XYZ", 1, 2, "2026-11-30"))
    announce(east, CashDividend("div", "XYZ", 1_000, "2026-11-30", "2026-12-01"))
    close(east, "2026-11-24")
    close(west, "2026-11-24")
    assert of_type(close(east, "2026-11-25"), DividendEntitled)  # owed, not paid yet
    east.do(HaltTrading("XYZ"))
    (handed,) = of_type(east.do(HandOverSymbol("XYZ", "west")), SymbolHandedOver)
    west.do(TakeOverSymbol("XYZ", "east", east.seq, "west", handed.state))
    assert not risk_of(east).corporate_actions.pending
    assert not risk_of(east).corporate_actions.entitlements
    assert "split" in risk_of(east).corporate_actions.done  # its id stays used there

    close(west, "2026-11-25")
    applied = of_type(close(west, "2026-11-27"), StockSplitApplied)
    assert [(e.account, e.new_qty) for e in applied] == [("alice", 202)]
    paid = of_type(settle(west, "2026-12-01"), DividendPaid)
    assert [(e.account, e.amount) for e in paid] == [("alice", 101_000)]


def test_market_data_follows_adjusted_orders_and_a_new_name() -> None:
    market = holders_market()
    market.order("bob", BUY, 10, 9_999 * CENT)
    market.order("carol", BUY, 7, 9_998 * CENT)
    market.order("alice", SELL, 30, 10_003 * CENT)
    market.order("alice", SELL, 5, order_type=OrderType.STOP, stop_price=9_001 * CENT)
    announce(market, StockSplit("split", "XYZ", 2, 3, "2026-11-25"))
    announce(market, CashDividend("div", "XYZ", 1_234, "2026-11-30", "2026-12-02"))
    announce(market, SymbolChange("rename", "XYZ", "XYZW", "2026-11-30"))
    for date in ("2026-11-24", "2026-11-25", "2026-11-27"):
        close(market, date)
    market.ts = ts_at("2026-11-30 10:00")
    market.account("dave", shares={"XYZW": 20})
    market.order("dave", SELL, 20, 6_600 * CENT, symbol="XYZW")
    view = MarketDataView()
    for seq in sorted({event.seq for event in market.events}):
        view.apply(seq, 0, [event for event in market.events if event.seq == seq])
    assert set(view.symbols()) == {"XYZW"}
    book = market.engine.books["XYZW"]
    depth, seen = book.depth(), view.depth("XYZW")
    assert [(b.price, b.qty, b.order_count) for b in seen.bids] == [
        (b.price, b.qty, b.order_count) for b in depth.bids
    ]
    assert [(a.price, a.qty) for a in seen.asks] == [(a.price, a.qty) for a in depth.asks]
    assert depth.bids and depth.asks


def test_the_router_sends_a_break_to_its_symbols_shard_and_a_cash_break_to_the_first() -> None:
    """One shard records a break and resolves it (another would refuse it as unknown)."""
    shard_map = ShardMap(("east", "west"), {"AAA": "east", "BBB": "west"})
    router = ShardRouter(shard_map, {"east": object(), "west": object()})  # type: ignore[dict-item]
    kind = BreakKind.POSITION_DIFFERS
    for symbol, shard in (("BBB", "west"), ("AAA", "east"), ("USD", "east"), ("", "east")):
        record = RecordBreak(f"d/{symbol}", "2026-12-01", kind, "A", symbol, 1, 2, 0, 0, "")
        assert router.shard_of(record) == shard
        assert router.shard_of(ResolveBreak(f"d/{symbol}", "ops", "why", "A", symbol)) == shard
        assert break_shard(shard_map, symbol) == shard


def test_breaks_follow_a_symbol_moved_to_another_shard() -> None:
    """The router and the settlement role's route learn a move from the feed alike."""
    from tradingfloor.bootstrap.settlement_role import break_route
    from tradingfloor.config import load_settings

    settings = load_settings(
        None,
        shards=["east", "west"],
        shard_name="east",
        symbol_shards={"AAA": "east", "BBB": "west"},
    )
    shard_map = ShardMap.of_settings(settings)
    router = ShardRouter(shard_map, {"east": object(), "west": object()})  # type: ignore[dict-item]
    route, learn = break_route(settings)
    assert route("A", "BBB") == "west" == router.shard_of(ResolveBreak("b", "o", "r", "A", "BBB"))
    moved = SymbolTakenOver(
        9, 0, "BBB", "west", 8, "east", [], [], [], Instrument("BBB"), None, None
    )
    for listener in (router.learn, learn):
        listener([(9, 0, [moved])])
    assert route("A", "BBB") == "east" == router.shard_of(ResolveBreak("b", "o", "r", "A", "BBB"))
    assert route("A", "USD") == "east" and route("A", "AAA") == "east"
