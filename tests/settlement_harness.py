"""A one-process platform with the settlement role, on a clock the test moves.

`Desk` runs a real `ShardRole` (journal, engine, event log) and the `SettlementRole` on it,
against the in-memory clearinghouse (`clearing_fake`). Both read `FakeClock`: the shard stamps
commands with it, and the role's sleeps wait until the test moves it (so the role runs a
day's end exactly when the test passes that day's close, and never by wall-clock time).
"""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from clearing_fake import FakeClearinghouse
from tradingfloor.domain.commands import (
    AddInstrument,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
    SetReferencePrice,
)
from tradingfloor.domain.enums import AccountKind, OrderType, Side, TimeInForce
from tradingfloor.domain.events import BreakOpened, CommandEntered, DayClosed, Event
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.risk.calendar import calendar_for
from tradingfloor.service.node import NodeSettings
from tradingfloor.service.sequencer import Result
from tradingfloor.service.shard import ShardRole
from tradingfloor.settlement.day_report import ClearingPort
from tradingfloor.settlement.role import SettlementRole

DOLLAR = PRICE_SCALE
SECOND = 1_000_000_000
HOUR = 3600 * SECOND
WAIT_S = 30.0
"""The longest a test waits for the role to finish a day (it takes milliseconds)."""
CALENDAR = calendar_for()


class FakeClock:
    """Time that moves only when the test sets it; `sleep` waits for that."""

    def __init__(self, ts: int) -> None:
        self.ts = ts
        self._moved = asyncio.Condition()

    def __call__(self) -> int:
        return self.ts

    async def set(self, ts: int) -> None:
        async with self._moved:
            self.ts = max(self.ts, ts)
            self._moved.notify_all()

    async def sleep(self, seconds: float) -> None:
        start = self.ts
        async with self._moved:
            await self._moved.wait_for(lambda: self.ts != start)


def open_of(date: str) -> int:
    return CALENDAR.session_times(CALENDAR.session_of_date(date))[0]


def close_of(date: str) -> int:
    return CALENDAR.session_times(CALENDAR.session_of_date(date))[1]


class Desk:
    def __init__(
        self,
        root: Path,
        first_day: str,
        risk: RiskSettings | None = None,
        clearing: Any = None,
    ) -> None:
        self.root = root
        self.risk = risk or RiskSettings()
        self.clock = FakeClock(open_of(first_day) - HOUR)
        self.clearing = clearing if clearing is not None else FakeClearinghouse()
        self.shard = ShardRole(NodeSettings(root, fsync=False, risk=self.risk), clock=self.clock)
        self.role: SettlementRole | None = None
        self.client_ids = 0

    async def start(self, wrap: Callable[[Any], Any] | None = None) -> None:
        await self.start_shard()
        await self.start_role(wrap)

    async def start_shard(self) -> None:
        """The shard (as `ShardRole.start`), its sequencer stamping every command with the
        test's clock from the first (the risk settings) on."""
        node = self.shard.node
        await node.start()
        assert node.sequencer is not None
        node.sequencer.clock = self.clock
        await node.configure_risk()

    async def start_role(
        self, wrap: Callable[[Any], Any] | None = None, drive: bool = True
    ) -> SettlementRole:
        """A new role on the shard (what a restart gives); `wrap` wraps its ports."""
        shard: Any = self.shard
        clearing: ClearingPort = self.clearing
        if wrap is not None:
            shard, clearing = wrap(shard), wrap(self.clearing)
        self.role = SettlementRole(
            {"main": shard}, clearing, CALENDAR, self.clock, sleep=self.clock.sleep
        )
        await self.role.start()
        if drive:
            self.role.drive_in_background()
        return self.role

    async def stop(self) -> None:
        if self.role is not None:
            await self.role.stop()
        await self.shard.stop()

    async def do(self, command: Command) -> Result:
        return await self.shard.submit(command)

    async def listing(self, *symbols: str) -> None:
        for symbol in symbols:
            await self.do(AddInstrument(Instrument(symbol)))
            await self.do(SetReferencePrice(symbol, 100 * DOLLAR))

    async def account(
        self, name: str, cash: int, shares: dict[str, int] | None = None, margin: bool = False
    ) -> None:
        await self.do(OpenAccount(name, AccountKind.MARGIN if margin else AccountKind.CASH))
        if cash:
            await self.do(Deposit(name, cash))
        for symbol, qty in (shares or {}).items():
            await self.do(DepositShares(name, symbol, qty, 100 * DOLLAR))

    async def trade(self, buyer: str, seller: str, symbol: str, qty: int, price: int) -> None:
        """A sell resting, a buy taking it: one fill of `qty` at `price`."""
        for account, side in ((seller, Side.SELL), (buyer, Side.BUY)):
            self.client_ids += 1
            result = await self.do(
                PlaceOrder(
                    0, account, symbol, side, OrderType.LIMIT, qty, price,
                    tif=TimeInForce.DAY, client_order_id=f"c{self.client_ids}",
                )
            )  # fmt: skip
            kinds = {type(event).__name__ for event in result.events}
            if "OrderRejected" in kinds:
                raise AssertionError(f"order refused: {result.events}")

    async def ann_buys_from_bob(self, day: str, qty: int = 10) -> None:
        """The usual day: AAPL listed, ann with $100,000, bob with 100 AAPL, and on `day` ann
        buys `qty` of bob's at $100 (trade 1 of the book: ref `main:AAPL:1`)."""
        await self.listing("AAPL")
        await self.account("ann", 100_000 * DOLLAR)
        await self.account("bob", 0, {"AAPL": 100})
        await self.trading_on(day)
        await self.trade("ann", "bob", "AAPL", qty, 100 * DOLLAR)

    async def at(self, ts: int) -> None:
        await self.clock.set(ts)

    async def trading_on(self, date: str) -> None:
        """Move the clock to an hour after `date`'s open."""
        await self.at(open_of(date) + HOUR)

    async def past_close_of(self, date: str) -> None:
        """Move the clock past `date`'s close and wait until the role has run that day."""
        await self.at(close_of(date) + 2 * SECOND)
        await self.until(lambda: self.role is not None and self.role.done == date)

    async def until(self, condition: Callable[[], bool]) -> None:
        async def wait() -> None:
            while not condition():
                await asyncio.sleep(0.002)

        try:
            await asyncio.wait_for(wait(), WAIT_S)
        except TimeoutError:
            status = self.role.status if self.role is not None else "no role"
            last = [type(event).__name__ for event in self.events()[-8:]]
            raise AssertionError(
                f"not within {WAIT_S} s; the role: {status}; the last events: {last}"
            ) from None

    def events(self) -> list[Event]:
        """The engine's events on the feed (not the commands it carries with them)."""
        fed = (event for _, _, events in self.shard.node.events.read(1) for event in events)
        return [event for event in fed if not isinstance(event, CommandEntered)]

    def closed_days(self) -> list[str]:
        return [event.date for event in self.events() if isinstance(event, DayClosed)]

    def breaks(self) -> dict[str, BreakOpened]:
        return {event.break_id: event for event in self.events() if isinstance(event, BreakOpened)}


async def run(awaitable: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(awaitable, WAIT_S)
