"""The day-trade rule: day trades counted over 5 business days of the exchange calendar, and
the `pdt`, `intraday_margin` and `none` policies."""

import pytest

from risk_helpers import DOLLAR, Market, rejection
from tradingfloor.domain.commands import ConfigureRisk, DepositShares
from tradingfloor.domain.enums import AccountKind, DayTradePolicy, Side
from tradingfloor.domain.events import DayTradeCounted
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.risk.calendar import ts_at

BUY, SELL = Side.BUY, Side.SELL


def trader_market(
    policy: DayTradePolicy = DayTradePolicy.PDT,
    kind: AccountKind = AccountKind.MARGIN,
    cash: int = 20_000 * DOLLAR,
) -> Market:
    market = Market(RiskSettings(day_trade_policy=policy))
    market.listing("XYZ", 100 * DOLLAR)
    market.account("dan", cash=cash, kind=kind)
    market.account("maker", cash=1_000_000 * DOLLAR, shares={"XYZ": 10_000})
    return market


def day_trade(market: Market, when: str) -> list[object]:
    """dan buys 10 and sells them again in the same session; returns the day-trade events."""
    market.ts = ts_at(when)
    market.order("maker", SELL, 10, 100 * DOLLAR)
    _, bought = market.order("dan", BUY, 10, 100 * DOLLAR)
    assert rejection(bought) is None, bought
    market.order("maker", BUY, 10, 100 * DOLLAR)
    _, sold = market.order("dan", SELL, 10, 100 * DOLLAR)
    assert rejection(sold) is None, sold
    return [e for e in sold if isinstance(e, DayTradeCounted)]


def test_a_round_trip_in_one_session_is_one_day_trade() -> None:
    market = trader_market()
    (counted,) = day_trade(market, "2026-11-23 10:00")
    assert (counted.account, counted.symbol, counted.count) == ("dan", "XYZ", 1)
    assert market.summary("dan").day_trades == 1


def test_a_sell_of_shares_bought_on_an_earlier_session_is_not_a_day_trade() -> None:
    market = trader_market()
    market.ts = ts_at("2026-11-23 15:00")
    market.order("maker", SELL, 10, 100 * DOLLAR)
    market.order("dan", BUY, 10, 100 * DOLLAR)
    market.ts = ts_at("2026-11-24 10:00")
    market.order("maker", BUY, 10, 100 * DOLLAR)
    _, sold = market.order("dan", SELL, 10, 100 * DOLLAR)
    assert not [e for e in sold if isinstance(e, DayTradeCounted)]


def test_one_closing_order_filled_in_parts_counts_once() -> None:
    market = trader_market()
    market.order("maker", SELL, 10, 100 * DOLLAR)
    market.order("dan", BUY, 10, 100 * DOLLAR)
    market.order("maker", BUY, 4, 100 * DOLLAR)
    market.order("maker", BUY, 6, 100 * DOLLAR)
    _, sold = market.order("dan", SELL, 10, 100 * DOLLAR)
    assert len([e for e in sold if isinstance(e, DayTradeCounted)]) == 1


# Thanksgiving (Thu 2026-11-26) is closed: Wed 11-25 to Wed 12-02 is five sessions.
HOLIDAY_WEEK = ["2026-11-25 10:00", "2026-11-27 10:00", "2026-11-30 10:00", "2026-12-01 10:00"]


def test_pdt_flags_the_fourth_day_trade_within_five_business_days_across_a_holiday() -> None:
    market = trader_market()
    counts = [day_trade(market, when)[0].count for when in HOLIDAY_WEEK]  # type: ignore[attr-defined]
    assert counts == [1, 2, 3, 4]

    market.ts = ts_at("2026-12-02 10:00")  # 11-25 is still within the five sessions
    market.order("maker", SELL, 10, 100 * DOLLAR)
    _, events = market.order("dan", BUY, 1, 100 * DOLLAR)
    assert rejection(events) == RejectReason.PATTERN_DAY_TRADER
    assert market.summary("dan").pattern_day_trader

    market.ts = ts_at("2026-12-03 10:00")  # now 11-25 has left the window: three remain
    _, events = market.order("dan", BUY, 1, 100 * DOLLAR)
    assert rejection(events) is None
    assert market.summary("dan").day_trades == 3


def test_a_flagged_account_may_still_close_positions() -> None:
    market = trader_market()
    market.do(DepositShares("dan", "XYZ", 20, 90 * DOLLAR))  # equity stays under $25,000
    for when in HOLIDAY_WEEK:
        day_trade(market, when)
    market.ts = ts_at("2026-12-01 11:00")
    _, events = market.order("dan", BUY, 1, 100 * DOLLAR)
    assert rejection(events) == RejectReason.PATTERN_DAY_TRADER
    market.order("maker", BUY, 20, 100 * DOLLAR)

    _, events = market.order("dan", SELL, 20, 100 * DOLLAR)

    assert rejection(events) is None
    assert market.position("dan").qty == 0


def test_pdt_does_not_apply_at_or_above_the_equity_minimum() -> None:
    market = trader_market(cash=25_000 * DOLLAR)
    for when in HOLIDAY_WEEK:
        day_trade(market, when)
    market.ts = ts_at("2026-12-02 10:00")
    market.order("maker", SELL, 10, 100 * DOLLAR)
    _, events = market.order("dan", BUY, 1, 100 * DOLLAR)
    assert rejection(events) is None


@pytest.mark.parametrize(
    ("policy", "kind"),
    [(DayTradePolicy.PDT, AccountKind.CASH), (DayTradePolicy.NONE, AccountKind.MARGIN)],
)
def test_pdt_applies_only_to_margin_accounts_under_the_pdt_policy(
    policy: DayTradePolicy, kind: AccountKind
) -> None:
    market = trader_market(policy, kind)
    for when in HOLIDAY_WEEK:
        day_trade(market, when)
    market.ts = ts_at("2026-12-02 10:00")
    market.order("maker", SELL, 10, 100 * DOLLAR)
    _, events = market.order("dan", BUY, 1, 100 * DOLLAR)
    assert rejection(events) is None
    assert market.summary("dan").day_trades == 4


def test_intraday_margin_bounds_exposure_by_equity() -> None:
    market = trader_market(DayTradePolicy.INTRADAY_MARGIN)
    market.do(
        ConfigureRisk(
            RiskSettings(
                day_trade_policy=DayTradePolicy.INTRADAY_MARGIN, intraday_exposure_bps=5_000
            )
        )
    )
    market.order("maker", SELL, 200, 100 * DOLLAR)
    _, events = market.order("dan", BUY, 100, 100 * DOLLAR)  # $10,000 = half of $20,000
    assert rejection(events) is None
    _, events = market.order("dan", BUY, 1, 100 * DOLLAR)
    assert rejection(events) == RejectReason.INTRADAY_EXPOSURE_ABOVE_EQUITY
