"""Recovery: the newest valid snapshot, then the journal after it, through a fresh engine."""

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tradingfloor.domain.events import Event
from tradingfloor.engine import Engine
from tradingfloor.journal.base import Journal
from tradingfloor.journal.codec import (
    COMMAND_VERSION,
    Entry,
    UnknownRecordVersion,
    command_decoder,
)
from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.segments import RawRecord
from tradingfloor.journal.snapshots import SnapshotStore


class RecoveryError(RuntimeError):
    """The journal and the snapshots together do not cover the history."""


@dataclass
class Recovered:
    engine: Engine
    snapshot_seq: int
    replayed: int
    seconds: float
    skipped_snapshots: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def last_seq(self) -> int:
        return self.engine.last_seq


EventSink = Callable[[int, int, list[Event]], None]


def recover(
    journal: FileJournal,
    snapshots: SnapshotStore,
    at_most_seq: int | None = None,
    on_events: EventSink | None = None,
    events_after: int = 0,
) -> Recovered:
    """Rebuild the engine: newest valid snapshot (at or before `at_most_seq`) + journal replay.

    Opens the journal (cutting a torn tail). Raises `RecoveryError` when the journal no longer
    holds the records after the snapshot (compacted past it, or missing). `on_events` receives
    (seq, ts, events) of the replayed commands after `events_after`.
    """
    start = time.perf_counter()
    load = snapshots.newest_valid(at_most_seq)
    snapshot = load.snapshot
    engine = Engine.restore(snapshot.state) if snapshot else Engine()
    snapshot_seq = snapshot.seq if snapshot else 0
    replayed = 0
    apply = engine.apply
    decode = command_decoder.decode

    def replay(raw: RawRecord) -> None:
        nonlocal replayed
        version, seq, ts, payload = raw
        if not replayed and seq != snapshot_seq + 1:
            raise RecoveryError(
                f"journal continues at seq {seq} but the newest valid snapshot is at "
                f"{snapshot_seq}: records {snapshot_seq + 1}..{seq - 1} are missing"
            )
        if version != COMMAND_VERSION:
            raise UnknownRecordVersion(f"command record version {version} at seq {seq}")
        events = apply(decode(payload), seq, ts)
        if on_events is not None and seq > events_after:
            on_events(seq, ts, events)
        replayed += 1

    # One pass: the open's checksum scan feeds the engine.
    journal.log.open(after_seq=snapshot_seq, on_record=replay, from_seq=snapshot_seq + 1)
    if journal.first_seq > snapshot_seq + 1:
        raise RecoveryError(
            f"journal starts at seq {journal.first_seq} but the newest valid snapshot is at "
            f"{snapshot_seq}: records {snapshot_seq + 1}..{journal.first_seq - 1} are missing"
        )
    return Recovered(engine, snapshot_seq, replayed, time.perf_counter() - start, load.skipped)


async def recover_from(
    journal: Journal,
    snapshots: SnapshotStore,
    at_most_seq: int | None = None,
    on_events: EventSink | None = None,
    events_after: int = 0,
) -> Recovered:
    """`recover` for any journal (e.g. JetStream): snapshot, then the journal's own replay."""
    start = time.perf_counter()
    load = snapshots.newest_valid(at_most_seq)
    snapshot = load.snapshot
    engine = Engine.restore(snapshot.state) if snapshot else Engine()
    snapshot_seq = snapshot.seq if snapshot else 0
    await journal.open(after_seq=snapshot_seq)
    replayed = 0
    entries: AsyncIterator[Entry] = journal.replay(snapshot_seq + 1)
    async for entry in entries:
        if entry.seq != snapshot_seq + replayed + 1:
            raise RecoveryError(
                f"journal gives seq {entry.seq} after {snapshot_seq + replayed}: records missing"
            )
        events = engine.apply(entry.command, entry.seq, entry.ts)
        if on_events is not None and entry.seq > events_after:
            on_events(entry.seq, entry.ts, events)
        replayed += 1
    if engine.last_seq < journal.last_seq:
        raise RecoveryError(
            f"replay stopped at {engine.last_seq}, journal ends at {journal.last_seq}"
        )
    return Recovered(engine, snapshot_seq, replayed, time.perf_counter() - start, load.skipped)
