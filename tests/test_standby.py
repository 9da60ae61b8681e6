"""Hot standby and fencing in one process, on a real JetStream journal (`service.standby`).

A second writer after a fence is refused (`JournalConflict`); a standby follows the primary's
journal record by record, takes the lease once it has not moved for its TTL (on the standby's
clock), fences the journal, and from then on the old primary acknowledges nothing; a fence
refused because the old primary appended meanwhile is tried again after those records; the new
primary's state is a clean replay of the journal; the fence and its event change nothing but
the engine's epoch and are ignored by every reader of events.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from nats.js.kv import KeyValue

from tradingfloor.domain.commands import AddInstrument, Command, PlaceOrder, TakeOverShard
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.events import OrderAccepted, ShardLeaderChanged
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.order_state import accepted, evolve
from tradingfloor.engine import Engine
from tradingfloor.engine.state import decode_state
from tradingfloor.journal.codec import Entry
from tradingfloor.journal.jetstream import JetStreamJournal, JetStreamSettings, JournalConflict
from tradingfloor.marketdata.view import MarketDataView
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.node import Node, NodeSettings
from tradingfloor.service.sequencer import SequencerStopped
from tradingfloor.service.shard import ShardRole
from tradingfloor.service.shard_lease import LeaseLost, ShardLease
from tradingfloor.service.standby import PRIMARY, STANDBY, ShardCandidate
from tradingfloor.store.database import make_engine, upgrade
from tradingfloor.store.projector import Projector

WAIT_S = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def order(index: int) -> PlaceOrder:
    return PlaceOrder(0, f"acct-{index % 3}", "XYZ", Side.BUY, OrderType.LIMIT, 1, 9_000 + index)


async def _until(predicate: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.01)


async def _replayed(settings: JetStreamSettings) -> Engine:
    journal = JetStreamJournal(settings)
    await journal.open()
    engine = Engine()
    try:
        async for entry in journal.replay(1):
            engine.apply(entry.command, entry.seq, entry.ts)
    finally:
        await journal.close()
    return engine


async def test_a_writer_after_a_fence_is_refused(jetstream_settings: JetStreamSettings) -> None:
    old, new = JetStreamJournal(jetstream_settings), JetStreamJournal(jetstream_settings)
    await old.open()
    await old.append([Entry(seq, seq, order(seq)) for seq in (1, 2, 3)])
    await new.open()
    new.continue_after(3)
    await new.append([Entry(4, 4, TakeOverShard("node-b", 2))])

    with pytest.raises(JournalConflict):
        await old.append([Entry(4, 4, order(4))])

    await new.append([Entry(5, 5, order(5))])  # the fencer goes on
    await old.close()
    await new.close()


class Pair:
    """A primary shard holding the lease, and a candidate on a node of its own."""

    def __init__(self, tmp_path: Path, settings: JetStreamSettings, kv: KeyValue) -> None:
        self.settings = settings
        self.kv = kv
        self.primary = ShardRole(
            NodeSettings(tmp_path / "a", fsync=False), journal=JetStreamJournal(settings)
        )
        self.primary_lease = ShardLease(kv, settings.shard, "node-a", 1_000)
        self.journal = JetStreamJournal(settings)
        self.node = Node(NodeSettings(tmp_path / "b", fsync=False), self.journal)
        self.clock = FakeClock()
        self.lease = ShardLease(kv, settings.shard, "node-b", 1_000, monotonic=self.clock)
        self.lost: list[LeaseLost] = []
        self.candidate = ShardCandidate(self.node, self.journal, self.lease, 50, self.lost.append)

    async def start(self, commands: list[Command]) -> None:
        await self.primary.start()
        assert await self.primary_lease.acquire()
        for command in commands:
            await self.primary.submit(command)
        await self.node.recover()

    async def stop(self) -> None:
        await self.candidate.stop()
        await self.node.stop(snapshot=False)
        await self.primary.stop()


@pytest.fixture
async def pair(
    tmp_path: Path, jetstream_settings: JetStreamSettings, kv: KeyValue
) -> AsyncIterator[Pair]:
    here = Pair(tmp_path, jetstream_settings, kv)
    try:
        yield here
    finally:
        await here.stop()


async def test_a_standby_follows_takes_over_fenced_and_the_old_primary_acknowledges_nothing(
    pair: Pair,
) -> None:
    await pair.start(
        [AddInstrument(Instrument("XYZ", tick_size=1))] + [order(i) for i in range(5)]
    )
    taking = asyncio.create_task(pair.candidate.become_primary(asyncio.Event()))
    for index in range(5, 40):  # the primary goes on; the standby follows
        await pair.primary.submit(order(index))
    primary_engine = pair.primary.engine
    await _until(lambda: pair.candidate.engine.last_seq == primary_engine.last_seq, "followed")
    assert pair.candidate.engine.state_hash() == primary_engine.state_hash()
    assert pair.node.events.last_seq == primary_engine.last_seq  # its own event log too
    assert pair.candidate.state == STANDBY and not taking.done()
    await _until(lambda: pair.lease.seen is not None, "the lease observed")

    pair.clock.now += 1.5  # the lease has not moved for its TTL, as the standby's clock says

    assert await asyncio.wait_for(taking, WAIT_S)
    assert pair.candidate.state == PRIMARY and pair.lease.epoch == 2
    engine = pair.candidate.engine
    assert engine.last_seq == primary_engine.last_seq + 1
    assert engine.leader_epoch == 2
    with pytest.raises(SequencerStopped):
        await pair.primary.submit(order(99))  # its append expects the stream before the fence
    sequencer = pair.primary.node.sequencer
    assert sequencer is not None and isinstance(sequencer.failure, JournalConflict)
    with pytest.raises(LeaseLost):
        await pair.primary_lease.renew()
    assert (await _replayed(pair.settings)).state_hash() == engine.state_hash()
    pair.node.start_sequencer()
    result = await pair.node.submit(order(100))
    assert result.seq == engine.last_seq and type(result.events[0]) is OrderAccepted
    assert pair.lost == []


async def test_a_fence_refused_because_the_old_primary_appended_is_tried_again_after_it(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pair.start([AddInstrument(Instrument("XYZ", tick_size=1)), order(0)])
    append = pair.journal.append
    raced: list[int] = []

    async def after_the_old_primary(entries: list[Entry]) -> None:
        if not raced:  # the old primary appends at the fence's seq first
            raced.append((await pair.primary.submit(order(1))).seq)
        await append(entries)

    monkeypatch.setattr(pair.journal, "append", after_the_old_primary)
    taking = asyncio.create_task(pair.candidate.become_primary(asyncio.Event()))
    await _until(lambda: pair.lease.seen is not None, "the lease observed")
    pair.clock.now += 1.5

    assert await asyncio.wait_for(taking, WAIT_S)

    engine = pair.candidate.engine
    assert raced and engine.last_seq == raced[0] + 1  # the fence went after the raced record
    assert engine.books["XYZ"].order_view(raced[0]) is not None  # acknowledged: not lost
    assert (await _replayed(pair.settings)).state_hash() == engine.state_hash()


def test_the_fence_changes_nothing_but_the_epoch_and_readers_ignore_its_event(
    tmp_path: Path,
) -> None:
    engine = Engine()
    engine.apply(AddInstrument(Instrument("XYZ", tick_size=1)), 1, 10)
    placed = engine.apply(msgspec.structs.replace(order(2), order_id=2), 2, 20)
    before = Engine.restore(engine.snapshot())

    events = engine.apply(TakeOverShard("node-b", 3), 3, 30)

    assert events == [ShardLeaderChanged(3, 30, "node-b", 3)]
    assert engine.leader_epoch == 3 and Engine.restore(engine.snapshot()).leader_epoch == 3
    old, new = decode_state(before.snapshot()), decode_state(engine.snapshot())
    assert (new.last_seq, new.last_ts, new.leader_epoch) == (3, 30, 3)
    unchanged = msgspec.msgpack.encode  # (the state's parts compare as their bytes)
    assert unchanged([new.books, new.risk, new.client_orders, new.last_order_id]) == unchanged(
        [old.books, old.risk, old.client_orders, old.last_order_id]
    )
    before.apply(TakeOverShard("node-b", 3), 3, 30)
    assert before.state_hash() == engine.state_hash()  # deterministic, replayable
    event = events[0]
    placed_event = placed[0]
    assert isinstance(placed_event, OrderAccepted)
    state = accepted(placed_event)
    assert evolve(state, event) is state
    first = ShardLeaderChanged(1, 10, "node-b", 3)  # as the first command of a feed
    view = MarketDataView(10)
    view.apply(1, 10, [first])
    assert NatsNames(shard="s").subject_of([event]) == NatsNames(shard="s").event_subject(
        None, None
    )
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    store = make_engine(url)
    try:
        projector = Projector(store)
        assert projector.apply_stream([(1, 10, [first])]) == 1
        assert projector.last_seq() == 1
    finally:
        store.dispose()
