"""The surveillance role on a feed and a database: alerts stored with its place in the feed,
and a restart that resumes with no gap and no repeat (SQLite)."""

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

from sqlalchemy import func, select

from tradingfloor.compliance.surveillance import Owners, Surveillance, SurveillanceSettings
from tradingfloor.compliance.surveillance.role import SurveillanceRole
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import Event, OrderAccepted, TradeExecuted
from tradingfloor.risk.calendar import calendar_for, ts_at
from tradingfloor.service.ports import EventBatch
from tradingfloor.store import make_engine, surveillance_alerts, upgrade
from tradingfloor.store.surveillance_queries import positions

WAIT_S = 30.0
PRICE = 100_0000
OWNERS = {"fam-1": "family", "fam-2": "family"}


class FakeShard:
    """A shard's feed the test writes: one wash trade per command it adds."""

    def __init__(self) -> None:
        self.log: list[tuple[int, int, list[Event]]] = []
        self.grown = asyncio.Event()

    def wash_trade(self) -> None:
        seq = len(self.log) + 1
        ts = ts_at("2026-12-01 10:00") + seq * 1_000_000_000
        sell, buy = 2 * seq, 2 * seq + 1
        events: list[Event] = [
            OrderAccepted(seq, ts, buy, "fam-2", "ACME", Side.BUY, OrderType.LIMIT,
                          TimeInForce.DAY, 100, PRICE, None, ""),
            TradeExecuted(seq, ts, "ACME", seq, PRICE, 100, sell, buy, "fam-1", "fam-2",
                          Side.BUY, 0, 0),
        ]  # fmt: skip
        self.log.append((seq, ts, events))
        self.grown.set()

    async def last_seq(self) -> int:
        return len(self.log)

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        next_seq = max(from_seq, 1)
        while True:
            if next_seq > len(self.log):
                self.grown.clear()
                await self.grown.wait()
                continue
            batch = self.log[next_seq - 1 : next_seq + 2]  # three commands a batch at most
            next_seq += len(batch)
            yield batch


async def run_role(shard: FakeShard, url: str) -> tuple[int, dict[str, int]]:
    """Start a role, wait until it has judged the whole feed, stop it: the alerts it wrote
    and its place."""
    store = make_engine(url)
    surveillance = Surveillance(SurveillanceSettings(), Owners(OWNERS), calendar_for())
    role = SurveillanceRole({"main": shard}, store, surveillance)  # type: ignore[dict-item]
    await role.start()
    await role.caught_up(WAIT_S)
    await role.stop()
    with store.connect() as connection:
        place = positions(connection)
    store.dispose()
    return role.alerts_written, place


def stored(url: str) -> list[str]:
    store = make_engine(url)
    with store.connect() as connection:
        ids = [row.alert_id for row in connection.execute(select(surveillance_alerts))]
        assert connection.execute(select(func.count()).select_from(surveillance_alerts)).scalar()
    store.dispose()
    return ids


async def test_a_restart_resumes_with_no_gap_and_no_repeat(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'surveillance.db'}"
    upgrade(url)
    shard = FakeShard()
    for _ in range(7):
        shard.wash_trade()
    assert await run_role(shard, url) == (7, {"main": 7})
    first = stored(url)
    assert len(set(first)) == 7

    for _ in range(5):  # traded while the role was down
        shard.wash_trade()
    assert await run_role(shard, url) == (5, {"main": 12})
    second = stored(url)
    assert len(second) == len(set(second)) == 12 and set(first) <= set(second)

    assert await run_role(shard, url) == (0, {"main": 12})  # nothing new: nothing written
    assert sorted(stored(url)) == sorted(second)
