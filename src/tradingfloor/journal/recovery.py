"""Recovery: the newest valid snapshot, then the journal after it, through a fresh engine.

A snapshot of an older engine state version (one written before the engine kept client order
ids) restores with less than a replay would give: the client order ids of orders done before
it are not in it. So while the journal still holds every command from seq 1, such a snapshot is
passed over and the journal replayed from the start; once the journal was compacted past it,
it is the only way back, and is used.
"""

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from tradingfloor.domain.events import Event
from tradingfloor.engine import Engine
from tradingfloor.engine.state import STATE_VERSION, state_version
from tradingfloor.journal.base import Journal
from tradingfloor.journal.codec import (
    COMMAND_VERSIONS_READ,
    Entry,
    UnknownRecordVersion,
    decode_entry,
    on_the_feed,
)
from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.segments import RawRecord
from tradingfloor.journal.snapshots import SnapshotStore, read_snapshot


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


def restore_newest(
    snapshots: SnapshotStore, at_most_seq: int | None = None, replayable: bool = False
) -> tuple[Engine, int, list[tuple[Path, str]]]:
    """The engine of the newest snapshot that passes its checks AND decodes; else a fresh one.

    `replayable`: the journal holds every command from seq 1, so a snapshot of an older state
    version is passed over for the replay (see the module). Returns (engine, snapshot seq or 0,
    the snapshots passed over and why).
    """
    skipped: list[tuple[Path, str]] = []
    for path in reversed(snapshots.paths()):
        try:
            snapshot = read_snapshot(path)
            if at_most_seq is not None and snapshot.seq > at_most_seq:
                continue
            version = state_version(snapshot.state)
            if replayable and version < STATE_VERSION:
                reason = f"engine state version {version}: the journal is replayed instead"
                skipped.append((path, reason))
                continue
            return Engine.restore(snapshot.state), snapshot.seq, skipped
        except (OSError, ValueError, msgspec.MsgspecError) as error:
            skipped.append((path, str(error)))
    return Engine(), 0, skipped


def _check_continues(snapshot_seq: int, replayed: int, seq: int) -> None:
    """The journal must go on right after the snapshot and what was replayed since."""
    if seq != snapshot_seq + replayed + 1:
        raise RecoveryError(
            f"journal gives seq {seq} after {snapshot_seq + replayed} (newest valid snapshot at "
            f"{snapshot_seq}): records {snapshot_seq + replayed + 1}..{seq - 1} are missing"
        )


def _check_covered(snapshot_seq: int, journal_last_seq: int) -> None:
    if journal_last_seq < snapshot_seq:
        raise RecoveryError(
            f"the snapshot at seq {snapshot_seq} is ahead of the journal, which ends at "
            f"{journal_last_seq}: acknowledged records are missing from the journal"
        )


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
    (seq, ts, events) of the replayed commands after `events_after`, as the feed carries them
    (`codec.on_the_feed`: the command and its origin first).
    """
    start = time.perf_counter()
    replayable = journal.named_first_seq() == 1
    engine, snapshot_seq, skipped = restore_newest(snapshots, at_most_seq, replayable)
    replayed = 0
    apply = engine.apply

    def replay(records: list[RawRecord]) -> None:
        nonlocal replayed
        _check_continues(snapshot_seq, replayed, records[0][1])
        for version, seq, ts, payload in records:
            if version not in COMMAND_VERSIONS_READ:
                raise UnknownRecordVersion(f"command record version {version} at seq {seq}")
            command, origin = decode_entry(version, payload)
            events = apply(command, seq, ts)
            if on_events is not None and seq > events_after:
                on_events(seq, ts, on_the_feed(seq, ts, command, origin, events))
        replayed += len(records)

    # One pass: the open's checksum scan feeds the engine, a frame at a time.
    journal.log.open(after_seq=snapshot_seq, on_frame=replay, from_seq=snapshot_seq + 1)
    # (a journal compacted past the snapshot fails the first `_check_continues` above)
    _check_covered(snapshot_seq, journal.last_seq)
    return Recovered(engine, snapshot_seq, replayed, time.perf_counter() - start, skipped)


async def recover_from(
    journal: Journal,
    snapshots: SnapshotStore,
    at_most_seq: int | None = None,
    on_events: EventSink | None = None,
    events_after: int = 0,
) -> Recovered:
    """`recover` for any journal (e.g. JetStream): snapshot, then the journal's own replay."""
    start = time.perf_counter()
    engine, snapshot_seq, skipped = restore_newest(snapshots, at_most_seq)
    await journal.open(after_seq=snapshot_seq)
    _check_covered(snapshot_seq, journal.last_seq)
    replayed = 0
    entries: AsyncIterator[Entry] = journal.replay(snapshot_seq + 1)
    async for entry in entries:
        _check_continues(snapshot_seq, replayed, entry.seq)
        events = engine.apply(entry.command, entry.seq, entry.ts)
        if on_events is not None and entry.seq > events_after:
            fed = on_the_feed(entry.seq, entry.ts, entry.command, entry.origin, events)
            on_events(entry.seq, entry.ts, fed)
        replayed += 1
    if engine.last_seq < journal.last_seq:
        raise RecoveryError(
            f"replay stopped at {engine.last_seq}, journal ends at {journal.last_seq}"
        )
    return Recovered(engine, snapshot_seq, replayed, time.perf_counter() - start, skipped)
