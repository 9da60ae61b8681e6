"""The settlement role on a platform of two symbol shards: each shard closed and settled,
trade refs named by shard, an account's cash summed over the shards (a move of cash between
them is no movement), breaks recorded on the shard of their symbol."""

from pathlib import Path

from clearing_fake import FakeClearinghouse
from settlement_harness import CALENDAR, DOLLAR, HOUR, SECOND, FakeClock, close_of, open_of
from tradingfloor.domain.commands import (
    AddInstrument,
    AllocateCashIn,
    AllocateCashOut,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
    SetReferencePrice,
)
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.events import BreakOpened, CashAllocatedOut, DayClosed
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.service.node import NodeSettings
from tradingfloor.service.shard import ShardRole
from tradingfloor.settlement.records import CASH_SYMBOL
from tradingfloor.settlement.role import SettlementRole

SYMBOLS = {"AAPL": "east", "MSFT": "west"}
FIRST = "2026-12-01"


async def start_shard(root: Path, index: int, clock: FakeClock) -> ShardRole:
    shard = ShardRole(NodeSettings(root, fsync=False, shard_index=index, risk=RiskSettings()))
    await shard.node.start()
    assert shard.node.sequencer is not None
    shard.node.sequencer.clock = clock
    await shard.node.configure_risk()
    return shard


async def test_two_shards_close_settle_and_reconcile_as_one_platform(tmp_path: Path) -> None:
    clock = FakeClock(open_of(FIRST) - HOUR)
    shards = {
        name: await start_shard(tmp_path / name, index, clock)
        for index, name in enumerate(("east", "west"))
    }
    clearing = FakeClearinghouse({"west:MSFT:1": "alter"})
    role = SettlementRole(
        shards,
        clearing,
        CALENDAR,
        clock,
        sleep=clock.sleep,
        route=lambda account, symbol: SYMBOLS.get(symbol, "east"),
    )
    await role.start()
    role.drive_in_background()

    async def do(shard: str, command: Command) -> None:
        await shards[shard].submit(command)

    try:
        for symbol, shard in SYMBOLS.items():
            await do(shard, AddInstrument(Instrument(symbol)))
            await do(shard, SetReferencePrice(symbol, 100 * DOLLAR))
            for account in ("ann", "bob"):
                await do(shard, OpenAccount(account))
            await do(shard, Deposit("ann", 50_000 * DOLLAR))
            await do(shard, DepositShares("bob", symbol, 100, 100 * DOLLAR))
        days = [CALENDAR.session_date(CALENDAR.session_of_date(FIRST) + n) for n in range(5)]
        for number, day in enumerate(days):
            await clock.set(open_of(day) + HOUR)
            if number == 0:
                for symbol, shard in SYMBOLS.items():
                    for account, side in (("bob", Side.SELL), ("ann", Side.BUY)):
                        order = PlaceOrder(
                            0, account, symbol, side, OrderType.LIMIT, 10, 100 * DOLLAR
                        )
                        await do(shard, order)
                # ann moves cash from east to west: no movement, the same account's cash.
                out = await shards["east"].submit(AllocateCashOut("ann", 1_000 * DOLLAR, "west"))
                moved = next(e for e in out.events if isinstance(e, CashAllocatedOut))
                await do("west", AllocateCashIn("ann", moved.amount, "east", out.seq))
            await clock.set(close_of(day) + 2 * SECOND)
            await _until(role, day)
        breaks: dict[str, BreakOpened] = {}
        for name, shard in shards.items():
            closed = [e.date for _, _, es in shard.node.events.read(1) for e in es
                      if isinstance(e, DayClosed)]  # fmt: skip
            assert closed == days, name
            for _, _, events in shard.node.events.read(1):
                for event in events:
                    if isinstance(event, BreakOpened):
                        assert SYMBOLS.get(event.symbol, "east") == name  # routed by symbol
                        breaks[event.break_id] = event
        refs = sorted(ref for ref in clearing.records)
        assert refs == ["east:AAPL:1", "west:MSFT:1"]
        # The altered MSFT trade is caught; nothing else (the cash move included) differs.
        assert {key.split("/", 1)[1] for key in breaks if key.startswith(FIRST)} == {
            "CONFIRMATION_DIFFERS/west:MSFT:1"
        }
        # The cash ann moved between shards is no difference: only MSFT's parties differ.
        per_position = {"OBLIGATION_DIFFERS", "LEDGER_DIFFERS", "POSITION_DIFFERS"}
        differing = {(b.account, b.symbol) for b in breaks.values() if b.kind.name in per_position}
        assert ("ann", "AAPL") not in differing and ("bob", "AAPL") not in differing
        last = CALENDAR.session_date(CALENDAR.session_of_date(days[-1]) + 1)
        holdings = {(h.participant, h.symbol): h.qty for h in await clearing.holdings(last)}
        ours: dict[tuple[str, str], int] = {}
        for shard in shards.values():
            risk = shard.engine.risk
            assert risk is not None
            for name, account in risk.ledger.accounts.items():
                key = (name, CASH_SYMBOL)
                ours[key] = ours.get(key, 0) + account.settled + account.fees
                for symbol, position in account.positions.items():
                    held = position.qty - position.unsettled
                    ours[(name, symbol)] = ours.get((name, symbol), 0) + held
        ours = {key: qty for key, qty in ours.items() if qty}
        # Only the altered trade's share apart (the clearinghouse settled 11, we 10).
        apart = {key for key in set(ours) | set(holdings) if ours.get(key) != holdings.get(key)}
        assert apart == {("ann", "MSFT"), ("bob", "MSFT"), ("ann", "USD"), ("bob", "USD")}
        assert holdings[("ann", "MSFT")] - ours[("ann", "MSFT")] == 1
    finally:
        await role.stop()
        for shard in shards.values():
            await shard.stop()


async def _until(role: SettlementRole, day: str) -> None:
    import asyncio

    async def wait() -> None:
        while role.done != day:
            await asyncio.sleep(0.002)

    await asyncio.wait_for(wait(), 30.0)
