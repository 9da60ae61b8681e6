"""A shard candidate: a hot standby that follows the primary's journal, then takes over, fenced.

With `shard_standby`, every shard process of one shard name is a `ShardCandidate`. After its
recovery (snapshot + the JetStream journal, as any shard starts), it:

1. **follows** the journal stream from its own last applied seq (`journal.jetstream_follow`),
   applying each record to its engine exactly as recovery does and writing the events to its
   own event log, so that as primary its event log and events publisher simply go on;
2. **polls the lease** (`service.shard_lease`) every `shard_lease_renew_ms / 2`, and takes it
   when there is none or when it has not moved for `shard_lease_ttl_ms` (its own clock);
3. **fences** the journal: it applies every record up to the stream's end, then appends
   `TakeOverShard(node, epoch)` at the next seq with `Nats-Expected-Last-Sequence` = the last
   seq it applied (every JetStream journal append carries it). If that is refused, the old
   primary appended meanwhile: it applies the newer records and tries again (at most
   `fence_attempts_max` times). Once the fence is stored, the old primary's next append
   expects an earlier end of the stream and is refused (`JournalConflict`): its sequencer
   stops and acknowledges nothing more, even if it was paused and never saw the lease move;
4. becomes **primary**: the node's sequencer starts on the engine that applied the fence (the
   caller then serves: `bootstrap.shard_candidate`).

Nothing is lost: a command is acknowledged only once its record is in the stream, and the new
primary applies the whole stream before its fence, so its state is a replay of the journal.
The lease is renewed from the moment it is taken (a long catch-up does not let it expire).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import nats.errors

from tradingfloor.domain.commands import TakeOverShard
from tradingfloor.domain.events import Event
from tradingfloor.domain.origin import role_origin
from tradingfloor.engine import Engine
from tradingfloor.journal.codec import Entry, on_the_feed
from tradingfloor.journal.jetstream import JetStreamJournal, JournalConflict
from tradingfloor.journal.jetstream_follow import follow_journal
from tradingfloor.service.node import Node
from tradingfloor.service.shard_lease import LeaseLost, ShardLease
from tradingfloor.service.shard_status import ShardStatus

log = logging.getLogger("tradingfloor.standby")

fence_attempts_max = 100
"""Fences refused in a row (the old primary still appending) before the takeover fails."""
catch_up_timeout_s = 600.0
"""The longest the follower may take to apply the stream up to a seq it was asked for."""

STANDBY, TAKING_OVER, PRIMARY = "standby", "taking-over", "primary"


class TakeOverFailed(RuntimeError):
    """The fence could not be journaled, or the journal could not be followed to its end."""


class ShardCandidate:
    """One shard process before (and while) it is primary; see the module."""

    def __init__(
        self,
        node: Node,
        journal: JetStreamJournal,
        lease: ShardLease,
        renew_ms: int,
        on_lost: Callable[[LeaseLost], None],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.node = node
        self.journal = journal
        self.lease = lease
        self.renew_ms = renew_ms
        self.on_lost = on_lost
        self.clock = clock
        self.state = STANDBY
        self.journal_seq = 0
        """The stream's last seq as last read (the journal's own while primary)."""
        self._progress = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    @property
    def engine(self) -> Engine:
        if self.node.recovered is None:
            raise RuntimeError("the node is not recovered")
        return self.node.recovered.engine

    async def become_primary(self, stop: asyncio.Event) -> bool:
        """Follow the journal until this node holds the lease and its fence is journaled and
        applied; False when `stop` is set first."""
        follower = asyncio.create_task(self._follow(), name="journal-follower")
        try:
            while not await self._try_lease():
                if follower.done():
                    follower.result()  # the follower's failure, raised
                    raise TakeOverFailed("the journal follower ended")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.renew_ms / 2000)
                if stop.is_set():
                    return False
            self.state = TAKING_OVER
            self._keeper = asyncio.create_task(self.lease.keep(self.renew_ms, self.on_lost))
            await self._fence(follower)
            self.state = PRIMARY
            return True
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower

    async def _try_lease(self) -> bool:
        """One try at the lease; a NATS error (the server away, a timeout) is a no: the
        standby goes on following and tries again at the next poll."""
        try:
            return await self.lease.acquire(self.engine.leader_epoch)
        except (nats.errors.Error, TimeoutError) as error:
            log.warning("the lease of shard %s cannot be read: %r", self.lease.shard, error)
            return False

    async def stop(self) -> None:
        """Stop renewing the lease: released at a clean stop (`ShardLease.release`), else it
        expires and a standby takes over after its TTL."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper

    async def status(self) -> ShardStatus:
        """What `shard_status` writes for this process."""
        if self.state == PRIMARY:
            self.journal_seq = self.journal.last_seq
        else:
            with contextlib.suppress(Exception):  # information only: the last one known
                self.journal_seq = await self._stream_last_seq()
        seen = self.lease.seen
        epoch = self.lease.epoch or (seen.epoch if seen else 0)
        return ShardStatus(
            "shard",
            self.lease.shard,
            self.lease.node,
            self.state,
            self.engine.last_seq,
            self.journal_seq,
            epoch,
            time.time_ns(),
        )

    # ------------------------------------------------------------------ following

    async def _follow(self) -> None:
        engine, events = self.engine, self.node.events
        async for chunk in follow_journal(self.journal, engine.last_seq + 1):
            applied: list[tuple[int, int, list[Event]]] = []
            for entry in chunk:
                seq, ts, command = entry.seq, entry.ts, entry.command
                made = engine.apply(command, seq, ts)
                applied.append((seq, ts, on_the_feed(seq, ts, command, entry.origin, made)))
            events.append(applied)  # never fails: held in memory while the disk refuses
            self._progress.set()

    async def _applied_up_to(self, seq: int, follower: "asyncio.Task[None]") -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + catch_up_timeout_s
        while self.engine.last_seq < seq:
            if follower.done():
                follower.result()
                raise TakeOverFailed(f"the journal follower ended before seq {seq}")
            left_s = deadline - loop.time()
            if left_s <= 0:
                raise TakeOverFailed(f"the journal was not followed up to seq {seq} in time")
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(left_s, 0.1))

    async def _stream_last_seq(self) -> int:
        info = await self.journal.jetstream().stream_info(self.journal.stream)
        return int(info.state.last_seq)

    # ------------------------------------------------------------------ the fence

    async def _fence(self, follower: "asyncio.Task[None]") -> None:
        """Apply the stream to its end, then journal the fence after it (see the module)."""
        lease, journal = self.lease, self.journal
        for attempt in range(1, fence_attempts_max + 1):
            self.journal_seq = await self._stream_last_seq()
            await self._applied_up_to(self.journal_seq, follower)
            engine = self.engine
            journal.continue_after(engine.last_seq)
            fence = TakeOverShard(lease.node, lease.epoch)
            ts = max(self.clock(), engine.last_ts)
            entry = Entry(engine.last_seq + 1, ts, fence, role_origin("standby"))
            try:
                await journal.append([entry])
            except JournalConflict as conflict:
                log.warning(
                    "fence at seq %d refused (attempt %d): %s", entry.seq, attempt, conflict
                )
                continue
            await self._applied_up_to(entry.seq, follower)  # the fence, as the stream has it
            log.warning(
                "shard %s fenced at seq %d by %s (epoch %d)",
                lease.shard,
                entry.seq,
                lease.node,
                lease.epoch,
            )
            return
        raise TakeOverFailed(f"the fence was refused {fence_attempts_max} times in a row")
