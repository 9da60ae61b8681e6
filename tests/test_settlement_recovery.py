"""A settlement role that dies mid-way through a day (after any of its calls to a shard or
the clearinghouse, before it hears the answer) and is started again recovers to the same
breaks and the same balances as a run that never stopped."""

from functools import partial
from pathlib import Path
from typing import Any

from settlement_harness import DOLLAR, SECOND, Desk, close_of
from test_settlement_clearing import FIRST, balances, days, real_clearinghouse
from tradingfloor.settlement.clearinghouse.faults import FaultRates
from tradingfloor.settlement.role import SettlementRole

CALLS = frozenset(
    {"submit", "submit_trades", "submit_movements", "confirmations", "settle", "holdings"}
)
"""The calls that change or read the other side (not the feed)."""
CRASH_DAY = 2
"""The session (from 0) whose end of day is cut short."""
CRASH_POINTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 14, 18)
"""After which call of that day's run the role dies (1: right after its `CloseDay`)."""


class Crash(BaseException):
    """The role's process dying: not an error the role's retries may catch."""


class Countdown:
    def __init__(self) -> None:
        self.left: int | None = None
        self.crashed = False

    def tick(self) -> None:
        if self.left is None:
            return
        self.left -= 1
        if self.left == 0:
            self.left = None
            self.crashed = True
            raise Crash


class Crashing:
    """A port whose calls count down; the last one is made, then the process dies."""

    def __init__(self, inner: Any, countdown: Countdown) -> None:
        self._inner = inner
        self._countdown = countdown

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in CALLS:
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = await attribute(*args, **kwargs)
            self._countdown.tick()
            return result

        return call


def finished_or_dead(role: SettlementRole, day: str) -> bool:
    return role.done == day or (role.driving is not None and role.driving.done())


async def scenario(desk: Desk, crash_after: int | None) -> dict[str, Any]:
    """Three days of trades and two to settle them, the third day's run cut short after
    `crash_after` calls (None: never); the breaks and balances at the end."""
    countdown = Countdown()
    await desk.start(lambda port: Crashing(port, countdown))
    await desk.listing("AAPL")
    await desk.account("ann", 500_000 * DOLLAR)
    await desk.account("bob", 50_000 * DOLLAR, {"AAPL": 2_000})
    for number, day in enumerate(days(5)):
        await desk.trading_on(day)
        if number < 3:
            for qty in (10, 20, 30):
                await desk.trade("ann", "bob", "AAPL", qty + number, 100 * DOLLAR)
            await desk.trade("bob", "ann", "AAPL", 5, 100 * DOLLAR)
        if number == CRASH_DAY:
            countdown.left = crash_after
        await desk.at(close_of(day) + 2 * SECOND)
        role = desk.role
        assert role is not None
        await desk.until(partial(finished_or_dead, role, day))
        if role.done != day:  # it died: a new one, as a restarted process
            assert countdown.crashed
            await role.stop()
            role = await desk.start_role()
            await desk.until(partial(finished_or_dead, role, day))
            assert role.done == day
    assert countdown.crashed == (crash_after is not None)
    breaks = {
        key: (item.kind, item.account, item.symbol, item.platform_qty, item.other_qty,
              item.platform_cash, item.other_cash, item.detail)
        for key, item in desk.breaks().items()
    }  # fmt: skip
    return {"breaks": breaks, "balances": await balances(desk)}


async def run_once(root: Path, crash_after: int | None) -> tuple[dict[str, Any], Any]:
    rates = FaultRates(drop=0.1, alter=0.1, duplicate=0.1, late=0.2)
    async with real_clearinghouse(root / "clearinghouse", rates) as (_, client):
        desk = Desk(root / "node", FIRST, clearing=client)
        try:
            result = await scenario(desk, crash_after)
        finally:
            await desk.stop()
        last = days(5)[-1]
        holdings = await client.holdings(last)
        return result, sorted((h.participant, h.symbol, h.qty) for h in holdings)


async def test_a_role_stopped_after_any_call_of_a_day_recovers_to_the_same_result(
    tmp_path: Path,
) -> None:
    expected, expected_holdings = await run_once(tmp_path / "whole", None)
    assert expected["breaks"]  # the faults give the comparison something to find
    for crash_after in CRASH_POINTS:
        got, holdings = await run_once(tmp_path / f"crash{crash_after}", crash_after)
        assert got == expected, f"stopped after call {crash_after}"
        assert holdings == expected_holdings, f"stopped after call {crash_after}"
