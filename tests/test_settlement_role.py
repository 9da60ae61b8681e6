"""The settlement role on a one-process platform, on a clock the test moves: a year of
sessions (holidays, half days, DST) under T+1 and T+2, the injected faults as breaks, a
clearinghouse away, and a day run twice by hand."""

from pathlib import Path

import pytest

from clearing_fake import FakeClearinghouse
from settlement_harness import CALENDAR, DOLLAR, HOUR, Desk, close_of, run
from tradingfloor.domain.commands import AnnounceCorporateAction, PlaceOrder, ResolveBreak
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import BreakKind, OrderType, Side
from tradingfloor.domain.events import (
    BreakResolved,
    CommandRejected,
    DayClosed,
    DaySettled,
    FractionFilled,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import FeeSchedule, RiskSettings
from tradingfloor.risk.calendar import ts_at
from tradingfloor.settlement.records import CASH_SYMBOL

YEAR_FIRST = "2026-01-02"
YEAR_LAST = "2026-12-31"
HOLIDAYS = ("2026-01-19", "2026-04-03", "2026-07-03", "2026-11-26", "2026-12-25")
HALF_DAYS = ("2026-11-27", "2026-12-24")


def sessions(first: str, last: str) -> list[str]:
    start, end = CALENDAR.session_of_date(first), CALENDAR.session_of_date(last)
    return [CALENDAR.session_date(index) for index in range(start, end + 1)]


async def platform_balances(desk: Desk, accounts: list[str]) -> dict[tuple[str, str], int]:
    """Settled cash (with the fees the platform took added back: the clearinghouse never
    sees them) and settled shares per account, as the shard answers."""
    found: dict[tuple[str, str], int] = {}
    for account in accounts:
        summary = await desk.shard.account(account, desk.clock())
        assert summary is not None
        found[(account, CASH_SYMBOL)] = summary.settled_cash + summary.fees
        risk = desk.shard.engine.risk
        assert risk is not None
        ledger = risk.ledger.accounts[account]
        for symbol, position in ledger.positions.items():
            found[(account, symbol)] = position.qty - position.unsettled
    return {key: qty for key, qty in found.items() if qty}


async def clearing_balances(desk: Desk, as_of: str) -> dict[tuple[str, str], int]:
    return {
        (item.participant, item.symbol): item.qty for item in await desk.clearing.holdings(as_of)
    }


@pytest.mark.parametrize("settlement_sessions", [1, 2])
async def test_a_year_of_sessions_closes_each_at_its_close_and_settles_t_plus_n(
    tmp_path: Path, settlement_sessions: int
) -> None:
    fees = FeeSchedule(maker_per_share=20, taker_per_share=30, taker_notional_ppm=50)
    risk = RiskSettings(settlement_sessions=settlement_sessions, fees=fees)
    desk = Desk(tmp_path, YEAR_FIRST, risk)
    await desk.start()
    try:
        await desk.listing("AAPL")
        await desk.account("ann", 1_000_000 * DOLLAR)
        await desk.account("bob", 100_000 * DOLLAR, {"AAPL": 10_000})
        days = sessions(YEAR_FIRST, YEAR_LAST)
        for number, day in enumerate(days):
            await desk.trading_on(day)
            if number % 7 == 0:
                await desk.trade(
                    "ann", "bob", "AAPL", 10 + number % 5, (100 + number % 3) * DOLLAR
                )
            if number % 11 == 0:
                await desk.trade("bob", "ann", "AAPL", 3, 101 * DOLLAR)
            # Half an hour before the close (13:00 on a half day; 16:00 New York time, which
            # is 21:00 UTC in winter and 20:00 in summer): the role must not close yet.
            await desk.at(close_of(day) - HOUR // 2)
            await desk.past_close_of(day)
        for holiday in HOLIDAYS:
            assert holiday not in days
        events = desk.events()
        refused = [event for event in events if isinstance(event, CommandRejected)]
        assert refused == []
        closed = [event for event in events if isinstance(event, DayClosed)]
        assert [event.date for event in closed] == days
        for event in closed:
            assert close_of(event.date) <= event.ts <= close_of(event.date) + 2 * 1_000_000_000
        half_day = next(event for event in closed if event.date == HALF_DAYS[0])
        assert half_day.ts == ts_at(f"{HALF_DAYS[0]} 13:00:02")
        settled = [event for event in events if isinstance(event, DaySettled)]
        settled_dates = [date for event in settled for date in event.trade_dates]
        assert settled_dates == days[: len(days) + 1 - settlement_sessions]
        for records in desk.clearing.records.values():
            for trade in records:
                due = CALENDAR.session_of_date(trade.trade_date) + settlement_sessions
                assert trade.settle_date == CALENDAR.session_date(due)
        assert desk.breaks() == {}
        last_settle = CALENDAR.session_date(CALENDAR.session_of_date(days[-1]) + 1)
        ours = await platform_balances(desk, ["ann", "bob"])
        assert ours == await clearing_balances(desk, last_settle)
        assert ours[("ann", "AAPL")] > 0
        summary = await desk.shard.account("ann", desk.clock())
        assert summary is not None and summary.fees > 0  # added back above: the fees count
    finally:
        await desk.stop()


FAULT_BREAKS = {
    "drop": BreakKind.UNCONFIRMED,
    "alter": BreakKind.CONFIRMATION_DIFFERS,
    "duplicate": BreakKind.UNKNOWN_AT_PLATFORM,
    "late": BreakKind.LATE_CONFIRMATION,
}


@pytest.mark.parametrize("fault", sorted(FAULT_BREAKS))
async def test_each_fault_of_the_clearinghouse_becomes_a_break(tmp_path: Path, fault: str) -> None:
    day = "2026-12-01"
    desk = Desk(tmp_path, day, clearing=FakeClearinghouse({"main:AAPL:2": fault}))
    await desk.start()
    try:
        await desk.ann_buys_from_bob(day)
        await desk.trade("ann", "bob", "AAPL", 5, 100 * DOLLAR)
        ids = {
            event.trade_id for event in desk.events() if type(event).__name__ == "TradeExecuted"
        }
        assert 2 in ids  # the second fill is trade 2: the one the fault names
        for date in sessions(day, "2026-12-04"):
            await desk.trading_on(date)
            await desk.past_close_of(date)
        kinds = {item.kind for item in desk.breaks().values()}
        assert FAULT_BREAKS[fault] in kinds
        trade_breaks = [item for item in desk.breaks().values() if "main:AAPL:2" in item.break_id]
        assert trade_breaks, desk.breaks()
        if fault in ("drop", "alter", "duplicate"):  # the positions differ from then on
            assert BreakKind.POSITION_DIFFERS in kinds or BreakKind.OBLIGATION_DIFFERS in kinds
    finally:
        await desk.stop()


async def test_a_clean_day_and_a_day_without_trades_give_no_break(tmp_path: Path) -> None:
    desk = Desk(tmp_path, "2026-12-01")
    await desk.start()
    try:
        await desk.listing("AAPL", "MSFT")
        await desk.account("ann", 100_000 * DOLLAR)
        await desk.account("bob", 0, {"AAPL": 100, "MSFT": 50})
        for number, date in enumerate(sessions("2026-12-01", "2026-12-08")):
            await desk.trading_on(date)
            if number % 2 == 0:
                await desk.trade("ann", "bob", "AAPL", 10, 100 * DOLLAR)
                await desk.trade("bob", "ann", "AAPL", 4, 101 * DOLLAR)
                await desk.trade("ann", "bob", "MSFT", 5, 99 * DOLLAR)
            await desk.past_close_of(date)
        assert desk.breaks() == {}
    finally:
        await desk.stop()


async def test_the_role_fails_closed_while_the_clearinghouse_is_away(tmp_path: Path) -> None:
    day = "2026-12-01"
    desk = Desk(tmp_path, day)
    await desk.start()
    try:
        await desk.ann_buys_from_bob(day)
        desk.clearing.down = True
        await desk.at(close_of(day) + 2 * 1_000_000_000)
        role = desk.role
        assert role is not None
        await desk.until(lambda: "waiting for the clearinghouse" in role.status)
        # Closed, but nothing settled while the trades are not cleared.
        assert day in desk.closed_days()
        assert not any(isinstance(event, DaySettled) for event in desk.events())
        desk.clearing.down = False
        await desk.until(lambda: role.done == day)
        assert any(isinstance(event, DaySettled) for event in desk.events())
        assert desk.breaks() == {}
    finally:
        await desk.stop()


async def test_a_day_run_twice_by_hand_changes_nothing_the_second_time(tmp_path: Path) -> None:
    day = "2026-12-01"
    desk = Desk(tmp_path, day, clearing=FakeClearinghouse({"main:AAPL:1": "alter"}))
    await desk.start_shard()
    try:
        role = await desk.start_role(drive=False)
        await desk.ann_buys_from_bob(day)
        await desk.at(close_of(day) + 2 * 1_000_000_000)

        first = await run(role.run_day(day))
        before = len(desk.events())
        second = await run(role.run_day(day))
        again = desk.events()[before:]

        assert first.changed and first.closed_now == ["main"] and first.settled_now == ["main"]
        assert [item.kind for item in first.breaks_new] == [BreakKind.CONFIRMATION_DIFFERS]
        assert not second.changed
        assert second.breaks_new == []
        assert [item.break_id for item in second.breaks_known] == [
            item.break_id for item in first.breaks_new
        ]
        assert "nothing changed: this day was done already" in second.lines()
        # The shards refused the day's commands as done already; nothing else happened.
        assert {type(event) for event in again} == {CommandRejected}
        assert {event.reason for event in again if isinstance(event, CommandRejected)} == {
            RejectReason.DAY_ALREADY_CLOSED
        }
        assert len(desk.breaks()) == 1
    finally:
        await desk.stop()


async def test_a_difference_that_stays_the_same_is_one_break_not_one_a_day(
    tmp_path: Path,
) -> None:
    day = "2026-12-01"
    desk = Desk(tmp_path, day, clearing=FakeClearinghouse({"main:AAPL:1": "drop"}))
    await desk.start()
    try:
        await desk.ann_buys_from_bob(day)
        for date in sessions(day, "2026-12-09"):
            await desk.trading_on(date)
            await desk.past_close_of(date)
        holding_breaks = sorted(
            item.break_id
            for item in desk.breaks().values()
            if item.kind in (BreakKind.POSITION_DIFFERS, BreakKind.CASH_DIFFERS)
        )
        # Settled on 12-03 (T+2) at the platform, never at the clearinghouse: found then,
        # and the same difference on each day after is that break still.
        assert holding_breaks == [
            "2026-12-03/CASH_DIFFERS/ann/USD",
            "2026-12-03/CASH_DIFFERS/bob/USD",
            "2026-12-03/POSITION_DIFFERS/ann/AAPL",
            "2026-12-03/POSITION_DIFFERS/bob/AAPL",
        ]
        unconfirmed = desk.breaks()["2026-12-01/UNCONFIRMED/main:AAPL:1"]
        assert (unconfirmed.account, unconfirmed.platform_qty) == ("ann", 10)
    finally:
        await desk.stop()


async def test_splits_dividends_and_symbol_changes_reach_the_clearinghouse_as_movements(
    tmp_path: Path,
) -> None:
    first = "2026-12-01"
    desk = Desk(tmp_path, first)
    await desk.start()
    try:
        await desk.listing("AAPL", "FB")
        await desk.account("ann", 100_000 * DOLLAR)
        await desk.account("bob", 0, {"AAPL": 101, "FB": 40})
        actions = [
            StockSplit("split", "AAPL", 2, 5, "2026-12-08"),  # 5-for-2: fractions in lieu
            CashDividend("dividend", "AAPL", 2_500, "2026-12-10", "2026-12-11"),
            SymbolChange("rename", "FB", "META", "2026-12-09"),
        ]
        for number, date in enumerate(sessions(first, "2026-12-14")):
            await desk.trading_on(date)
            if number == 0:
                await desk.trade("ann", "bob", "AAPL", 11, 100 * DOLLAR)
                await desk.trade("ann", "bob", "FB", 7, 100 * DOLLAR)
                for action in actions:
                    result = await desk.do(AnnounceCorporateAction(action))
                    assert not any(isinstance(e, CommandRejected) for e in result.events)
            await desk.past_close_of(date)
        kinds = {type(event).__name__ for event in desk.events()}
        assert {"StockSplitApplied", "DividendPaid", "SymbolChanged"} <= kinds
        assert desk.breaks() == {}
        ours = await platform_balances(desk, ["ann", "bob"])
        assert ours == await clearing_balances(desk, "2026-12-15")
        assert ours[("ann", "AAPL")] == 11 * 5 // 2 and ours[("ann", "META")] == 7
    finally:
        await desk.stop()


UNSETTLED_ACTIONS = {
    "split": (StockSplit("split", "AAPL", 2, 5, "2026-12-08"), ("AAPL",), 27),
    "rename": (SymbolChange("rename", "AAPL", "AAPX", "2026-12-08"), ("AAPL", "AAPX"), 11),
}


@pytest.mark.parametrize("settlement_sessions", [1, 2])
@pytest.mark.parametrize("kind", sorted(UNSETTLED_ACTIONS))
async def test_a_corporate_action_while_trades_are_unsettled_settles_to_the_same_holdings(
    tmp_path: Path, settlement_sessions: int, kind: str
) -> None:
    """The trade of the session before the action settles in the old shares (or symbol) at
    the clearinghouse and in the new ones at the platform: the action's movements (whole
    positions) and the ledger's netting (adjusted) agree once it settles. Under T+2 the day
    between shows the difference, once."""
    action, symbols, bought = UNSETTLED_ACTIONS[kind]
    desk = Desk(tmp_path, "2026-12-04", RiskSettings(settlement_sessions=settlement_sessions))
    await desk.start()
    try:
        await desk.listing("AAPL")
        await desk.account("ann", 100_000 * DOLLAR)
        await desk.account("bob", 0, {"AAPL": 101})
        for number, date in enumerate(sessions("2026-12-04", "2026-12-14")):
            await desk.trading_on(date)
            if number == 1:  # 12-07: the action applies at its close
                await desk.trade("ann", "bob", "AAPL", 11, 100 * DOLLAR)
                await desk.do(AnnounceCorporateAction(action))
            await desk.past_close_of(date)
        expected = [
            f"2026-12-08/POSITION_DIFFERS/{account}/{symbol}"
            for account in ("ann", "bob")
            for symbol in symbols
        ]
        assert sorted(desk.breaks()) == ([] if settlement_sessions == 1 else expected)
        ours = await platform_balances(desk, ["ann", "bob"])
        assert ours == await clearing_balances(desk, "2026-12-15")
        assert ours[("ann", symbols[-1])] == bought
    finally:
        await desk.stop()


async def test_a_confirmation_released_days_later_is_read_again_and_found_late(
    tmp_path: Path,
) -> None:
    day = "2026-12-01"
    clearing = FakeClearinghouse({"main:AAPL:1": "late"}, late_calls=9)
    desk = Desk(tmp_path, day, clearing=clearing)
    await desk.start()
    try:
        await desk.ann_buys_from_bob(day)
        await desk.past_close_of(day)
        assert sorted(desk.breaks()) == [f"{day}/UNCONFIRMED/main:AAPL:1"]
        for date in sessions("2026-12-02", "2026-12-07"):
            await desk.trading_on(date)
            await desk.past_close_of(date)
        assert sorted(desk.breaks()) == [
            f"{day}/LATE_CONFIRMATION/main:AAPL:1",
            f"{day}/UNCONFIRMED/main:AAPL:1",
        ]
        # Once found late, the date is not read again.
        reads = clearing.calls["confirmations"]
        await desk.trading_on("2026-12-08")
        await desk.past_close_of("2026-12-08")
        assert clearing.calls["confirmations"] == reads + 1  # 12-08's own
    finally:
        await desk.stop()


async def test_a_break_resolved_with_the_clearinghouses_figures_closes_the_difference(
    tmp_path: Path,
) -> None:
    day = "2026-12-01"
    desk = Desk(tmp_path, day, clearing=FakeClearinghouse({"main:AAPL:1": "alter"}))
    await desk.start()
    try:
        await desk.ann_buys_from_bob(day)  # cleared as 11
        for date in sessions(day, "2026-12-03"):
            await desk.trading_on(date)
            await desk.past_close_of(date)
        found = desk.breaks()
        for account, shares, cash in (("ann", 1, -100 * DOLLAR), ("bob", -1, 100 * DOLLAR)):
            position = found[f"2026-12-03/POSITION_DIFFERS/{account}/AAPL"]
            assert position.other_qty - position.platform_qty == shares
            resolve = ResolveBreak(
                position.break_id, "ops", "the clearinghouse is right", account, "AAPL",
                cash, shares,
            )  # fmt: skip
            result = await desk.do(resolve)
            assert any(isinstance(event, BreakResolved) for event in result.events)
        for date in sessions("2026-12-04", "2026-12-08"):
            await desk.trading_on(date)
            await desk.past_close_of(date)
        # Shares and cash adjusted to the clearinghouse's figures (no movement: it has them
        # already): the two agree from then on, and no break comes after.
        assert sorted(key for key in desk.breaks() if key > "2026-12-04") == []
        ours = await platform_balances(desk, ["ann", "bob"])
        theirs = await clearing_balances(desk, "2026-12-09")
        assert ours == theirs
    finally:
        await desk.stop()


async def test_fractions_settle_on_the_platforms_books_and_reconcile_clean(tmp_path: Path) -> None:
    """Fractions trade with the desk and settle at once on the platform's books: the
    clearinghouse hears of their cash and of the whole shares they make or break as
    movements, so days of fractional trading reconcile without a break."""
    first = "2026-12-01"
    desk = Desk(tmp_path, first, RiskSettings(fractional_desk_account="desk"))
    await desk.start()
    try:
        await desk.listing("AAPL")
        await desk.account("desk", 100_000 * DOLLAR, {"AAPL": 10})
        await desk.account("ann", 100_000 * DOLLAR)
        await desk.account("bob", 0, {"AAPL": 100})
        for number, date in enumerate(sessions(first, "2026-12-08")):
            await desk.trading_on(date)
            if number % 2 == 0:
                await desk.trade("ann", "bob", "AAPL", 3, 100 * DOLLAR)
                for account, side, price in (("bob", Side.SELL, 101), ("ann", Side.BUY, 99)):
                    resting = PlaceOrder(
                        0, account, "AAPL", side, OrderType.LIMIT, 5, price * DOLLAR
                    )  # the prices the desk's fills take (day orders: gone at the close)
                    await desk.do(resting)
                for account, side, fraction in (
                    ("ann", Side.BUY, 700_000_000),
                    ("ann", Side.BUY, 600_000_000),
                    ("bob", Side.SELL, 250_000_000),
                ):
                    desk.client_ids += 1
                    result = await desk.do(
                        PlaceOrder(
                            0, account, "AAPL", side, OrderType.MARKET, 0,
                            fraction=fraction, client_order_id=f"f{desk.client_ids}",
                        )
                    )  # fmt: skip
                    filled = [e for e in result.events if isinstance(e, FractionFilled)]
                    assert filled, result.events
            await desk.past_close_of(date)
        assert desk.breaks() == {}
        ours = await platform_balances(desk, ["ann", "bob", "desk"])
        assert ours == await clearing_balances(desk, "2026-12-09")
    finally:
        await desk.stop()
