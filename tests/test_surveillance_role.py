"""The surveillance role on a feed and a database: alerts stored with its place in the feed,
and a restart that resumes with no gap and no repeat, its detectors rebuilt from the
warm-up before its place (on SQLite and on PostgreSQL)."""

import asyncio
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from postgres_db import scratch_database
from tradingfloor.compliance.surveillance import Owners, Surveillance, SurveillanceSettings
from tradingfloor.compliance.surveillance.role import SurveillanceRole
from tradingfloor.domain.enums import CancelReason, OrderType, Side, TimeInForce
from tradingfloor.domain.events import Event, OrderAccepted, OrderCanceled, TradeExecuted
from tradingfloor.risk.calendar import calendar_for, ts_at
from tradingfloor.service.ports import EventBatch
from tradingfloor.store import make_engine, surveillance_alerts, upgrade
from tradingfloor.store.surveillance_queries import Place, positions

WAIT_S = 30.0
PRICE = 100_0000
SECOND = 1_000_000_000
OWNERS = {"fam-1": "family", "fam-2": "family"}
TS_START = ts_at("2026-12-01 10:00")


class FakeShard:
    """A shard's feed the test writes, three commands a batch; it notes where each reader
    began (`follows`)."""

    def __init__(self) -> None:
        self.log: list[tuple[int, int, list[Event]]] = []
        self.grown = asyncio.Event()
        self.follows: list[int] = []

    @property
    def seq(self) -> int:
        return len(self.log)

    def add(self, after_s: int, *events: Event) -> int:
        seq = len(self.log) + 1
        ts = (self.log[-1][1] if self.log else TS_START) + after_s * SECOND
        stamped = [type(e)(seq, ts, *[getattr(e, f) for f in e.__struct_fields__][2:])
                   for e in events]  # fmt: skip
        self.log.append((seq, ts, stamped))
        self.grown.set()
        return seq

    def wash_trade(self, after_s: int = 1) -> None:
        buy, sell = 2 * self.seq + 2, 2 * self.seq + 1
        self.add(
            after_s,
            accepted(buy, "fam-2", Side.BUY, 100),
            TradeExecuted(0, 0, "ACME", self.seq + 1, PRICE, 100, sell, buy, "fam-1", "fam-2",
                          Side.BUY, 0, 0),
        )  # fmt: skip

    async def last_seq(self) -> int:
        return len(self.log)

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        self.follows.append(from_seq)
        next_seq = max(from_seq, 1)
        while True:
            if next_seq > len(self.log):
                self.grown.clear()
                await self.grown.wait()
                continue
            batch = self.log[next_seq - 1 : next_seq + 2]
            next_seq += len(batch)
            yield batch


def accepted(order_id: int, account: str, side: Side, qty: int) -> OrderAccepted:
    return OrderAccepted(0, 0, order_id, account, "ACME", side, OrderType.LIMIT,
                         TimeInForce.DAY, qty, PRICE, None, "")  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        made = f"sqlite:///{tmp_path / 'surveillance.db'}"
        upgrade(made)
        yield made
        return
    with scratch_database() as made:
        upgrade(made)
        yield made


async def run_role(shard: FakeShard, url: str) -> tuple[int, dict[str, Place]]:
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


def stored(url: str) -> list[tuple[str, str]]:
    store = make_engine(url)
    with store.connect() as connection:
        table = surveillance_alerts
        rows = connection.execute(select(table.c.alert_id, table.c.pattern)).all()
    store.dispose()
    return [(row.alert_id, row.pattern) for row in rows]


async def test_a_restart_resumes_with_no_gap_and_no_repeat(url: str) -> None:
    shard = FakeShard()
    for _ in range(7):
        shard.wash_trade()
    assert await run_role(shard, url) == (7, {"main": Place(7, 1)})
    first = stored(url)
    assert len(set(first)) == 7

    for _ in range(5):  # traded while the role was down
        shard.wash_trade()
    assert await run_role(shard, url) == (5, {"main": Place(12, 1)})
    second = stored(url)
    assert len(second) == len(set(second)) == 12 and set(first) <= set(second)

    assert await run_role(shard, url) == (0, {"main": Place(12, 1)})  # nothing new
    assert sorted(stored(url)) == sorted(second)


async def test_a_restart_reads_the_warm_up_and_finds_what_spans_it(url: str) -> None:
    shard = FakeShard()
    for _ in range(12):  # two minutes apart: the warm-up (ten minutes) is the last five
        shard.wash_trade(after_s=120)
    shard.add(60, accepted(900, "spoofer", Side.BUY, 5_000))
    shard.add(1, accepted(901, "spoofer", Side.SELL, 100))
    shard.add(1, TradeExecuted(0, 0, "ACME", 99, PRICE, 100, 901, 902, "spoofer", "buyer",
                               Side.BUY, 0, 0))  # fmt: skip
    written, place = await run_role(shard, url)
    assert written == 12 and place["main"].seq == 15
    assert place["main"].warm_seq == 7  # the first batch within ten minutes of the end

    shard.add(5, OrderCanceled(0, 0, 900, "ACME", 5_000, 0, CancelReason.REQUESTED, "spoofer"))
    shard.follows.clear()
    written, place = await run_role(shard, url)
    assert shard.follows == [7]  # not from seq 1
    assert written == 1 and place["main"].seq == 16  # the spoof across the restart
    patterns = [pattern for _, pattern in stored(url)]
    assert patterns.count("spoofing") == 1 and patterns.count("wash_trade") == 12
