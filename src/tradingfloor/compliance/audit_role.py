"""The audit role: every shard's feed and every access event into the hash chain.

It follows each shard's event feed from where the chain ends for that shard (the chain's own
records say: a restart after `kill -9` resumes with no gap and no repeat) and chains one
`command` record per seq. It reads `auth_events` (sign-ins, refusals, key, second-factor and
user changes) after the last row chained, each row once it is `access_settle_s` old, every
`access_poll_s`. Every `anchor_every_s` it writes the head it has made durable to the
database (`audit_anchors`); a database that fails is logged and tried again at the next
anchor (the files are the trail; the anchor is the second place that holds its end).

Records are fsynced before the role moves on; a write that fails stops the role (the
supervisor starts it again, and the start cuts what a failed write left).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tradingfloor.compliance.audit_chain import AuditChain
from tradingfloor.compliance.audit_records import access_record, command_record
from tradingfloor.service.feed_follower import FeedFollower
from tradingfloor.service.ports import EventBatch, ShardPort

log = logging.getLogger("tradingfloor.audit")

access_poll_s = 0.5
access_settle_s = 2.0
"""An access event is chained once this old: a row of a transaction still open may commit
after a row with a later id (PostgreSQL), and must not be passed over."""
access_rows_per_read_max = 1_000
anchor_every_s = 1.0


class AccessSource(Protocol):
    def after(self, event_id: int, ts_before: int, limit: int) -> list[Mapping[str, Any]]:
        """`auth_events` rows after `event_id`, older than `ts_before`, in id order."""
        ...


class AnchorStore(Protocol):
    def write(self, n: int, head_hash: str, ts: int) -> None: ...


class AuditRole:
    def __init__(
        self,
        shards: Mapping[str, ShardPort],
        chain: AuditChain,
        access: AccessSource | None,
        anchors: AnchorStore | None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.chain = chain
        self.access = access
        self.anchors = anchors
        self.clock = clock
        self.shards = dict(shards)
        self.follower: FeedFollower | None = None
        self.anchored = 0
        """The newest record anchored."""
        self.failure: BaseException | None = None
        self.done = asyncio.Event()
        self._lock = asyncio.Lock()
        self._polling = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Open the chain (refusing a damaged one), then follow the feeds and the access
        events; returns once the feeds are chained up to the shards' newest commands."""
        await asyncio.to_thread(self.chain.open)
        self.follower = FeedFollower(self.shards, self._chain_batch, self.chain.places)
        self.follower.start()
        self._tasks.append(asyncio.create_task(self._watch_follower()))
        if self.access is not None:
            self._tasks.append(asyncio.create_task(self._poll_access()))
        if self.anchors is not None:
            self._tasks.append(asyncio.create_task(self._anchor_now_and_then()))
        await self.follower.caught_up()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.follower is not None:
            await self.follower.stop()
        if self.failure is None:
            await asyncio.to_thread(self._anchor, self.chain.records, self.chain.head_hash)
        self.chain.close()

    async def _chain_batch(self, shard: str, batch: EventBatch) -> None:
        records = [command_record(shard, seq, ts, events) for seq, ts, events in batch]
        async with self._lock:
            self.chain.append(records)

    async def _watch_follower(self) -> None:
        if self.follower is None:
            return
        await self.follower.done.wait()
        self._fail(self.follower.failure)

    def _fail(self, error: BaseException | None) -> None:
        self.failure = error
        log.error("the audit trail stopped: %r", error)
        self.done.set()

    async def poll_access_once(self) -> int:
        """Chain the access events that are due; how many."""
        if self.access is None:
            return 0
        async with self._polling:  # one read at a time: each row is chained once
            due = self.clock() - int(access_settle_s * 1e9)
            rows = await asyncio.to_thread(
                self.access.after, self.chain.access_event_id, due, access_rows_per_read_max
            )
            if rows:
                async with self._lock:
                    self.chain.append([access_record(row) for row in rows])
        return len(rows)

    async def _poll_access(self) -> None:
        while True:
            try:
                while await self.poll_access_once() >= access_rows_per_read_max:
                    pass
            except OSError as error:  # the trail's disk: stop (a restart cuts and resumes)
                self._fail(error)
                return
            except Exception as error:  # the database is away: read again later
                log.warning("access events unreadable: %r; trying again", error)
            await asyncio.sleep(access_poll_s)

    async def _anchor_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(anchor_every_s)
            # the head read on the loop, between appends: its n and hash agree
            await asyncio.to_thread(self._anchor, self.chain.records, self.chain.head_hash)

    def _anchor(self, n: int, head: str) -> None:
        """Anchor record `n` (hash `head`) when the head moved (a failure is logged)."""
        if self.anchors is None or n <= self.anchored:
            return
        try:
            self.anchors.write(n, head, self.clock())
        except Exception as error:
            log.warning("the audit anchor could not be written: %r; next time", error)
            return
        self.anchored = n
