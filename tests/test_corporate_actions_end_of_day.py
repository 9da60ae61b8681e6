"""Corporate actions through `Engine.apply`: announced, applied by `CloseDay` before the
session they take effect in, dividends paid by `SettleDay` on their pay date; a replay of
the journal and a restored snapshot reach the same state."""

from eod_helpers import close_at, close_time, market_at, of_type, settle_at
from risk_helpers import DOLLAR
from tradingfloor.domain.commands import AnnounceCorporateAction
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import (
    DayClosed,
    DaySettled,
    DividendEntitled,
    DividendPaid,
    Event,
    OrderAdjusted,
    SharesSettled,
    StockSplitApplied,
    SymbolChanged,
    TradeExecuted,
)
from tradingfloor.engine import Engine
from tradingfloor.risk.calendar import ts_at

BUY, SELL = Side.BUY, Side.SELL
CENT = DOLLAR // 100
SESSIONS = ["2026-11-24", "2026-11-25", "2026-11-27", "2026-11-30", "2026-12-01", "2026-12-02"]


def _kinds(events: list[Event]) -> list[str]:
    return [type(event).__name__ for event in events]


def test_each_kind_of_action_through_close_settle_and_replay() -> None:
    market = market_at("2026-11-24 10:00")
    for action in (
        StockSplit("split", "XYZ", 1, 2, "2026-11-27"),
        CashDividend("div", "XYZ", 1_000, "2026-12-01", "2026-12-03"),
        SymbolChange("rename", "XYZ", "XYZN", "2026-12-02"),
    ):
        market.do(AnnounceCorporateAction(action))
    market.order("bob", SELL, 10, 100 * DOLLAR)
    market.order("alice", BUY, 10, 100 * DOLLAR)  # trade date 11-24, settles 11-27
    resting, _ = market.order("bob", SELL, 100, 10_100 * CENT)
    seen: dict[str, list[Event]] = {}
    for date, following in zip(SESSIONS, [*SESSIONS[1:], "2026-12-03"], strict=True):
        if date == "2026-12-02":
            market.ts = ts_at("2026-12-02 10:00")
            _, bought = market.order("alice", BUY, 30, 5_050 * CENT, symbol="XYZN")
            (trade,) = of_type(bought, TradeExecuted)
            assert (trade.symbol, trade.maker_order_id, trade.price) == (
                "XYZN",
                resting,
                5_050 * CENT,
            )
        closed = close_at(market, date, close_time(date))
        assert of_type(closed, DayClosed) and type(closed[-1]) is DayClosed
        settled = settle_at(market, following, close_time(date))
        assert type(settled[-1]) is DaySettled
        seen[date], seen[following + " settle"] = closed, settled

    split = seen["2026-11-25"]  # the close before the ex-date
    assert {e.account: e.new_qty for e in of_type(split, StockSplitApplied)} == {
        "alice": 20,
        "bob": 1_980,
    }
    (adjusted,) = of_type(split, OrderAdjusted)
    assert (adjusted.order_id, adjusted.qty, adjusted.price) == (resting, 200, 5_050 * CENT)
    shares = {(e.account, e.qty) for e in of_type(seen["2026-11-27 settle"], SharesSettled)}
    assert shares == {("alice", 20), ("bob", -20)}  # traded as 10, settled as 20
    entitled = of_type(seen["2026-11-27"], DividendEntitled)  # ex-date 11-30 under T+2
    assert {(e.account, e.qty) for e in entitled} == {("alice", 20), ("bob", 1_980)}
    assert of_type(seen["2026-12-01"], SymbolChanged)
    paid = seen["2026-12-03 settle"]
    assert _kinds(paid)[-3:] == ["DividendPaid", "DividendPaid", "DaySettled"]
    assert {(e.account, e.symbol, e.amount) for e in of_type(paid, DividendPaid)} == {
        ("alice", "XYZN", 20_000),
        ("bob", "XYZN", 1_980_000),
    }
    market.check_postings()

    replayed = Engine(market.settings)
    for command, seq, ts in market.journal:
        replayed.apply(command, seq, ts)
    assert replayed.state_hash() == market.engine.state_hash()
    assert Engine.restore(market.engine.snapshot()).state_hash() == market.engine.state_hash()
