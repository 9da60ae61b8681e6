"""What the settlement role knows from the feeds, from crafted events: settled balances as of
a cut (fees added back), movements between cuts, what each settlement settled, corporate
actions' changes, and moves of cash between shards left out."""

from tradingfloor.domain.corporate_actions import StockSplit
from tradingfloor.domain.enums import BreakKind, Side
from tradingfloor.domain.events import (
    BreakOpened,
    BreakResolved,
    CashAllocatedIn,
    CashAllocatedOut,
    CorporateActionAnnounced,
    DayClosed,
    DaySettled,
    FundsDeposited,
    FundsSettled,
    SharesDeposited,
    SharesSettled,
    StockSplitApplied,
    SymbolChanged,
    TradeExecuted,
)
from tradingfloor.risk.calendar import calendar_for, ts_at
from tradingfloor.settlement.feed_state import FeedState
from tradingfloor.settlement.records import Movement

CALENDAR = calendar_for()
MONDAY = ts_at("2026-11-30 10:00")
TUESDAY_EVENING = ts_at("2026-12-01 16:30")


def fill(trade_id: int, qty: int, price: int, buy_fee: int, sell_fee: int) -> TradeExecuted:
    """ann buys from bob (ann the taker)."""
    return TradeExecuted(
        1, MONDAY, "AAPL", trade_id, price, qty, 1, 2, "bob", "ann", Side.BUY, 0, 0,
        sell_fee, buy_fee,
    )  # fmt: skip


def test_balances_movements_and_settlements_as_of_each_cut() -> None:
    feed = FeedState(CALENDAR, 1)
    feed.apply("main", 1, MONDAY, [FundsDeposited(1, MONDAY, "ann", 10_000)])
    feed.apply("main", 2, MONDAY, [SharesDeposited(2, MONDAY, "bob", "AAPL", 50, 100)])
    feed.apply("main", 3, MONDAY, [fill(1, 10, 100, 7, 3)])
    feed.apply("main", 4, MONDAY, [CashAllocatedOut(4, MONDAY, "ann", 500, "west")])
    feed.apply("main", 5, TUESDAY_EVENING - 1, [DayClosed(5, MONDAY, "2026-11-30", 0, 0)])
    feed.apply("main", 6, TUESDAY_EVENING, [
        FundsSettled(6, 0, "ann", -1_007), SharesSettled(6, 0, "ann", "AAPL", 10),
        FundsSettled(6, 0, "bob", 997), SharesSettled(6, 0, "bob", "AAPL", -10),
        DaySettled(6, 0, "2026-12-01", ["2026-11-30"]),
    ])  # fmt: skip
    feed.apply("main", 7, TUESDAY_EVENING, [FundsDeposited(7, 0, "bob", 1)])

    assert feed.last_closed() == "2026-11-30"
    assert feed.cut("2026-12-01") == {"main": 6}
    assert feed.settled_trade_dates("2026-12-01") == ["2026-11-30"]
    assert feed.settled_by_ledger("2026-12-01") == (
        {"ann": -1_007, "bob": 997},
        {("ann", "AAPL"): 10, ("bob", "AAPL"): -10},
    )
    # The fees (ann 7, bob 3) are added back: the clearinghouse moved 1,000 each way. The
    # cash allocated to another shard is still ann's; bob's later deposit is past the cut.
    assert feed.balances({"main": 6}) == {
        ("ann", "USD"): 10_000 - 1_000,
        ("ann", "AAPL"): 10,
        ("bob", "USD"): 1_000,
        ("bob", "AAPL"): 40,
    }
    assert feed.balances({"main": 2}) == {("ann", "USD"): 10_000, ("bob", "AAPL"): 50}
    assert feed.movements({"main": 0}, {"main": 6}, "2026-12-01") == [
        Movement("main:1:0", "2026-12-01", "ann", "USD", 10_000),
        Movement("main:2:0", "2026-12-01", "bob", "AAPL", 50),
    ]
    assert feed.movements({"main": 6}, {"main": 7}, "2026-12-02") == [
        Movement("main:7:0", "2026-12-02", "bob", "USD", 1)
    ]
    feed.apply("main", 8, TUESDAY_EVENING, [CashAllocatedIn(8, 0, "ann", 500, "west", 4)])
    assert feed.balances({"main": 8})[("ann", "USD")] == 9_000  # a move in is left out too


def test_corporate_actions_change_settled_shares_and_breaks_are_known() -> None:
    feed = FeedState(CALENDAR, 2)
    split = StockSplit("s1", "FB", 1, 2, "2026-12-02")
    feed.apply("main", 1, MONDAY, [SharesDeposited(1, MONDAY, "ann", "FB", 10, 100)])
    feed.apply("main", 2, MONDAY, [CorporateActionAnnounced(2, MONDAY, split)])
    feed.apply("main", 3, MONDAY, [StockSplitApplied(3, MONDAY, "s1", "ann", "FB", 10, 20, 0)])
    feed.apply("main", 4, MONDAY, [SymbolChanged(4, MONDAY, "c1", "FB", "META")])
    feed.apply("main", 5, MONDAY, [
        BreakOpened(5, MONDAY, "d/CASH_DIFFERS/ann/USD", "d", BreakKind.CASH_DIFFERS, "ann",
                    "USD", 0, 0, 1, 2, "x"),
    ])  # fmt: skip
    feed.apply("main", 6, MONDAY, [
        BreakResolved(6, MONDAY, "d/CASH_DIFFERS/ann/USD", "ops", "fixed", "ann", "USD", 1, 0),
    ])  # fmt: skip

    assert feed.balances({"main": 6}) == {("ann", "META"): 20, ("ann", "USD"): 1}
    moved = feed.movements({}, {"main": 6}, "2026-12-02")
    # The break's adjustment (1 USD) is in the balances, and no movement.
    assert [(item.symbol, item.qty) for item in moved] == [
        ("FB", 10), ("FB", 10), ("FB", -20), ("META", 20),
    ]  # fmt: skip
    assert "d/CASH_DIFFERS/ann/USD" in feed.breaks and feed.resolved == {"d/CASH_DIFFERS/ann/USD"}
