"""The engine's events, in sequence order, readable from any sequence number.

One record per command (its events, possibly none), in segment files of kind 2 (the format of
`tradingfloor.journal.segments`). The log is written after each batch without its own fsync:
the command journal is the durable truth, and recovery re-creates any events the log lost by
replaying the journal. Before a snapshot the log is fsynced, so recovery never needs to replay
from before the newest snapshot to fill it.

Projections read from the seq after the last one they applied (`read`, or `follow` to go on
with live events), so each event is applied exactly once across restarts.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from tradingfloor.domain.events import Event
from tradingfloor.journal.codec import EVENTS_VERSION, decode_events, encode_events
from tradingfloor.journal.segments import SegmentedLog

EVENT_LOG_KIND = 2
follower_queue_max = 10_000
"""Batches buffered for one live follower before it falls back to reading the files."""


class EventLog:
    def __init__(self, directory: Path, segment_bytes_max: int = 64 * 1024 * 1024) -> None:
        self.log = SegmentedLog(
            Path(directory), "events", EVENT_LOG_KIND, segment_bytes_max, fsync=False
        )
        self._followers: set[_Follower] = set()

    @property
    def last_seq(self) -> int:
        return self.log.last_seq

    def open(self, after_seq: int = 0) -> None:
        self.log.open(after_seq)

    def append(self, batch: list[tuple[int, int, list[Event]]]) -> None:
        """Append (seq, ts, events) for consecutive commands, then wake live followers."""
        if not batch:
            return
        self.log.append([(EVENTS_VERSION, seq, ts, encode_events(ev)) for seq, ts, ev in batch])
        for follower in list(self._followers):
            follower.offer(batch)

    def sync(self) -> None:
        self.log.sync()

    def read(self, from_seq: int = 1) -> Iterator[tuple[int, int, list[Event]]]:
        """(seq, ts, events) from `from_seq` up to what is written now."""
        for version, seq, ts, payload in self.log.read_raw(from_seq):
            yield seq, ts, decode_events(version, payload)

    async def follow(self, from_seq: int = 1) -> AsyncIterator[tuple[int, int, list[Event]]]:
        """`read`, then live events as they are appended, with no gap and no repeat."""
        follower = _Follower()
        self._followers.add(follower)
        try:
            next_seq = from_seq
            while True:
                # Reset before reading: an overflow during the read sends us back here.
                follower.overflowed = False
                for item in self.read(next_seq):
                    next_seq = item[0] + 1
                    yield item
                behind = False
                while not (behind or follower.overflowed):
                    batch = await follower.take()
                    for item in batch:
                        if item[0] > next_seq:  # a gap: what it missed is on disk
                            behind = True
                            break
                        if item[0] == next_seq:
                            next_seq += 1
                            yield item
        finally:
            self._followers.discard(follower)

    def close(self) -> None:
        self.log.close()


class _Follower:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[tuple[int, int, list[Event]]]] = asyncio.Queue(
            follower_queue_max
        )
        self.overflowed = False

    def offer(self, batch: list[tuple[int, int, list[Event]]]) -> None:
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            # Too slow: drop what is buffered; the follower re-reads it from the files.
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait([])  # wake it to notice

    async def take(self) -> list[tuple[int, int, list[Event]]]:
        return await self.queue.get()
