"""A market for the end of day's read models: a real engine's trades (A buys 60 XYZ of B's
100 and rests a buy of 10), then crafted end-of-day events (days closed and settled, settled
shares, splits, a dividend, a good-faith violation, breaks, a symbol change), as the event
log would hold them; and what the tests read back."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from risk_helpers import DOLLAR, Market
from tradingfloor.domain.commands import Command
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import BreakKind, CancelReason, Side
from tradingfloor.domain.events import (
    BreakOpened,
    BreakResolved,
    CorporateActionAnnounced,
    DayClosed,
    DaySettled,
    DividendEntitled,
    DividendPaid,
    Event,
    FundsSettled,
    GoodFaithViolation,
    OrderAdjusted,
    OrderCanceled,
    SharesSettled,
    StockSplitApplied,
    SymbolChanged,
)
from tradingfloor.store import make_engine, metadata, upgrade
from tradingfloor.store.projector import Projector
from tradingfloor.store.queries import list_activities, list_positions

Batch = list[tuple[int, int, list[Event]]]
SURROGATE_KEYS = {"fill_id", "activity_id"}
SECOND = 1_000_000_000
BOUGHT = 60 * 100 * DOLLAR
"""A's purchase: 60 XYZ at $100."""
ADDED = 5 * 50 * DOLLAR
"""5 shares adjusted in at A's average cost after the split ($50), as is the basis of the
half share paid in lieu after the reverse one."""
KEPT = 40 * 90 * DOLLAR
"""The cost of the 40 XYZ B kept of 100 delivered in at $90."""


@dataclass
class Recorded(Market):
    """A real engine's commands as the event log holds them, then crafted ones after."""

    commands: Batch = field(default_factory=list)

    def do(self, command: Command, advance_ns: int = 0) -> list[Event]:
        out = super().do(command, advance_ns)
        self.commands.append((self.seq, self.ts, out))
        return out

    def craft(self, *makers: Any) -> int:
        """One more command whose events are `maker(seq, ts)` each; its seq."""
        self.seq += 1
        self.ts += SECOND
        self.commands.append((self.seq, self.ts, [make(self.seq, self.ts) for make in makers]))
        return self.seq


def event(kind: type[Event], *fields: Any) -> Any:
    return lambda seq, ts: kind(seq, ts, *fields)


@dataclass
class Scenario:
    commands: Batch
    open_buy: int
    seqs: dict[str, int]


def scenario() -> Scenario:
    """A buys 60 XYZ of B's 100 and rests a buy of 10; then the end of day's events."""
    m = Recorded()
    m.listing("XYZ")
    m.account("A", cash=1_000_000 * DOLLAR)
    m.account("B", shares={"XYZ": 100}, cost_price=90 * DOLLAR)
    m.order("B", Side.SELL, 60, 100 * DOLLAR)
    m.order("A", Side.BUY, 60, 100 * DOLLAR)
    open_buy, _ = m.order("A", Side.BUY, 10, 95 * DOLLAR)
    seqs = {"traded": m.seq}
    seqs["closed"] = m.craft(event(DayClosed, "2026-11-23", 10, 0))
    seqs["settled"] = m.craft(
        event(FundsSettled, "A", -BOUGHT),
        event(FundsSettled, "B", BOUGHT),
        event(SharesSettled, "A", "XYZ", 60),
        event(SharesSettled, "B", "XYZ", -60),
        event(DaySettled, "2026-11-24", ["2026-11-23"]),
    )
    split = StockSplit("S1", "XYZ", 1, 2, "2026-11-26")
    seqs["split"] = m.craft(
        event(CorporateActionAnnounced, split),
        event(StockSplitApplied, "S1", "A", "XYZ", 60, 120, 0),
        event(StockSplitApplied, "S1", "B", "XYZ", 40, 80, 0),
        event(OrderAdjusted, open_buy, "XYZ", "A", 20, 20, 475_000, None, "S1"),
        event(DayClosed, "2026-11-24", 11, 0),
    )
    dividend = CashDividend("D1", "XYZ", 2_500, "2026-11-30", "2026-12-02")
    m.craft(event(CorporateActionAnnounced, dividend))
    seqs["entitled"] = m.craft(
        event(DividendEntitled, "D1", "A", "XYZ", 120, 300_000),
        event(DividendEntitled, "D1", "B", "XYZ", 80, 200_000),
    )
    seqs["paid"] = m.craft(
        event(DividendPaid, "D1", "A", "XYZ", 300_000),
        event(DividendPaid, "D1", "B", "XYZ", 200_000),
    )
    seqs["gfv"] = m.craft(event(GoodFaithViolation, "A", "XYZ", 5, 3, "2027-03-01"))
    seqs["breaks"] = m.craft(
        event(BreakOpened, "2026-12-01/POSITION_DIFFERS/A/XYZ", "2026-12-01",
              BreakKind.POSITION_DIFFERS, "A", "XYZ", 120, 125, 0, 0, "holdings differ"),
        event(BreakOpened, "2026-12-01/CASH_DIFFERS/B/", "2026-12-01",
              BreakKind.CASH_DIFFERS, "B", "", 0, 0, 5, 6, "cash differs"),
    )  # fmt: skip
    seqs["resolved"] = m.craft(
        event(BreakResolved, "2026-12-01/POSITION_DIFFERS/A/XYZ", "ops", "the clearinghouse's",
              "A", "XYZ", 123_400, 5),
    )  # fmt: skip
    m.craft(event(CorporateActionAnnounced, SymbolChange("C1", "XYZ", "ABC", "2026-12-03")))
    seqs["renamed"] = m.craft(
        event(SymbolChanged, "C1", "XYZ", "ABC", [("A", 125), ("B", 80)]),
        event(OrderAdjusted, open_buy, "ABC", "A", 20, 20, 475_000, None, "C1"),
    )
    reverse = StockSplit("R1", "ABC", 10, 1, "2026-12-07", 2_000_000)
    seqs["reverse"] = m.craft(
        event(CorporateActionAnnounced, reverse),
        event(StockSplitApplied, "R1", "A", "ABC", 125, 12, 1_000_000, ADDED),
        event(StockSplitApplied, "R1", "B", "ABC", 80, 8, 0),
        event(OrderCanceled, open_buy, "ABC", 20, 0, CancelReason.CORPORATE_ACTION, "A"),
    )
    return Scenario(m.commands, open_buy, seqs)


def project(database: Engine, commands: Batch, name: str = "main", shard: int = 0) -> None:
    Projector(database, name, shard).apply(commands)


def up_to(commands: Batch, seq: int) -> Batch:
    return [command for command in commands if command[0] <= seq]


def contents(database: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, without surrogate keys, sorted."""
    found = {}
    with database.connect() as connection:
        for table in metadata.sorted_tables:
            columns = [column for column in table.c if column.name not in SURROGATE_KEYS]
            rows = connection.execute(select(*columns)).all()
            found[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return found


def positions(database: Engine, account: str) -> dict[str, tuple[int, int, int]]:
    """Symbol -> (qty, settled_qty, cost)."""
    with database.connect() as connection:
        rows = list_positions(connection, account)
    return {row.symbol: (row.qty, row.settled_qty, row.cost) for row in rows}


def activities_of(database: Engine, account: str, kind: str) -> list[Any]:
    with database.connect() as connection:
        return list_activities(connection, account, {kind})


def sqlite_database(tmp_path: Path) -> Engine:
    """Another database, on SQLite, migrated to the newest revision."""
    url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(url)
    return make_engine(url)


def renumbered(commands: Batch) -> Batch:
    """The same commands with consecutive seqs from 1 (events keep their own)."""
    return [(index, ts, events) for index, (_, ts, events) in enumerate(commands, start=1)]
