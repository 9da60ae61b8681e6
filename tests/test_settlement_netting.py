"""Netting of fills and the movements outside trading: pure functions, crafted events."""

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import (
    BreakResolved,
    CashAllocatedIn,
    CashAllocatedOut,
    DividendPaid,
    FundsDeposited,
    FundsSettled,
    FundsWithdrawn,
    SharesDeposited,
    SharesWithdrawn,
    StockSplitApplied,
    SymbolChanged,
    TradeExecuted,
)
from tradingfloor.settlement.movements import (
    Change,
    adjustment_changes,
    as_movements,
    changes_of,
    split_changes,
    symbol_change_changes,
)
from tradingfloor.settlement.netting import (
    Adjustment,
    Obligation,
    cash_by_account,
    clearing_trades,
    ledger_obligations,
    net_obligations,
)
from tradingfloor.settlement.records import ClearingTrade, Movement


def fill(
    trade_id: int,
    buyer: str,
    seller: str,
    qty: int,
    price: int,
    aggressor: Side = Side.BUY,
    buy_fee: int = 0,
    sell_fee: int = 0,
    symbol: str = "AAPL",
) -> TradeExecuted:
    """A fill between `buyer` and `seller`, the taker on the `aggressor` side."""
    if aggressor == Side.BUY:
        maker, taker, maker_fee, taker_fee = seller, buyer, sell_fee, buy_fee
    else:
        maker, taker, maker_fee, taker_fee = buyer, seller, buy_fee, sell_fee
    return TradeExecuted(
        trade_id, 0, symbol, trade_id, price, qty, 1, 2, maker, taker, aggressor, 0, 0,
        maker_fee, taker_fee,
    )  # fmt: skip


def test_clearing_trades_name_the_buyer_and_seller_whoever_the_aggressor_and_sort_by_ref() -> None:
    fills = [
        ("main", fill(10, "ann", "bob", 5, 1_000_000, Side.SELL)),
        ("main", fill(9, "cat", "ann", 2, 1_010_000, Side.BUY)),
    ]

    trades = clearing_trades(fills, "2026-12-01", "2026-12-03")

    assert trades == [
        ClearingTrade(
            "main:AAPL:9", "2026-12-01", "2026-12-03", "AAPL", "cat", "ann", 2, 1_010_000
        ),
        ClearingTrade(
            "main:AAPL:10", "2026-12-01", "2026-12-03", "AAPL", "ann", "bob", 5, 1_000_000
        ),
    ]


def test_obligations_net_per_account_and_symbol_with_fees_only_in_the_ledger_view() -> None:
    fills = [
        ("main", fill(1, "ann", "bob", 10, 100, buy_fee=3, sell_fee=2)),
        ("main", fill(2, "bob", "ann", 4, 110, Side.SELL, buy_fee=1, sell_fee=1)),
        ("main", fill(3, "ann", "bob", 1, 50, symbol="MSFT")),
    ]

    net = net_obligations(fills)

    assert net[("ann", "AAPL")] == Obligation(6, -1000 + 440, -1003 + 439, 4)
    assert net[("bob", "AAPL")] == Obligation(-6, 1000 - 440, 998 - 441, 3)
    assert net[("ann", "MSFT")] == Obligation(1, -50, -50, 0)
    by_account = cash_by_account(net)
    assert by_account["ann"].cash == -1000 + 440 - 50
    assert by_account["bob"].ledger_cash == 998 - 441 + 50
    # Conserved: every share and (clearing) dollar one side gets, the other gives.
    assert sum(item.shares for item in net.values()) == 0
    assert sum(item.cash for item in net.values()) == 0


def test_no_fills_net_to_nothing() -> None:
    assert net_obligations([]) == {}
    assert clearing_trades([], "2026-12-01", "2026-12-03") == []


def test_movements_are_the_settled_changes_outside_trading() -> None:
    assert changes_of(FundsDeposited(1, 0, "ann", 500)) == [Change("ann", "USD", 500)]
    assert changes_of(FundsWithdrawn(1, 0, "ann", 200)) == [Change("ann", "USD", -200)]
    assert changes_of(SharesDeposited(1, 0, "ann", "AAPL", 7, 100)) == [Change("ann", "AAPL", 7)]
    assert changes_of(SharesWithdrawn(1, 0, "ann", "AAPL", 3, 300)) == [Change("ann", "AAPL", -3)]
    assert changes_of(DividendPaid(1, 0, "d1", "ann", "AAPL", 90)) == [Change("ann", "USD", 90)]
    assert changes_of(StockSplitApplied(1, 0, "s1", "ann", "AAPL", 5, 1, 1234)) == [
        Change("ann", "AAPL", -4),
        Change("ann", "USD", 1234),
    ]


def test_trading_settlement_and_moves_between_shards_are_not_movements() -> None:
    assert changes_of(fill(1, "ann", "bob", 1, 100)) == []
    assert changes_of(FundsSettled(1, 0, "ann", 100)) == []
    assert changes_of(CashAllocatedOut(1, 0, "ann", 100, "west")) == []
    assert changes_of(CashAllocatedIn(1, 0, "ann", 100, "east", 7)) == []
    # A break's adjustment corrects the platform toward the clearinghouse: no movement, but
    # a change of the platform's settled balances.
    resolved = BreakResolved(1, 0, "b", "ops", "fix", "ann", "AAPL", -10, 2)
    assert changes_of(resolved) == []
    assert adjustment_changes(resolved) == [Change("ann", "AAPL", 2), Change("ann", "USD", -10)]


def test_a_symbol_change_moves_every_holders_settled_shares() -> None:
    event = SymbolChanged(1, 0, "c1", "FB", "META")

    changes = symbol_change_changes(event, {"bob": 3, "ann": 5, "cat": 0})

    assert changes == [
        Change("ann", "FB", -5),
        Change("ann", "META", 5),
        Change("bob", "FB", -3),
        Change("bob", "META", 3),
    ]


def test_movements_are_numbered_per_command_and_zero_ones_left_out() -> None:
    changes = [Change("ann", "AAPL", 0), Change("ann", "USD", 12)]

    assert as_movements("main", 42, changes, "2026-12-03") == [
        Movement("main:42:1", "2026-12-03", "ann", "USD", 12)
    ]


def test_a_split_moves_the_settled_part_of_a_position_only() -> None:
    # 10 settled and 5 unsettled shares, split 2-for-1: 30 shares, of which 10 unsettled
    # (they settle later as 10): the settled part goes from 10 to 20.
    event = StockSplitApplied(1, 0, "s1", "ann", "AAPL", 15, 30, 0)
    assert split_changes(event, 10, 1, 2) == [Change("ann", "AAPL", 10), Change("ann", "USD", 0)]
    # 3 sold and unsettled (-3 due) out of 10, reverse 1-for-2 with cash in lieu: 10 became
    # 5, the -3 due became -1 (toward zero), so settled went from 13 to 6.
    reverse = StockSplitApplied(1, 0, "s2", "ann", "AAPL", 10, 5, 4_000)
    assert split_changes(reverse, 13, 2, 1) == [
        Change("ann", "AAPL", -7),
        Change("ann", "USD", 4_000),
    ]


def test_the_ledger_netting_scales_unsettled_sessions_by_the_splits_and_renames_between() -> None:
    monday, tuesday = 100, 101
    fills = {
        monday: [("main", fill(1, "ann", "bob", 11, 100))],
        tuesday: [("main", fill(2, "ann", "bob", 3, 100))],
    }
    split = Adjustment("s", monday, 2, 5, "")  # applied at Monday's close
    rename = Adjustment("r", tuesday, 1, 1, "AAPX")  # at Tuesday's close

    settled = ledger_obligations(fills, {"AAPL": [split, rename]}, tuesday + 1)

    # Monday's 11 became 27 (toward zero), and both sessions are AAPX by settlement.
    assert settled[("ann", "AAPX")].shares == 27 + 3
    assert settled[("bob", "AAPX")].shares == -27 - 3
    assert settled[("ann", "AAPX")].cash == -1_400  # cash is not scaled
    # Settled before the rename: still AAPL, and only the split counts.
    assert (
        ledger_obligations(fills, {"AAPL": [split, rename]}, tuesday)[("ann", "AAPL")].shares == 30
    )
