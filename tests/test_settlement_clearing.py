"""The settlement role against the real clearinghouse (its server and store on 127.0.0.1, the
protocol's client): a clean run gives no break and equal holdings; every fault it injects
is caught as a break of its kind."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from settlement_harness import CALENDAR, DOLLAR, WAIT_S, Desk
from tradingfloor.domain.enums import BreakKind
from tradingfloor.settlement.clearing_client import ClearingClient
from tradingfloor.settlement.clearinghouse.faults import FaultKind, FaultPlan, FaultRates
from tradingfloor.settlement.clearinghouse.server import ClearinghouseServer
from tradingfloor.settlement.clearinghouse.store import ClearingStore
from tradingfloor.settlement.records import CASH_SYMBOL

FIRST = "2026-11-30"
TRADING_DAYS = 4
ACCOUNTS = ["ann", "bob", "cat"]
CAUGHT_AS = {
    FaultKind.DROP: BreakKind.UNCONFIRMED,
    FaultKind.ALTER: BreakKind.CONFIRMATION_DIFFERS,
    FaultKind.DUPLICATE: BreakKind.UNKNOWN_AT_PLATFORM,
    FaultKind.LATE: BreakKind.LATE_CONFIRMATION,
}


@asynccontextmanager
async def real_clearinghouse(
    data: Path, rates: FaultRates | None = None
) -> AsyncIterator[tuple[ClearingStore, ClearingClient]]:
    store = ClearingStore(data, FaultPlan(rates or FaultRates(), seed=11))
    server = ClearinghouseServer(store)
    host, port = await server.start("127.0.0.1", 0)
    try:
        yield store, ClearingClient(host, port, "TF", timeout_s=WAIT_S)
    finally:
        await server.stop()


def days(count: int) -> list[str]:
    first = CALENDAR.session_of_date(FIRST)
    return [CALENDAR.session_date(first + number) for number in range(count)]


async def trade_days(desk: Desk, trading_days: int, settle_days: int = 3) -> None:
    """Trades on the first `trading_days` sessions, then sessions without, so that all
    settle; each day run by the role at its close."""
    await desk.listing("AAPL", "MSFT")
    await desk.account("ann", 500_000 * DOLLAR)
    await desk.account("bob", 50_000 * DOLLAR, {"AAPL": 2_000, "MSFT": 500})
    await desk.account("cat", 200_000 * DOLLAR, {"MSFT": 300})
    for number, day in enumerate(days(trading_days + settle_days)):
        await desk.trading_on(day)
        if number < trading_days:
            await desk.trade("ann", "bob", "AAPL", 10 + number, 100 * DOLLAR)
            await desk.trade("cat", "bob", "AAPL", 5, 101 * DOLLAR)
            await desk.trade("ann", "cat", "MSFT", 7, 99 * DOLLAR)
            await desk.trade("bob", "ann", "AAPL", 2, 100 * DOLLAR)
        await desk.past_close_of(day)


async def balances(desk: Desk) -> dict[tuple[str, str], int]:
    """Settled cash (fees added back) and settled shares at the platform, as the shard says."""
    risk = desk.shard.engine.risk
    assert risk is not None
    found: dict[tuple[str, str], int] = {}
    for account in ACCOUNTS:
        summary = await desk.shard.account(account, desk.clock())
        if summary is None:
            continue
        found[(account, CASH_SYMBOL)] = summary.settled_cash + summary.fees
        for symbol, position in risk.ledger.accounts[account].positions.items():
            found[(account, symbol)] = position.qty - position.unsettled
    return {key: qty for key, qty in found.items() if qty}


async def test_a_clean_run_gives_no_break_and_the_same_holdings(tmp_path: Path) -> None:
    async with real_clearinghouse(tmp_path / "clearinghouse") as (_, client):
        desk = Desk(tmp_path / "node", FIRST, clearing=client)
        await desk.start()
        try:
            await trade_days(desk, TRADING_DAYS)
            assert desk.breaks() == {}
            last = desk.role.done if desk.role is not None else None
            assert last is not None
            settled = CALENDAR.session_date(CALENDAR.session_of_date(last) + 1)
            holdings = {(h.participant, h.symbol): h.qty for h in await client.holdings(settled)}
            assert holdings == await balances(desk)
        finally:
            await desk.stop()


async def test_every_fault_the_clearinghouse_injects_is_caught_as_a_break(tmp_path: Path) -> None:
    rates = FaultRates(drop=0.15, alter=0.15, duplicate=0.15, late=0.15)
    async with real_clearinghouse(tmp_path / "clearinghouse", rates) as (store, client):
        desk = Desk(tmp_path / "node", FIRST, clearing=client)
        await desk.start()
        try:
            await trade_days(desk, TRADING_DAYS)
            injected = store.faults()
            assert {fault.kind for fault in injected} == set(FaultKind)  # the seed gives each
            breaks = desk.breaks()
            for fault in injected:
                caught = [
                    item
                    for item in breaks.values()
                    if item.kind == CAUGHT_AS[fault.kind] and fault.trade_ref in item.break_id
                ]
                assert caught, f"{fault} not caught; breaks: {sorted(breaks)}"
                assert caught[0].date == fault.date
            # A dropped, altered or duplicated trade leaves the positions apart as well.
            kinds = {item.kind for item in breaks.values()}
            assert BreakKind.OBLIGATION_DIFFERS in kinds
            assert kinds & {BreakKind.POSITION_DIFFERS, BreakKind.CASH_DIFFERS}
        finally:
            await desk.stop()
