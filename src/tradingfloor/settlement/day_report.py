"""What the settlement role needs of a clearinghouse, and what one end of day did.

`ClearingPort` is the API of `settlement.clearing_client.ClearingClient` (the clearing
protocol's client); tests give the role an in-memory clearinghouse with the same methods.
Every call is idempotent at the clearinghouse (batch ids, trade refs, a date settled once),
which is what lets the role repeat any step after a failure or a restart.
"""

from typing import Protocol

import msgspec

from tradingfloor.domain.commands import RecordBreak
from tradingfloor.settlement.records import (
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
    Movement,
)


class ClearingPort(Protocol):
    async def submit_trades(
        self, date: str, batch_id: str, trades: list[ClearingTrade]
    ) -> list[Confirmation]: ...

    async def submit_movements(
        self, date: str, batch_id: str, movements: list[Movement]
    ) -> int: ...

    async def confirmations(self, trade_date: str) -> list[Confirmation]: ...

    async def settle(self, settle_date: str) -> tuple[list[Instruction], list[Fail]]: ...

    async def holdings(self, as_of: str) -> list[Holding]: ...


class DayReport(msgspec.Struct):
    """One run of the end of day of trade date `date` (settling `settle_date`, the next
    session): what changed now, and every break found (recorded now or already)."""

    date: str
    settle_date: str
    closed_now: list[str] = msgspec.field(default_factory=list)
    """Shards that closed the day in this run (the others had already)."""
    settled_now: list[str] = msgspec.field(default_factory=list)
    trade_dates_settled: list[str] = msgspec.field(default_factory=list)
    trades: int = 0
    movements: int = 0
    breaks_new: list[RecordBreak] = msgspec.field(default_factory=list)
    breaks_known: list[RecordBreak] = msgspec.field(default_factory=list)
    breaks_refused: list[RecordBreak] = msgspec.field(default_factory=list)
    """Found but refused by the engine (its queue of open breaks full): not recorded."""

    @property
    def changed(self) -> bool:
        """False for a rerun of a day done already: the platform is as it was."""
        return bool(self.closed_now or self.settled_now or self.breaks_new)

    def lines(self) -> list[str]:
        """The report as an operator reads it."""
        closed = "closed now" if self.closed_now else "closed already"
        settled = "settled now" if self.settled_now else "settled already"
        dates = ", ".join(self.trade_dates_settled) or "no trade date"
        out = [
            f"trade date {self.date}: {closed}; {self.trades} trades submitted for clearing",
            f"settlement date {self.settle_date}: {settled} ({dates}); "
            f"{self.movements} movements submitted",
        ]
        breaks = sorted(self.breaks_new + self.breaks_known, key=lambda item: item.break_id)
        new = {item.break_id for item in self.breaks_new}
        out.append(f"breaks: {len(self.breaks_new)} new, {len(self.breaks_known)} known")
        for item in breaks:
            mark = "new  " if item.break_id in new else "known"
            out.append(f"  {mark} {item.break_id}: {item.detail}")
        for item in self.breaks_refused:
            out.append(f"  NOT RECORDED (refused) {item.break_id}: {item.detail}")
        if not self.changed:
            out.append("nothing changed: this day was done already")
        return out
