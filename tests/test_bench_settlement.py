"""`bench settlement` at a small size: its day trades what it says, clears every trade through
a real clearinghouse process, settles at T+2 and reconciles with no break."""

from tradingfloor.bench.settlement import bench_settlement


def test_a_small_day_is_netted_cleared_settled_and_reconciled_clean() -> None:
    result = bench_settlement(fills=600, accounts=120, symbols=6, seed=3)
    assert (result.fills, result.trades, result.accounts) == (600, 600, 120)
    assert result.breaks == 0
    # 120 accounts' deposits of cash and of shares reach the clearinghouse as movements.
    assert result.movements == 240
    steps = {"submit+confirm", "confirmations", "settle", "holdings", "movements"}
    assert set(result.clearing_s) == steps
    assert any("breaks" in line and " 0 " in line for line in result.lines())
