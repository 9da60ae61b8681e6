"""The engine's events, in sequence order, readable from any sequence number.

One record per command (its events, possibly none), in segment files of kind 2 (the format of
`tradingfloor.journal.segments`). The log is written after each batch without its own fsync:
the command journal is the durable truth, and recovery re-creates any events the log lost by
replaying the journal. Before a snapshot the log is fsynced, so recovery never needs to replay
from before the newest snapshot to fill it.

Being derived, the log never fails a command. A write that fails (a full disk) is undone on disk
(`SegmentedLog.rollback`: no garbage after the last whole frame) and its batch is held in memory,
with every batch after it, to be written before the next one once the disk takes writes again.
While batches are held the log is `behind`: no snapshot may be taken (a snapshot lets the
journal go, and the events up to it must be on disk first), and live followers wait for them.
Beyond `unwritten_commands_max` held commands, or when a failed write cannot be undone, the log
stops: it writes nothing more, says so (`stopped`, logged as an error), tells its followers,
and the next start re-creates the missing events from the journal.

Projections read from the seq after the last one they applied (`read`, or `follow` to go on
with live events), so each event is applied exactly once across restarts.
"""

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from tradingfloor.domain.events import Event
from tradingfloor.journal.codec import EVENTS_VERSION, decode_events, encode_events
from tradingfloor.journal.segments import SegmentedLog

log = logging.getLogger("tradingfloor.eventlog")

EVENT_LOG_KIND = 2
follower_queue_max = 10_000
"""Batches buffered for one live follower before it falls back to reading the files."""
unwritten_commands_max = 100_000
"""Commands whose events could not be written, held in memory to be written later; beyond it
the log stops and the next start rebuilds it from the journal."""

EventBatch = list[tuple[int, int, list[Event]]]
"""(seq, ts, events) of consecutive commands."""


class EventLogStopped(RuntimeError):
    """The log stopped taking events (see `EventLog.stopped`); the next start rebuilds it."""


class EventLog:
    def __init__(
        self,
        directory: Path,
        segment_bytes_max: int = 64 * 1024 * 1024,
        unwritten_max: int = unwritten_commands_max,
    ) -> None:
        self.log = SegmentedLog(
            Path(directory), "events", EVENT_LOG_KIND, segment_bytes_max, fsync=False
        )
        self.unwritten_max = unwritten_max
        self.write_failure: OSError | None = None
        """The last failed write, while batches are held in memory."""
        self.stopped: str | None = None
        """Why the log stopped taking events, once it has."""
        self._unwritten: deque[tuple[EventBatch, list[tuple[int, int, int, bytes]]]] = deque()
        self._unwritten_count = 0
        self._followers: set[_Follower] = set()

    @property
    def last_seq(self) -> int:
        """The newest seq in the files (not counting what is held in memory)."""
        return self.log.last_seq

    @property
    def behind(self) -> bool:
        """Whether events of commands already applied are missing from the files."""
        return bool(self._unwritten) or self.stopped is not None

    @property
    def unwritten(self) -> int:
        """Commands whose events are held in memory, not yet written."""
        return self._unwritten_count

    def open(self, after_seq: int = 0) -> None:
        self.log.open(after_seq)

    def append(self, batch: EventBatch) -> None:
        """Append (seq, ts, events) for consecutive commands, then wake live followers.

        A failed write never raises: it is undone, and the batch held (see the module).
        """
        if not batch or self.stopped is not None:
            return
        records = [(EVENTS_VERSION, seq, ts, encode_events(ev)) for seq, ts, ev in batch]
        self._unwritten.append((batch, records))
        self._unwritten_count += len(batch)
        self.flush()

    def flush(self) -> bool:
        """Write the batches held in memory, oldest first; whether the files are complete."""
        held = self._unwritten
        while held:
            batch, records = held[0]
            try:
                self.log.append(records)
            except OSError as error:
                self._write_failed(error)
                return False
            held.popleft()
            self._unwritten_count -= len(batch)
            for follower in list(self._followers):
                follower.offer(batch)
        if self.write_failure is not None:
            log.info(
                "the event log takes writes again: it is complete up to seq %d", self.last_seq
            )
            self.write_failure = None
        return self.stopped is None

    def _write_failed(self, error: OSError) -> None:
        try:
            self.log.rollback()
        except OSError as rollback_error:
            self._stop(f"a failed write ({error}) could not be undone ({rollback_error})")
            return
        if self._unwritten_count > self.unwritten_max:
            self._stop(
                f"the events of {self._unwritten_count} commands could not be written ({error}), "
                f"more than the {self.unwritten_max} it holds in memory"
            )
            return
        if self.write_failure is None:
            log.warning(
                "event log write failed (%s): events are held in memory, for at most %d "
                "commands, until it can be written again",
                error,
                self.unwritten_max,
            )
        self.write_failure = error

    def _stop(self, reason: str) -> None:
        self.stopped = reason
        self._unwritten.clear()
        self._unwritten_count = 0
        log.error(
            "the event log stops after seq %d: %s; the next start rebuilds it from the journal",
            self.last_seq,
            reason,
        )
        for follower in list(self._followers):
            follower.offer(None)

    def sync(self) -> None:
        self.log.sync()

    def read(self, from_seq: int = 1) -> Iterator[tuple[int, int, list[Event]]]:
        """(seq, ts, events) from `from_seq` up to what is written now."""
        for version, seq, ts, payload in self.log.read_raw(from_seq):
            yield seq, ts, decode_events(version, payload)

    async def follow(self, from_seq: int = 1) -> AsyncIterator[tuple[int, int, list[Event]]]:
        """`read`, then live events as they are written, with no gap and no repeat.

        Raises `EventLogStopped` once it has given everything written before the log stopped.
        """
        async for batch in self.follow_batches(from_seq):
            for item in batch:
                yield item

    async def follow_batches(
        self, from_seq: int = 1, batch_max: int = 2_000
    ) -> AsyncIterator[EventBatch]:
        """`follow`, a batch at a time: at most `batch_max` commands read from the files,
        then each batch as the sequencer wrote it (never empty)."""
        follower = _Follower()
        self._followers.add(follower)
        try:
            next_seq = from_seq
            while True:
                # Reset before reading: an overflow during the read sends us back here.
                follower.overflowed = False
                chunk: EventBatch = []
                for item in self.read(next_seq):
                    next_seq = item[0] + 1
                    chunk.append(item)
                    if len(chunk) >= batch_max:
                        yield chunk
                        chunk = []
                if chunk:
                    yield chunk
                if self.stopped is not None:
                    raise EventLogStopped(f"after seq {next_seq - 1}: {self.stopped}")
                behind = False
                while not (behind or follower.overflowed):
                    batch = await follower.take()
                    if batch is None:  # stopped: read what is written, then raise
                        break
                    live: EventBatch = []
                    for item in batch:
                        if item[0] > next_seq:  # a gap: what it missed is on disk
                            behind = True
                            break
                        if item[0] == next_seq:
                            next_seq += 1
                            live.append(item)
                    if live:
                        yield live
        finally:
            self._followers.discard(follower)

    def close(self) -> None:
        self.log.close()


class _Follower:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[EventBatch | None] = asyncio.Queue(follower_queue_max)
        self.overflowed = False

    def offer(self, batch: EventBatch | None) -> None:
        """A written batch, or None when the log stops."""
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            # Too slow: drop what is buffered; the follower re-reads it from the files.
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait([] if batch is not None else None)  # wake it to notice

    async def take(self) -> EventBatch | None:
        return await self.queue.get()
