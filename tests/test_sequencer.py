"""The sequencer (group commit, order ids, failure, overload), the node's restart, and the event
log (read from anywhere, follow without gap or repeat, refill after a lost tail)."""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from functools import cache
from pathlib import Path

import pytest

from tradingfloor.bench.matching import standard_workload
from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.enums import CancelReason, OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    CommandEntered,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import NO_ORIGIN, Origin
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine import Engine
from tradingfloor.journal.base import Journal
from tradingfloor.journal.codec import Entry, on_the_feed
from tradingfloor.journal.file import FileJournal
from tradingfloor.service import eventlog
from tradingfloor.service.eventlog import EventLog
from tradingfloor.service.node import Node, NodeSettings
from tradingfloor.service.sequencer import (
    InvalidCommand,
    Overloaded,
    Result,
    Sequencer,
    SequencerStopped,
)

SYMBOL = "BENCH"  # the standard workload's symbol
INSTRUMENT = Instrument(SYMBOL, tick_size=1)
ANSWER_TIMEOUT_S = 2.0


class RecordingJournal(FileJournal):
    """A real file journal that also records every append: the batches and what was durable."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, fsync=False)
        self.batches: list[list[int]] = []
        self.durable: set[int] = set()

    async def append(self, entries: list[Entry]) -> None:
        self.batches.append([entry.seq for entry in entries])
        await super().append(entries)
        self.durable.update(entry.seq for entry in entries)


class MemoryJournal(Journal):
    """In memory; `gate` holds appends until set, `failure` makes them raise."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.failure: BaseException | None = None
        self.closed = False
        self._after = 0

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else self._after

    async def open(self, after_seq: int = 0) -> None:
        self._after = after_seq

    async def append(self, entries: list[Entry]) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        self.entries.extend(entries)

    async def replay(self, from_seq: int = 1) -> AsyncIterator[Entry]:
        for entry in list(self.entries):
            if entry.seq >= from_seq:
                yield entry

    async def close(self) -> None:
        self.closed = True


@cache
def workload(ops: int) -> tuple[Command, ...]:
    return (AddInstrument(INSTRUMENT), *standard_workload(ops).commands)


def place(order_id: int = 0, price: int = 100, side: Side = Side.BUY, qty: int = 10) -> PlaceOrder:
    return PlaceOrder(
        order_id, "acct", SYMBOL, side, OrderType.LIMIT, qty, price=price, tif=TimeInForce.GTC
    )


async def submit_in_order(submit: object, commands: Iterable[Command]) -> list[Result]:
    """Submit concurrently, in chunks, keeping the given order (tasks queue in creation order)."""
    results: list[Result] = []
    commands = list(commands)
    for start in range(0, len(commands), 256):
        chunk = commands[start : start + 256]
        results += await asyncio.gather(*(submit(c) for c in chunk))  # type: ignore[operator]
    return results


async def reap(sequencer: Sequencer) -> None:
    """Collect a failed sequencer's task, whatever `stop` does with its error.

    (An exception left unretrieved is logged from a finalizer, and a finalizer that runs inside
    `ast.parse` trips CPython 3.11.7's gh-106905, which crashes pytest's failure report.)
    """
    with contextlib.suppress(Exception):
        await sequencer.stop()


async def settle(turns: int = 20) -> None:
    """Let the loop run the sequencer and the submitters for a few turns."""
    for _ in range(turns):
        await asyncio.sleep(0)


# ---------------------------------------------------------------- sequencer


async def test_concurrent_submitters_get_consecutive_seqs_each_after_its_append(
    tmp_path: Path,
) -> None:
    journal = RecordingJournal(tmp_path)
    journal.open_sync()
    engine = Engine()
    sequencer = Sequencer(engine, journal)
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))
    answered_before_durable: list[int] = []
    mine: dict[int, list[int]] = {}

    async def caller(index: int) -> None:
        for round_ in range(5):
            price = 100 + (index * 7 + round_) % 40
            side = Side.BUY if (index + round_) % 2 else Side.SELL
            result = await sequencer.submit(place(0, price, side))
            if result.seq not in journal.durable:
                answered_before_durable.append(result.seq)
            mine.setdefault(index, []).append(result.seq)

    await asyncio.gather(*(caller(i) for i in range(200)))
    await sequencer.stop()

    seqs = sorted(seq for per_caller in mine.values() for seq in per_caller)
    assert seqs == list(range(2, 1_002))
    assert all(per_caller == sorted(per_caller) for per_caller in mine.values())
    assert answered_before_durable == []
    flat = [seq for batch in journal.batches for seq in batch]
    assert flat == list(range(1, 1_002))
    assert 1 < len(journal.batches) < 1_000 // 4  # group commit: many commands per append
    assert sum(sequencer.batch_sizes) == 1_001
    assert engine.last_seq == journal.last_seq == 1_001
    # what the engine applied is what the journal holds, in the same order
    replayed = Engine()
    for entry in journal.read():
        replayed.apply(entry.command, entry.seq, entry.ts)
    assert replayed.state_hash() == engine.state_hash()


async def test_no_caller_is_answered_before_its_batch_is_appended() -> None:
    journal = MemoryJournal()
    journal.gate = asyncio.Event()
    engine = Engine()
    sequencer = Sequencer(engine, journal)
    sequencer.start()
    tasks = [asyncio.create_task(sequencer.submit(AddInstrument(INSTRUMENT)))]
    tasks += [asyncio.create_task(sequencer.submit(place(0, 100 + i))) for i in range(20)]

    await settle()

    assert journal.calls == 1
    assert not any(task.done() for task in tasks)
    assert engine.last_seq == 0  # nothing applied before the journal said durable
    journal.gate.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), ANSWER_TIMEOUT_S)
    assert [r.seq for r in results] == list(range(1, 22))
    assert [e.seq for e in journal.entries] == list(range(1, 22))
    await sequencer.stop()


async def test_timestamps_never_go_backwards_even_when_the_clock_does() -> None:
    journal = MemoryJournal()
    times = iter([5_000, 4_000, 6_000, 1_000])
    sequencer = Sequencer(Engine(), journal, clock=lambda: next(times))
    sequencer.start()

    stamps = [(await sequencer.submit(AddInstrument(INSTRUMENT))).ts for _ in range(4)]

    assert stamps == [5_000, 5_000, 6_000, 6_000]
    await sequencer.stop()


async def test_timestamps_never_go_backwards_across_a_restart(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path, fsync=False)
    journal.open_sync()
    first = Sequencer(Engine(), journal, clock=lambda: 9_000)
    first.start()
    await first.submit(AddInstrument(INSTRUMENT))
    await first.stop()
    replayed = Engine()
    for entry in journal.read():
        replayed.apply(entry.command, entry.seq, entry.ts)

    again = Sequencer(replayed, journal, clock=lambda: 100)  # the wall clock stepped back
    again.start()
    result = await again.submit(place(0, 100))

    assert (result.seq, result.ts) == (2, 9_000)
    await again.stop()


async def test_order_ids_come_from_the_seq_when_the_command_has_none(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path, fsync=False)
    journal.open_sync()
    sequencer = Sequencer(Engine(), journal)
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))
    await sequencer.submit(place(0, 100))  # seq 2

    explicit = await sequencer.submit(place(1_000, 101))  # seq 3: keeps its id
    assigned = await sequencer.submit(place(0, 102))  # seq 4: ids below 1,000 are used up
    replaced = await sequencer.submit(ReplaceOrder(2, 0, SYMBOL, "acct", price=99))  # seq 5
    with_id = await sequencer.submit(ReplaceOrder(1_000, 2_000, SYMBOL, "acct", price=98))

    first = journal.read(2)
    assert next(first).command.order_id == 2  # type: ignore[attr-defined]
    assert explicit.command.order_id == 1_000  # type: ignore[attr-defined]
    assert type(explicit.events[0]) is OrderAccepted
    assert assigned.command.order_id == 4  # type: ignore[attr-defined]
    assert assigned.events[0].order_id == 4  # type: ignore[attr-defined]
    assert assigned.events == [  # 4 < 1,000: the engine refuses it
        OrderRejected(4, assigned.ts, 4, "acct", SYMBOL, RejectReason.DUPLICATE_ORDER_ID, "")
    ]
    assert replaced.command.new_order_id == 5  # type: ignore[attr-defined]
    assert replaced.events == [  # 5 < 1,000 too
        ReplaceRejected(5, replaced.ts, 2, 5, SYMBOL, RejectReason.DUPLICATE_ORDER_ID, "acct")
    ]
    assert with_id.command.new_order_id == 2_000  # type: ignore[attr-defined]
    journaled = {e.seq: e.command for e in journal.read()}
    assert journaled[4] == assigned.command
    assert journaled[5] == replaced.command
    await sequencer.stop()


async def test_order_ids_from_seq_are_accepted_in_a_fresh_book(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path, fsync=False)
    journal.open_sync()
    sequencer = Sequencer(Engine(), journal)
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))

    results = await asyncio.gather(*(sequencer.submit(place(0, 100 + i)) for i in range(10)))
    replaced = await sequencer.submit(ReplaceOrder(results[0].seq, 0, SYMBOL, "acct", price=90))
    canceled = await sequencer.submit(CancelOrder(replaced.seq, SYMBOL, "acct"))

    for result in results:
        assert result.command.order_id == result.seq  # type: ignore[attr-defined]
        assert [type(e) for e in result.events] == [OrderAccepted]
        assert result.events[0].order_id == result.seq  # type: ignore[attr-defined]
    assert replaced.events == [
        OrderReplaced(
            replaced.seq, replaced.ts, 2, replaced.seq, SYMBOL, 10, 90, None, 10, False, "acct", ""
        )
    ]
    assert [type(e) for e in canceled.events] == [OrderCanceled]
    await sequencer.stop()


async def test_a_failed_append_stops_the_sequencer_and_fails_every_waiting_caller() -> None:
    journal = MemoryJournal()
    engine = Engine()
    sequencer = Sequencer(engine, journal)
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))
    await sequencer.submit(place(0, 100))
    hash_before = engine.state_hash()
    journal.gate = asyncio.Event()
    journal.failure = OSError(28, "No space left on device")
    in_batch = asyncio.create_task(sequencer.submit(place(0, 101)))
    await settle()
    queued = [asyncio.create_task(sequencer.submit(place(0, 102 + i))) for i in range(5)]
    await settle()
    assert journal.calls == 3  # the first batch holds one command; the rest wait behind it

    journal.gate.set()
    outcomes = await asyncio.wait_for(
        asyncio.gather(in_batch, *queued, return_exceptions=True), ANSWER_TIMEOUT_S
    )

    assert all(type(outcome) is SequencerStopped for outcome in outcomes), outcomes
    assert sequencer.failure is journal.failure
    assert engine.last_seq == 2
    assert engine.state_hash() == hash_before  # nothing of the failed batch was applied
    assert [e.seq for e in journal.entries] == [1, 2]
    assert journal.calls == 3  # and the write was not retried
    with pytest.raises(SequencerStopped, match="No space left"):
        await sequencer.submit(place(0, 110))
    await reap(sequencer)


async def test_a_listener_failure_stops_the_sequencer_and_answers_the_batch() -> None:
    # The journal holds the command, but a listener failed (a bug: the event log's full disk
    # never gets here): the sequencer must stop, and the batch's callers must hear of it.
    journal = MemoryJournal()
    sequencer = Sequencer(Engine(), journal)

    def listener(seq: int, events: list[Event]) -> None:
        if seq == 2:
            raise OSError(28, "No space left on device")

    sequencer.listeners.append(listener)
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))

    try:
        with pytest.raises(SequencerStopped):
            await asyncio.wait_for(sequencer.submit(place(0, 100)), ANSWER_TIMEOUT_S)
        assert sequencer.failure is not None
        with pytest.raises(SequencerStopped):
            await sequencer.submit(place(0, 101))
    finally:
        await reap(sequencer)


async def test_a_full_queue_refuses_with_overloaded() -> None:
    journal = MemoryJournal()
    journal.gate = asyncio.Event()
    sequencer = Sequencer(Engine(), journal, queue_depth_max=3)
    sequencer.start()
    in_flight = asyncio.create_task(sequencer.submit(AddInstrument(INSTRUMENT)))
    await settle()  # taken into a batch: the queue is empty again
    queued = [asyncio.create_task(sequencer.submit(place(0, 100 + i))) for i in range(3)]
    await settle()

    with pytest.raises(Overloaded):
        await sequencer.submit(place(0, 200))

    journal.gate.set()
    results = await asyncio.wait_for(asyncio.gather(in_flight, *queued), ANSWER_TIMEOUT_S)
    assert [r.seq for r in results] == [1, 2, 3, 4]
    assert (await sequencer.submit(place(0, 201))).seq == 5  # room again
    await sequencer.stop()


async def test_a_command_the_journal_cannot_hold_is_refused_and_the_sequencer_goes_on() -> None:
    journal = MemoryJournal()
    sequencer = Sequencer(Engine(), journal)
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))

    with pytest.raises(InvalidCommand, match="journal"):
        await sequencer.submit(place(0, 2**70))

    assert (await sequencer.submit(place(0, 100))).seq == 2
    assert len(journal.entries) == 2 and sequencer.failure is None
    await sequencer.stop()


async def test_batches_are_capped_at_batch_max() -> None:
    journal = MemoryJournal()
    journal.gate = asyncio.Event()
    sequencer = Sequencer(Engine(), journal, batch_max=7)
    sequencer.start()
    tasks = [asyncio.create_task(sequencer.submit(AddInstrument(INSTRUMENT)))]
    await settle()
    tasks += [asyncio.create_task(sequencer.submit(place(0, 100 + i))) for i in range(30)]
    await settle()
    journal.gate.set()

    await asyncio.wait_for(asyncio.gather(*tasks), ANSWER_TIMEOUT_S)

    assert sequencer.batch_sizes == [1, 7, 7, 7, 7, 2]
    await sequencer.stop()


async def test_stop_finishes_what_is_queued() -> None:
    journal = MemoryJournal()
    sequencer = Sequencer(Engine(), journal)
    sequencer.start()
    tasks = [asyncio.create_task(sequencer.submit(AddInstrument(INSTRUMENT)))]
    tasks += [asyncio.create_task(sequencer.submit(place(0, 100 + i))) for i in range(50)]
    await asyncio.sleep(0)

    await sequencer.stop()

    assert all(task.done() and not task.exception() for task in tasks)
    assert len(journal.entries) == 51
    with pytest.raises(SequencerStopped):
        await sequencer.submit(place(0, 1))


# ---------------------------------------------------------------- node


async def test_a_node_restarts_to_the_same_state_and_seq(tmp_path: Path) -> None:
    settings = NodeSettings(tmp_path, segment_bytes_max=32 * 1024)
    node = Node(settings)
    first = await node.start()
    assert (first.last_seq, first.replayed) == (0, 0)
    results = await submit_in_order(node.submit, workload(3_000))
    assert node.sequencer is not None
    engine_hash = node.sequencer.engine.state_hash()
    assert any(type(e) is TradeExecuted for r in results for e in r.events)
    await node.stop()

    again = Node(settings)
    recovered = await again.start()

    assert recovered.last_seq == 3_001
    assert recovered.engine.state_hash() == engine_hash
    assert recovered.snapshot_seq == 3_001  # the snapshot taken at stop
    nxt = await again.submit(place(0, 50))
    assert nxt.seq == 3_002
    assert nxt.command.order_id == 3_002  # type: ignore[attr-defined]
    await again.stop()


async def test_a_node_stopped_without_a_snapshot_replays_the_journal(tmp_path: Path) -> None:
    settings = NodeSettings(tmp_path, segment_bytes_max=32 * 1024)
    node = Node(settings)
    await node.start()
    await submit_in_order(node.submit, workload(2_000))
    assert node.sequencer is not None
    engine_hash = node.sequencer.engine.state_hash()
    await node.stop(snapshot=False)

    again = Node(settings)
    recovered = await again.start()

    assert (recovered.snapshot_seq, recovered.replayed, recovered.last_seq) == (0, 2_001, 2_001)
    assert recovered.engine.state_hash() == engine_hash
    await again.stop()
    third = Node(settings)
    assert (await third.start()).engine.state_hash() == engine_hash
    await third.stop()


async def test_a_node_snapshots_every_n_commands_and_restarts_from_one(tmp_path: Path) -> None:
    settings = NodeSettings(tmp_path, snapshot_every_commands=600, segment_bytes_max=32 * 1024)
    node = Node(settings)
    await node.start()
    await submit_in_order(node.submit, workload(2_000))
    assert node._snapshot_task is not None
    await node._snapshot_task
    assert node.snapshots.paths()  # written while it ran
    assert node.sequencer is not None
    engine_hash = node.sequencer.engine.state_hash()
    await node.stop(snapshot=False)

    again = Node(settings)
    recovered = await again.start()

    assert 0 < recovered.snapshot_seq < 2_001
    assert recovered.replayed == 2_001 - recovered.snapshot_seq
    assert recovered.engine.state_hash() == engine_hash
    await again.stop()


async def test_a_node_stops_cleanly_after_a_journal_failure(tmp_path: Path) -> None:
    journal = MemoryJournal()
    node = Node(NodeSettings(tmp_path), journal=journal)
    await node.start()
    await node.submit(AddInstrument(INSTRUMENT))
    journal.failure = OSError(5, "Input/output error")
    with pytest.raises(SequencerStopped):
        await node.submit(place(0, 100))

    try:
        await node.stop()  # no snapshot of a node that failed, but everything is closed
    except OSError as error:
        pytest.fail(f"Node.stop() after a journal failure raised {error!r}")
    finally:
        assert node.sequencer is not None
        await reap(node.sequencer)

    assert journal.closed
    assert node.snapshots.paths() == []


# ---------------------------------------------------------------- event log


def event_batches(first: int, count: int) -> list[tuple[int, int, list[Event]]]:
    """(seq, ts, events) for `count` commands; some commands have no events."""
    batch: list[tuple[int, int, list[Event]]] = []
    for seq in range(first, first + count):
        events: list[Event] = [
            OrderCanceled(seq, seq * 10, seq * 100 + n, SYMBOL, n + 1, 0, CancelReason.REQUESTED)
            for n in range(seq % 3)
        ]
        batch.append((seq, seq * 10, events))
    return batch


def test_event_log_reads_from_any_seq_across_segments_and_reopens(tmp_path: Path) -> None:
    log = EventLog(tmp_path, segment_bytes_max=400)
    log.open()
    written = event_batches(1, 60)
    for start in range(0, 60, 7):
        log.append(written[start : start + 7])
    assert len(list(tmp_path.glob("events-*.log"))) > 3

    for from_seq in range(1, 62):
        assert list(log.read(from_seq)) == written[from_seq - 1 :], from_seq

    log.close()
    again = EventLog(tmp_path, segment_bytes_max=400)
    again.open()
    assert again.last_seq == 60
    assert list(again.read(33)) == written[32:]
    again.append(event_batches(61, 1))
    assert list(again.read(60)) == event_batches(60, 2)


async def collect(log: EventLog, from_seq: int, until_seq: int) -> list[int]:
    seqs = []
    async for seq, _, _ in log.follow(from_seq):
        seqs.append(seq)
        if seq >= until_seq:
            break
    return seqs


@pytest.mark.parametrize("from_seq", [1, 17, 41, 60])
async def test_follow_gives_stored_then_live_events_with_no_gap_or_repeat(
    tmp_path: Path, from_seq: int
) -> None:
    log = EventLog(tmp_path, segment_bytes_max=500)
    log.open()
    log.append(event_batches(1, 40))
    follower = asyncio.create_task(collect(log, from_seq, 100))
    await asyncio.sleep(0)

    for start in range(41, 101, 6):
        log.append(event_batches(start, min(6, 101 - start)))
        await asyncio.sleep(0)

    seqs = await asyncio.wait_for(follower, ANSWER_TIMEOUT_S)
    assert seqs == list(range(from_seq, 101))


async def test_follow_with_a_consumer_that_awaits_between_events(tmp_path: Path) -> None:
    # Appends land while the follower is still handing out stored events.
    log = EventLog(tmp_path, segment_bytes_max=500)
    log.open()
    log.append(event_batches(1, 30))
    seen: list[tuple[int, int, list[Event]]] = []

    async def slow() -> None:
        async for item in log.follow(1):
            seen.append(item)
            await asyncio.sleep(0)
            if item[0] >= 90:
                return

    follower = asyncio.create_task(slow())
    for seq in range(31, 91):
        log.append(event_batches(seq, 1))
        await asyncio.sleep(0)

    await asyncio.wait_for(follower, ANSWER_TIMEOUT_S)
    assert seen == event_batches(1, 90)


async def test_follow_catches_up_from_the_files_after_its_queue_overflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eventlog, "follower_queue_max", 2)
    log = EventLog(tmp_path)
    log.open()
    log.append(event_batches(1, 5))
    stream = log.follow(1)
    assert (await anext(stream))[0] == 1  # the stored events are read; 1 is handed out
    for seq in range(6, 10):  # four batches while the consumer is away: the queue overflows
        log.append(event_batches(seq, 1))

    async def rest() -> list[int]:
        seqs = []
        async for seq, _, _ in stream:
            seqs.append(seq)
            if seq >= 12:
                return seqs
        return seqs

    follower = asyncio.create_task(rest())
    await asyncio.sleep(0)
    for seq in range(10, 13):
        log.append(event_batches(seq, 1))
        await asyncio.sleep(0)
    try:
        seqs = await asyncio.wait_for(follower, 1.0)
    finally:
        await stream.aclose()

    assert seqs == list(range(2, 13))


def test_event_log_sync_makes_every_appended_event_durable_across_rotations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `sync` promises the snapshot: every event so far is on disk, in every segment."""
    dirty: set[str] = set()
    real_write, real_fsync, real_fdatasync = os.write, os.fsync, os.fdatasync

    def path_of(fd: int) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    def write(fd: int, data: bytes) -> int:  # type: ignore[type-arg]
        if path_of(fd).startswith(str(tmp_path)):
            dirty.add(path_of(fd))
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        dirty.discard(path_of(fd))
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        dirty.discard(path_of(fd))
        real_fdatasync(fd)

    log = EventLog(tmp_path, segment_bytes_max=400)
    log.open()
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    for start in range(1, 61, 5):
        log.append(event_batches(start, 5))
    assert len(list(tmp_path.glob("events-*.log"))) > 3

    log.sync()

    monkeypatch.undo()
    never_synced = sorted(Path(p).name for p in dirty)
    segments = sorted(p.name for p in tmp_path.glob("events-*.log"))
    assert never_synced == [], f"segments {segments}: never fsynced {never_synced}"


def fed(result: Result) -> tuple[int, int, list[Event]]:
    """A result's seq as the feed carries it: its command and origin, then its events."""
    return (
        result.seq,
        result.ts,
        on_the_feed(result.seq, result.ts, result.command, result.origin, result.events),
    )


async def test_the_feed_carries_each_command_with_who_sent_it_across_a_restart(
    tmp_path: Path,
) -> None:
    settings = NodeSettings(tmp_path)
    node = Node(settings)
    await node.start()
    origin = Origin(user="7", key_id="k1", source="127.0.0.1", gateway="g:1", ts_received=5)
    sent = await node.submit(place(0, 10), origin)
    unsigned = await node.submit(place(0, 11))
    await node.stop()
    for events in (tmp_path / "events").glob("events-*.log"):
        events.unlink()  # the journal alone must give them back

    again = Node(settings)
    await again.start()
    first, second = (items[0] for _, _, items in again.events.read(sent.seq))
    await again.stop()

    assert first == CommandEntered(sent.seq, sent.ts, sent.command, origin)
    assert second == CommandEntered(unsigned.seq, unsigned.ts, unsigned.command, NO_ORIGIN)


async def test_a_node_refills_the_events_its_event_log_lost(tmp_path: Path) -> None:
    settings = NodeSettings(tmp_path)
    node = Node(settings)
    await node.start()
    results = await submit_in_order(node.submit, workload(1_500))
    produced = [fed(r) for r in results]
    assert list(node.events.read(1)) == produced
    await node.stop()
    segment = sorted((tmp_path / "events").glob("events-*.log"))[-1]
    size = segment.stat().st_size
    with segment.open("r+b") as file:
        file.truncate(size * 2 // 3)  # mid-record, a third of the events gone

    again = Node(settings)
    recovered = await again.start()

    assert again.events.log.torn_bytes_cut > 0
    assert recovered.last_seq == 1_501
    assert list(again.events.read(1)) == produced
    more = await again.submit(place(0, 10))
    assert list(again.events.read(1_502)) == [fed(more)]
    await again.stop()


async def test_a_node_refills_lost_events_from_a_snapshot_before_them(tmp_path: Path) -> None:
    settings = NodeSettings(tmp_path, snapshot_every_commands=300)
    node = Node(settings)
    await node.start()
    results = await submit_in_order(node.submit, workload(1_500))
    produced = [fed(r) for r in results]
    await node.stop()
    segment = sorted((tmp_path / "events").glob("events-*.log"))[-1]
    data = segment.read_bytes()
    # truncate after the last whole frame (one per batch) at or before seq 1,400: a clean cut,
    # not a torn one (a frame is length u32 | crc u32 | count u32 | records)
    offset, kept = 16, 0
    while True:
        length = int.from_bytes(data[offset : offset + 4], "little")
        count = int.from_bytes(data[offset + 8 : offset + 12], "little")
        if kept + count > 1_400:
            break
        kept += count
        offset += 8 + length
    segment.write_bytes(data[:offset])

    again = Node(settings)
    recovered = await again.start()

    assert again.events.log.torn_bytes_cut == 0
    assert 1_000 < kept <= 1_400
    assert 0 < recovered.snapshot_seq <= kept
    assert recovered.replayed == 1_501 - recovered.snapshot_seq
    assert list(again.events.read(1)) == produced
    await again.stop()
