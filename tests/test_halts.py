"""Halts and circuit breakers: the 10%-in-5-minutes symbol halt, LULD bands by tier (doubled
near the open and close), market-wide levels 1-3, manual halt and resume."""

from risk_helpers import DOLLAR, MINUTE, SECOND, Market, rejection
from tradingfloor.domain.commands import (
    CancelOrder,
    HaltTrading,
    ResumeTrading,
    UpdateMarketIndex,
)
from tradingfloor.domain.enums import HaltReason, Side
from tradingfloor.domain.events import TradingHalted, TradingResumed
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.risk.calendar import ts_at

BUY, SELL = Side.BUY, Side.SELL


def traded_market(settings: RiskSettings | None = None, tier: int = 2) -> Market:
    market = Market(settings or RiskSettings())
    market.listing("XYZ", 100 * DOLLAR, tier=tier)
    market.account("buyer", cash=10_000_000 * DOLLAR)
    market.account("seller", shares={"XYZ": 100_000})
    return market


def trade_at(market: Market, price: int, advance_ns: int = SECOND) -> list[object]:
    market.order("seller", SELL, 10, price, advance_ns=advance_ns)
    _, events = market.order("buyer", BUY, 10, price)
    return events


def test_a_move_of_more_than_ten_percent_within_five_minutes_halts_the_symbol() -> None:
    market = traded_market()
    trade_at(market, 100 * DOLLAR)
    trade_at(market, 105 * DOLLAR)
    events = trade_at(market, 110 * DOLLAR)  # exactly 10%: not more
    assert not [e for e in events if isinstance(e, TradingHalted)]
    resting_id, _ = market.order("buyer", BUY, 10, 100 * DOLLAR)

    events = trade_at(market, 110 * DOLLAR + 100)

    (halted,) = [e for e in events if isinstance(e, TradingHalted)]
    assert (halted.symbol, halted.reason) == ("XYZ", HaltReason.PRICE_MOVE)
    assert halted.until_ts == market.ts + 5 * MINUTE
    _, events = market.order("buyer", BUY, 10, 105 * DOLLAR)
    assert rejection(events) == RejectReason.SYMBOL_HALTED
    assert market.engine.book("XYZ").is_live(resting_id)  # resting orders stay
    assert rejection(market.do(CancelOrder(resting_id, "XYZ", "buyer"))) is None

    _, events = market.order("buyer", BUY, 10, 105 * DOLLAR, advance_ns=5 * MINUTE)

    assert any(isinstance(e, TradingResumed) and e.symbol == "XYZ" for e in events)
    assert rejection(events) is None


def test_the_same_move_spread_over_more_than_five_minutes_does_not_halt() -> None:
    market = traded_market()
    halts = []
    for price in (100, 104, 108, 111):
        halts += [
            e for e in trade_at(market, price * DOLLAR, 2 * MINUTE) if isinstance(e, TradingHalted)
        ]
    assert halts == []


def test_luld_band_by_tier_and_doubled_near_the_open() -> None:
    tier_1 = traded_market(tier=1)  # 5% band around the $100 reference
    _, events = tier_1.order("buyer", BUY, 1, 105 * DOLLAR)
    assert rejection(events) is None
    _, events = tier_1.order("buyer", BUY, 1, 105 * DOLLAR + 100)
    assert rejection(events) == RejectReason.PRICE_OUTSIDE_BAND
    _, events = tier_1.order("seller", SELL, 1, 94 * DOLLAR)
    assert rejection(events) == RejectReason.PRICE_OUTSIDE_BAND

    tier_1.ts = ts_at("2026-11-24 09:40")  # within 15 minutes of the open: 10%
    _, events = tier_1.order("buyer", BUY, 1, 108 * DOLLAR)
    assert rejection(events) is None
    tier_1.ts = ts_at("2026-11-24 15:40")  # within 25 minutes of the close: 10%
    _, events = tier_1.order("buyer", BUY, 1, 109 * DOLLAR)
    assert rejection(events) is None


def test_the_luld_reference_is_the_mean_of_the_last_five_minutes_of_trades() -> None:
    market = traded_market(tier=1)
    trade_at(market, 100 * DOLLAR)
    trade_at(market, 104 * DOLLAR)  # mean $102: band $96.90 .. $107.10
    # the limits of a second are fixed by its first order: the next second sees the new mean
    _, events = market.order("buyer", BUY, 1, 107 * DOLLAR, advance_ns=SECOND)
    assert rejection(events) is None
    _, events = market.order("buyer", BUY, 1, 107 * DOLLAR + 1_100)
    assert rejection(events) == RejectReason.PRICE_OUTSIDE_BAND


def test_a_market_order_is_capped_at_the_band() -> None:
    market = traded_market(tier=1)
    market.order("seller", SELL, 10, 104 * DOLLAR)
    market.order("seller", SELL, 10, 106 * DOLLAR)  # beyond the 5% band
    _, events = market.order("buyer", BUY, 20)
    filled = sum(getattr(e, "qty", 0) for e in events if type(e).__name__ == "TradeExecuted")
    assert filled == 10


def test_market_wide_levels_halt_all_symbols_for_fifteen_minutes_then_the_day() -> None:
    market = traded_market()
    market.listing("ABC", 50 * DOLLAR)
    market.ts = ts_at("2026-11-24 11:00")
    assert market.do(UpdateMarketIndex(5_000 * DOLLAR, 5_000 * DOLLAR)) == []

    events = market.do(UpdateMarketIndex(4_650 * DOLLAR))  # -7%

    (halted,) = events
    assert isinstance(halted, TradingHalted) and halted.symbol is None
    assert halted.reason == HaltReason.MARKET_WIDE_LEVEL_1
    for symbol in ("XYZ", "ABC"):
        _, events = market.order("buyer", BUY, 1, 50 * DOLLAR, symbol=symbol)
        assert rejection(events) == RejectReason.MARKET_HALTED
    _, events = market.order("buyer", BUY, 1, 99 * DOLLAR, advance_ns=15 * MINUTE)
    assert rejection(events) is None
    assert market.do(UpdateMarketIndex(4_600 * DOLLAR)) == []  # level 1 only once a day

    (level_2,) = market.do(UpdateMarketIndex(4_350 * DOLLAR))  # -13%
    assert level_2.reason == HaltReason.MARKET_WIDE_LEVEL_2  # type: ignore[attr-defined]
    market.ts += 15 * MINUTE
    (level_3,) = market.do(UpdateMarketIndex(4_000 * DOLLAR))  # -20%
    assert level_3.reason == HaltReason.MARKET_WIDE_LEVEL_3  # type: ignore[attr-defined]
    market.ts = ts_at("2026-11-24 15:55")
    _, events = market.order("buyer", BUY, 1, 99 * DOLLAR)
    assert rejection(events) == RejectReason.MARKET_HALTED

    market.ts = ts_at("2026-11-25 09:30")  # the next session
    _, events = market.order("buyer", BUY, 1, 99 * DOLLAR)
    assert rejection(events) is None
    assert any(isinstance(e, TradingResumed) and e.symbol is None for e in events)


def test_levels_1_and_2_do_not_halt_after_3_25_pm() -> None:
    market = traded_market()
    market.ts = ts_at("2026-11-24 15:30")
    market.do(UpdateMarketIndex(5_000 * DOLLAR, 5_000 * DOLLAR))
    assert market.do(UpdateMarketIndex(4_300 * DOLLAR)) == []
    (level_3,) = market.do(UpdateMarketIndex(3_990 * DOLLAR))
    assert level_3.reason == HaltReason.MARKET_WIDE_LEVEL_3  # type: ignore[attr-defined]


def test_manual_halt_and_resume() -> None:
    market = traded_market()
    (halted,) = market.do(HaltTrading("XYZ"))
    assert isinstance(halted, TradingHalted) and halted.until_ts is None
    _, events = market.order("buyer", BUY, 1, 100 * DOLLAR, advance_ns=60 * MINUTE)
    assert rejection(events) == RejectReason.SYMBOL_HALTED
    assert [type(e) for e in market.do(ResumeTrading("XYZ"))] == [TradingResumed]
    _, events = market.order("buyer", BUY, 1, 100 * DOLLAR)
    assert rejection(events) is None
    assert rejection(market.do(HaltTrading("NOPE"))) == RejectReason.UNKNOWN_SYMBOL
