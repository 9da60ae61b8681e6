"""A full disk never makes an answer false, and the node serves again by itself.

Each test mounts a small tmpfs of its own, puts a log, a node or a served platform on it, and
fills it with a ballast file. Then: every caller answered with a result has its command in the
journal, every caller refused has not; the engine equals a clean replay of the journal; once
the ballast is removed commands are taken again without a restart, with no seq gap, and the
event log is complete (after a restart when it had to give up). The rules are in
`tradingfloor.journal.segments` (rollback), `tradingfloor.service.sequencer` (refusals and
retry) and `tradingfloor.service.eventlog` (held batches, the bound).
"""

import asyncio
import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from api_helpers import served
from conftest import skip_or_fail
from tradingfloor.domain.commands import AddInstrument, Command, PlaceOrder
from tradingfloor.domain.enums import AccountKind, OrderType, Side, TimeInForce
from tradingfloor.domain.events import AccountOpened, Event
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.journal.base import Journal
from tradingfloor.journal.codec import Entry
from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.segments import HEADER, SegmentedLog
from tradingfloor.service.eventlog import EventLog, EventLogStopped
from tradingfloor.service.node import Node, NodeSettings
from tradingfloor.service.sequencer import (
    JournalUnavailable,
    Result,
    Sequencer,
    SequencerStopped,
)

DISK_BYTES = 8 * 1024 * 1024
SEGMENT_BYTES = 256 * 1024
SYMBOL = "ACME"
INSTRUMENT = Instrument(SYMBOL, tick_size=1)
RETRY_MAX_S = 0.2
"""`journal_retry_max_s` here: the waits after a failed journal write stay short."""
ATTEMPTS_MAX = 200
"""Attempts, each after the wait the refusal asked for, before a test gives up on a retry."""
CHUNK = 20
"""Orders submitted together: one batch, or a few."""
ANSWER_TIMEOUT_S = 5.0
KIND = AccountKind.CASH


# ---------------------------------------------------------------- the small disk


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of `DISK_BYTES` of its own (root only), unmounted at the end."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700"]
    try:
        mounted = subprocess.run(
            [*command, "tmpfs", str(mount_point)], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        skip_or_fail(f"cannot mount a tmpfs for a full disk: {error}")
    if mounted.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs for a full disk: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        unmounted = subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=30)
        if unmounted.returncode != 0:  # a failed test left a file open: detach it anyway
            subprocess.run(["umount", "-l", str(mount_point)], check=True, timeout=30)


async def settle(turns: int = 20) -> None:
    """Let the loop run the other tasks for a few turns."""
    for _ in range(turns):
        await asyncio.sleep(0)


def fill(disk: Path) -> Path:
    """Fill `disk` with a ballast file until it takes no more bytes; returns its path."""
    ballast = disk / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    chunk = bytes(64 * 1024)
    try:
        while True:
            os.write(fd, chunk)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return ballast


# ---------------------------------------------------------------- commands and checks


def order(number: int) -> PlaceOrder:
    """Buys and sells that cross (fills), each with a client order id of its own."""
    side, account = (Side.BUY, "buyer") if number % 2 == 0 else (Side.SELL, "seller")
    return PlaceOrder(
        0,
        account,
        SYMBOL,
        side,
        OrderType.LIMIT,
        10,
        price=100 + number % 3,
        tif=TimeInForce.GTC,
        client_order_id=f"order-{number}",
    )


Outcome = Result | BaseException


async def submit_chunks(
    node: Node, commands: Sequence[Command], stop_after_refusals: int | None = None
) -> list[Outcome]:
    """Submit `CHUNK` commands at a time; with `stop_after_refusals`, stop after that many
    chunks with a refusal in them (the outcomes stop there too)."""
    outcomes: list[Outcome] = []
    refused_chunks = 0
    for start in range(0, len(commands), CHUNK):
        chunk = commands[start : start + CHUNK]
        outcomes += await asyncio.gather(*(node.submit(c) for c in chunk), return_exceptions=True)
        if any(not isinstance(outcome, Result) for outcome in outcomes[start:]):
            refused_chunks += 1
            if stop_after_refusals is not None and refused_chunks >= stop_after_refusals:
                break
    return outcomes


async def submit_when_taken(node: Node, command: Command) -> Result:
    """Submit, and again after each wait a refusal asks for, as a client would."""
    for _ in range(ATTEMPTS_MAX):
        try:
            return await node.submit(command)
        except JournalUnavailable as refused:
            await asyncio.sleep(refused.retry_after_s)
    pytest.fail(f"the journal refused {ATTEMPTS_MAX} times in a row")


def journaled(node_dir: Path) -> list[Entry]:
    """The journal as a fresh reader finds it (read-only: a running node's files)."""
    journal = FileJournal(node_dir / "journal")
    journal.log.open(read_only=True)
    assert journal.log.torn_bytes_cut == 0, "a failed write left bytes after the last frame"
    return list(journal.read())


def check_answers_are_true(
    commands: Sequence[PlaceOrder], outcomes: Sequence[Outcome], entries: list[Entry]
) -> tuple[int, int]:
    """Each result's command is in the journal at its seq, each refusal's is not; returns
    (results, refusals)."""
    assert [entry.seq for entry in entries] == list(range(1, len(entries) + 1))
    by_client_id = {
        entry.command.client_order_id: entry
        for entry in entries
        if isinstance(entry.command, PlaceOrder)
    }
    results = refusals = 0
    for command, outcome in zip(commands, outcomes, strict=False):
        if isinstance(outcome, Result):
            results += 1
            entry = by_client_id.get(command.client_order_id)
            assert entry is not None, f"{command.client_order_id} was answered, not journaled"
            assert (entry.seq, entry.command) == (outcome.seq, outcome.command)
        else:
            assert isinstance(outcome, JournalUnavailable), repr(outcome)
            refusals += 1
            assert command.client_order_id not in by_client_id, (
                f"{command.client_order_id} was refused, yet journaled"
            )
    return results, refusals


def replayed_hash(entries: list[Entry]) -> str:
    engine = Engine()
    for entry in entries:
        engine.apply(entry.command, entry.seq, entry.ts)
    return engine.state_hash()


def engine_of(node: Node) -> Engine:
    assert node.sequencer is not None
    return node.sequencer.engine


def event_seqs(directory: Path) -> list[int]:
    events = EventLog(directory)
    events.log.open(read_only=True)
    return [seq for seq, _, _ in events.read()]


async def check_restart_is_whole(settings: NodeSettings, engine_hash: str, last_seq: int) -> None:
    """A restart recovers the same engine, and its event log holds every seq."""
    again = Node(settings)
    recovered = await again.start()
    try:
        assert recovered.last_seq == last_seq
        assert recovered.engine.state_hash() == engine_hash
        assert [seq for seq, _, _ in again.events.read()] == list(range(1, last_seq + 1))
        assert again.problems() == []
    finally:
        await again.stop()


# ---------------------------------------------------------------- the node on a full disk


async def test_a_failed_event_log_write_never_fails_a_journaled_command(disk: Path) -> None:
    data = disk / "node"
    settings = NodeSettings(data, segment_bytes_max=SEGMENT_BYTES, journal_retry_max_s=RETRY_MAX_S)
    node = Node(settings)  # fsync on: the journal's segment is preallocated, the event log's not
    await node.start()
    try:
        await node.submit(AddInstrument(INSTRUMENT))
        ballast = fill(disk)
        commands = [order(number) for number in range(400)]

        outcomes = await submit_chunks(node, commands)

        assert all(isinstance(outcome, Result) for outcome in outcomes), outcomes
        assert node.events.write_failure is not None and node.events.behind
        assert node.events.unwritten > 0 and node.events.stopped is None
        entries = journaled(data)
        assert check_answers_are_true(commands, outcomes, entries) == (400, 0)
        assert engine_of(node).state_hash() == replayed_hash(entries)
        assert await node.snapshot() is None  # not while the event log is behind
        assert node.snapshots.paths() == []
        assert node.problems() == []  # behind, within its bound: it serves

        ballast.unlink()
        last = await node.submit(order(400))

        assert last.seq == len(entries) + 1
        assert not node.events.behind and node.events.write_failure is None
        assert [seq for seq, _, _ in node.events.read()] == list(range(1, last.seq + 1))
        engine_hash = engine_of(node).state_hash()
    finally:
        await node.stop()
    await check_restart_is_whole(settings, engine_hash, last.seq)


async def test_a_failed_journal_write_is_undone_refused_and_taken_again_after_a_wait(
    disk: Path,
) -> None:
    data = disk / "node"
    settings = NodeSettings(data, segment_bytes_max=SEGMENT_BYTES, journal_retry_max_s=RETRY_MAX_S)
    # Not preallocated: a journal write itself meets the full disk, partway through a frame.
    journal = FileJournal(data / "journal", segment_bytes_max=SEGMENT_BYTES, preallocate=False)
    node = Node(settings, journal=journal)
    await node.start()
    try:
        await node.submit(AddInstrument(INSTRUMENT))
        ballast = fill(disk)
        commands = [order(number) for number in range(2_000)]

        outcomes = await submit_chunks(node, commands, stop_after_refusals=3)

        entries = journaled(data)
        results, refusals = check_answers_are_true(commands, outcomes, entries)
        assert refusals > 0 and results > 0
        assert engine_of(node).state_hash() == replayed_hash(entries)
        assert engine_of(node).last_seq == entries[-1].seq
        sequencer = node.sequencer
        assert sequencer is not None and sequencer.failure is None
        assert sequencer.journal_failure is not None
        assert sequencer.journal_failure.errno == errno.ENOSPC
        assert any("journal" in problem for problem in node.problems())

        ballast.unlink()
        taken = await submit_when_taken(node, order(2_000))

        assert taken.seq == entries[-1].seq + 1  # no gap: the refused took no seq
        assert sequencer.journal_failure is None and node.problems() == []
        assert engine_of(node).state_hash() == replayed_hash(journaled(data))
        engine_hash = engine_of(node).state_hash()
    finally:
        await node.stop()
    await check_restart_is_whole(settings, engine_hash, taken.seq)


async def test_a_failed_rotation_leaves_no_segment_behind_and_the_next_one_is_made_later(
    disk: Path,
) -> None:
    data = disk / "node"
    segment_bytes = 64 * 1024  # preallocated: writes inside it cannot fail, a rotation can
    settings = NodeSettings(data, segment_bytes_max=segment_bytes, journal_retry_max_s=RETRY_MAX_S)
    node = Node(settings)
    await node.start()
    try:
        await node.submit(AddInstrument(INSTRUMENT))
        ballast = fill(disk)  # before the next segment is prepared: that will fail
        commands = [order(number) for number in range(5_000)]

        outcomes = await submit_chunks(node, commands, stop_after_refusals=3)

        journal_dir = data / "journal"
        assert sorted(path.name for path in journal_dir.iterdir()) == [
            "journal-00000000000000000001.log"  # no half-made segment, no prepared .tmp
        ]
        entries = journaled(data)
        results, refusals = check_answers_are_true(commands, outcomes, entries)
        assert refusals > 0 and results > 0
        assert engine_of(node).state_hash() == replayed_hash(entries)

        ballast.unlink()
        taken = await submit_when_taken(node, order(5_000))

        assert taken.seq == entries[-1].seq + 1
        refused = [
            c for c, o in zip(commands, outcomes, strict=False) if not isinstance(o, Result)
        ]
        for command in refused:  # their callers retry: now the journal rotates
            taken = await node.submit(command)
        assert len(list(journal_dir.glob("journal-*.log"))) == 2
        engine_hash = engine_of(node).state_hash()
    finally:
        await node.stop()
    await check_restart_is_whole(settings, engine_hash, taken.seq)


async def test_an_event_log_beyond_its_bound_stops_and_the_next_start_rebuilds_it(
    disk: Path,
) -> None:
    data = disk / "node"
    settings = NodeSettings(
        data,
        segment_bytes_max=SEGMENT_BYTES,
        journal_retry_max_s=RETRY_MAX_S,
        events_unwritten_max=50,
    )
    node = Node(settings)
    await node.start()
    try:
        await node.submit(AddInstrument(INSTRUMENT))
        ballast = fill(disk)
        commands = [order(number) for number in range(300)]

        outcomes = await submit_chunks(node, commands)

        assert all(isinstance(outcome, Result) for outcome in outcomes), outcomes
        assert node.events.stopped is not None and node.events.unwritten == 0
        assert any("event log stopped" in problem for problem in node.problems())
        events_last_seq = node.events.last_seq
        assert events_last_seq < engine_of(node).last_seq

        ballast.unlink()  # it stays stopped until the next start; commands go on
        last = await node.submit(order(300))

        assert node.events.last_seq == events_last_seq
        entries = journaled(data)
        assert check_answers_are_true(commands, outcomes, entries) == (300, 0)
        assert engine_of(node).state_hash() == replayed_hash(entries)
        engine_hash = engine_of(node).state_hash()
    finally:
        await node.stop()
    assert node.snapshots.paths() == []  # none may let the journal go past the event log
    assert event_seqs(data / "events") == list(range(1, events_last_seq + 1))
    ballast = fill(disk)
    blocked = Node(settings)
    with pytest.raises(RuntimeError, match="make room"):  # the read models need it whole
        await blocked.start()
    await blocked.stop()
    ballast.unlink()
    await check_restart_is_whole(settings, engine_hash, last.seq)


# ---------------------------------------------------------------- the event log's followers


def opened(seq: int) -> list[tuple[int, int, list[Event]]]:
    """One command's events, about 1 KiB of them: a tmpfs page takes only a few."""
    return [(seq, seq, [AccountOpened(seq, seq, f"account-{seq}-" + "x" * 1_000, KIND)])]


async def test_a_follower_gets_held_batches_once_written_and_hears_when_the_log_stops(
    disk: Path,
) -> None:
    events = EventLog(disk / "events", unwritten_max=30)
    events.open()
    events.append(opened(1))
    seen: list[int] = []

    async def follow() -> None:
        async for seq, _, _ in events.follow(1):
            seen.append(seq)

    follower = asyncio.create_task(follow())
    ballast = fill(disk)
    for seq in range(2, 12):
        events.append(opened(seq))
    await settle()

    assert events.unwritten > 0 and seen == list(range(1, events.last_seq + 1))
    ballast.unlink()
    events.append(opened(12))
    await settle()
    assert seen == list(range(1, 13)) and not events.behind

    ballast = fill(disk)
    for seq in range(13, 60):
        events.append(opened(seq))
    await settle()

    assert events.stopped is not None
    with pytest.raises(EventLogStopped):
        await asyncio.wait_for(follower, ANSWER_TIMEOUT_S)
    assert seen == list(range(1, events.last_seq + 1))  # all it wrote, then the error
    events.close()
    ballast.unlink()


# ---------------------------------------------------------------- segment rollback


def payload_records(first: int, count: int, size: int = 40) -> list[tuple[int, int, int, bytes]]:
    return [(1, seq, seq, bytes([seq % 251]) * size) for seq in range(first, first + count)]


def log_on(directory: Path, segment_bytes_max: int, preallocate: bool) -> SegmentedLog:
    log = SegmentedLog(
        directory, segment_bytes_max=segment_bytes_max, fsync=True, preallocate=preallocate
    )
    log.open()
    return log


def contents(log: SegmentedLog) -> list[tuple[int, int, int, bytes]]:
    return [(r.version, r.seq, r.ts, bytes(r.payload)) for r in log.read()]


def test_a_failed_append_rolled_back_leaves_exactly_the_records_before(disk: Path) -> None:
    directory = disk / "log"
    log = log_on(directory, 1024 * 1024, preallocate=False)
    before = payload_records(1, 30)
    for record in before:
        log.append([record])
    path = log.segments[-1].path
    size = log.segments[-1].size
    ballast = fill(disk)

    with pytest.raises(OSError) as failed:
        log.append(payload_records(31, 1, size=64 * 1024))

    assert failed.value.errno == errno.ENOSPC
    assert path.stat().st_size > size  # it did write part of the frame
    with pytest.raises(RuntimeError, match="not rolled back"):
        log.append(payload_records(31, 1))
    log.rollback()
    assert path.stat().st_size == size
    log.close()
    again = log_on(directory, 1024 * 1024, preallocate=False)
    assert (contents(again), again.torn_bytes_cut) == (before, 0)
    ballast.unlink()
    again.append(payload_records(31, 1, size=64 * 1024))
    assert contents(again) == before + payload_records(31, 1, size=64 * 1024)
    again.close()


def test_a_failed_append_to_a_preallocated_segment_rolled_back_is_zeros(disk: Path) -> None:
    directory = disk / "log"
    segment_bytes = 4096  # one tmpfs page
    log = log_on(directory, segment_bytes, preallocate=True)
    before: list[tuple[int, int, int, bytes]] = []
    while log._next is None:  # past half of the segment: the next one is prepared ahead
        record = payload_records(len(before) + 1, 1)
        log.append(record)
        before += record
    log._next.wait()
    ballast = fill(disk)
    # Bigger than a segment: it gets the prepared one, and runs out of disk past its size.
    big = payload_records(len(before) + 1, 1, size=64 * 1024)

    with pytest.raises(OSError) as failed:
        log.append(big)

    assert failed.value.errno == errno.ENOSPC
    newest = log.segments[-1].path
    assert len(log.segments) == 2 and newest.read_bytes()[HEADER.size :].strip(b"\0")
    log.rollback()
    data = newest.read_bytes()
    assert len(data) == segment_bytes and data[HEADER.size :] == bytes(segment_bytes - HEADER.size)
    log.close()
    again = log_on(directory, segment_bytes, preallocate=True)
    assert (contents(again), again.torn_bytes_cut) == (before, 0)
    ballast.unlink()
    again.append(big)
    assert contents(again) == before + big
    again.close()


@pytest.mark.parametrize("preallocate", [False, True], ids=["written", "preallocated"])
def test_a_failed_rotation_leaves_the_log_as_it_was(disk: Path, preallocate: bool) -> None:
    directory = disk / "log"
    segment_bytes = 4096  # one tmpfs page: appends inside it need no more disk
    log = log_on(directory, segment_bytes, preallocate)
    log.append(payload_records(1, 1))
    ballast = fill(disk)  # the next segment cannot be prepared, nor created
    before = payload_records(1, 1)
    with pytest.raises(OSError) as failed:
        for seq in range(2, 200):
            log.append(payload_records(seq, 1))
            before += payload_records(seq, 1)

    assert failed.value.errno == errno.ENOSPC
    assert len(log.segments) == 1
    assert [path.name for path in directory.iterdir()] == [log.segments[0].path.name]
    log.rollback()  # nothing to undo: the rotation undid itself
    with pytest.raises(OSError) as again_failed:  # the same way, not on a leftover file
        log.append(payload_records(len(before) + 1, 1))
    assert again_failed.value.errno == errno.ENOSPC
    ballast.unlink()
    log.append(payload_records(len(before) + 1, 1))
    before += payload_records(len(before) + 1, 1)

    assert len(log.segments) == 2
    log.close()
    again = log_on(directory, segment_bytes, preallocate)
    assert (contents(again), again.torn_bytes_cut) == (before, 0)
    again.close()


# ---------------------------------------------------------------- the sequencer's refusals


class FullDiskJournal(Journal):
    """In memory; appends raise ENOSPC while `full` (after `gate` is set, if there is one); a
    rollback succeeds unless `rollback_failure` is set."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.gate: asyncio.Event | None = None
        self.appends = 0
        self.rollbacks = 0
        self.full = False
        self.rollback_failure: BaseException | None = None

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else 0

    async def open(self, after_seq: int = 0) -> None:
        pass

    async def append(self, entries: list[Entry]) -> None:
        self.appends += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.entries.extend(entries)

    async def rollback_failed_append(self) -> None:
        self.rollbacks += 1
        if self.rollback_failure is not None:
            raise self.rollback_failure

    async def replay(self, from_seq: int = 1) -> AsyncIterator[Entry]:
        for entry in list(self.entries):
            if entry.seq >= from_seq:
                yield entry

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


async def refused_after(sequencer: Sequencer, command: Command) -> JournalUnavailable:
    with pytest.raises(JournalUnavailable) as refused:
        await sequencer.submit(command)
    return refused.value


async def test_refusals_wait_twice_as_long_each_time_up_to_the_limit_then_start_again() -> None:
    journal = FullDiskJournal()
    clock = Clock()
    engine = Engine()
    sequencer = Sequencer(engine, journal, journal_retry_max_s=0.5, monotonic=clock)
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))
    hash_before = engine.state_hash()
    journal.full = True

    waits = []
    for attempt in range(5):
        refused = await refused_after(sequencer, order(attempt))
        waits.append(refused.retry_after_s)
        appends = journal.appends
        # refused at once for as long as the wait lasts, without trying the journal
        clock.now_s += refused.retry_after_s / 2
        assert (await refused_after(sequencer, order(99))).retry_after_s == pytest.approx(
            refused.retry_after_s / 2
        )
        assert journal.appends == appends
        clock.now_s += refused.retry_after_s  # past the wait

    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    assert journal.rollbacks == 5
    assert engine.state_hash() == hash_before and engine.last_seq == 1
    journal.full = False
    taken = await sequencer.submit(order(5))
    assert taken.seq == 2 and sequencer.journal_failure is None
    journal.full = True
    assert (await refused_after(sequencer, order(6))).retry_after_s == pytest.approx(0.1)
    await sequencer.stop()


async def test_a_failed_batch_and_every_command_queued_behind_it_are_refused() -> None:
    journal = FullDiskJournal()
    sequencer = Sequencer(Engine(), journal, monotonic=Clock())
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))
    journal.full = True
    journal.gate = asyncio.Event()
    first = asyncio.create_task(sequencer.submit(order(0)))
    for _ in range(100):  # the loop takes it into a batch of its own ...
        if journal.appends == 2:
            break
        await asyncio.sleep(0)
    assert journal.appends == 2
    queued = [asyncio.create_task(sequencer.submit(order(n))) for n in range(1, 6)]
    await asyncio.sleep(0)
    journal.gate.set()

    outcomes = await asyncio.gather(first, *queued, return_exceptions=True)

    assert all(isinstance(outcome, JournalUnavailable) for outcome in outcomes), outcomes
    assert journal.appends == 2  # ... the queued ones were never tried
    assert [entry.seq for entry in journal.entries] == [1]
    await sequencer.stop()


async def test_a_failed_write_that_cannot_be_undone_stops_the_sequencer() -> None:
    journal = FullDiskJournal()
    sequencer = Sequencer(Engine(), journal, monotonic=Clock())
    sequencer.start()
    await sequencer.submit(AddInstrument(INSTRUMENT))
    journal.full = True
    journal.rollback_failure = OSError(errno.EIO, "Input/output error")

    with pytest.raises(SequencerStopped) as stopped:
        await sequencer.submit(order(0))

    assert type(stopped.value) is SequencerStopped  # not a refusal to retry: it stopped
    assert isinstance(sequencer.failure, OSError) and sequencer.failure.errno == errno.ENOSPC
    assert sequencer.done.is_set()
    with pytest.raises(SequencerStopped, match="No space left"):
        await sequencer.submit(order(1))


async def test_a_journal_that_cannot_roll_back_keeps_stopping_for_good() -> None:
    class PublishedJournal(FullDiskJournal):
        rollback_failed_append = Journal.rollback_failed_append  # the default: it raises

    journal = PublishedJournal()
    sequencer = Sequencer(Engine(), journal, monotonic=Clock())
    sequencer.start()
    journal.full = True

    with pytest.raises(SequencerStopped) as stopped:
        await sequencer.submit(AddInstrument(INSTRUMENT))

    assert type(stopped.value) is SequencerStopped
    assert sequencer.failure is not None and sequencer.done.is_set()


# ---------------------------------------------------------------- over HTTP


async def test_over_http_a_200_is_journaled_a_5036_is_not_and_orders_resume(
    disk: Path, tmp_path: Path
) -> None:
    data = disk / "data"
    database_url = f"sqlite:///{tmp_path / 'platform.sqlite'}"  # the disk is for the node
    answered: dict[str, int] = {}
    async with served(data, database_url, journal_retry_max_s=RETRY_MAX_S) as api:
        await api.symbol("XYZ", "100")
        alice = await api.trader("alice", cash="10000000")
        ballast = fill(disk)
        refusals = 0
        for number in range(5_000):
            client_id = f"http-{number}"
            answer = await api.order(
                alice,
                side="buy",
                type="limit",
                qty=1,
                limit_price="99.00",
                client_order_id=client_id,
            )
            answered[client_id] = answer.status_code
            if answer.status_code == 503:
                assert answer.json() == {"code": 5036, "message": "journal unavailable: retry"}
                assert int(answer.headers["Retry-After"]) >= 1
                refusals += 1
                if refusals == 5:
                    break
            else:
                assert answer.status_code == 200, answer.text
        assert refusals == 5 and 200 in answered.values()
        ready = await api.client.get("/readyz", headers=api.admin)
        assert ready.status_code == 503
        assert any("journal" in problem for problem in ready.json()["problems"])

        ballast.unlink()
        for attempt in range(ATTEMPTS_MAX):
            client_id = f"again-{attempt}"
            answer = await api.order(
                alice,
                side="buy",
                type="limit",
                qty=1,
                limit_price="99.00",
                client_order_id=client_id,
            )
            answered[client_id] = answer.status_code
            if answer.status_code == 200:
                break
            assert answer.json()["code"] == 5036
            await asyncio.sleep(RETRY_MAX_S / 2)
        assert answer.status_code == 200, answer.text
        assert (await api.client.get("/readyz")).status_code == 200

    entries = journaled(data / "node")
    journaled_ids = {
        entry.command.client_order_id for entry in entries if isinstance(entry.command, PlaceOrder)
    }
    assert {c for c, status in answered.items() if status == 200} <= journaled_ids
    assert not {c for c, status in answered.items() if status == 503} & journaled_ids
    async with served(data, database_url) as api:
        assert [seq for seq, _, _ in api.platform.node.events.read()] == [
            entry.seq for entry in entries
        ]
        assert api.platform.engine.state_hash() == replayed_hash(entries)
        assert (await api.client.get("/readyz")).status_code == 200
