"""The surveillance role: every shard's feed through the detectors, alerts into SQL.

Its place in each feed is kept in SQL (`surveillance_positions`), written in the transaction
that stores the alerts of the batch it closes: `seq`, the last command judged, and
`warm_seq`, the first command of the last `warm_up_ns` of the feed before it (by the events'
times), which holds everything the detectors look back over. A restart reads each feed from
its `warm_seq` (seq 1 the first time) to rebuild the detectors' state (live orders, open
cases, windows), and stores only what they find after `seq`: no gap (every command is
judged, with what came before it) and no repeat (an alert is stored once; its id is made
from what it found, so a rerun from seq 1 finds the same ids).
"""

import asyncio
import logging
from collections import deque
from collections.abc import Mapping

import msgspec
from sqlalchemy import Engine

from tradingfloor.compliance.surveillance.alerts import Alert
from tradingfloor.compliance.surveillance.detectors import Surveillance
from tradingfloor.service.feed_follower import FeedFollower
from tradingfloor.service.ports import EventBatch, ShardPort
from tradingfloor.store import surveillance_queries as queries
from tradingfloor.store.database import SQLITE_BEGIN_OPTION
from tradingfloor.store.surveillance_queries import AlertRow, Place

log = logging.getLogger("tradingfloor.surveillance")


def alert_row(alert: Alert) -> AlertRow:
    """An alert as the review queue stores it: open, its evidence as JSON."""
    return AlertRow(
        alert.alert_id,
        alert.pattern.value,
        alert.shard,
        ",".join(alert.accounts),
        alert.owner,
        alert.symbol,
        alert.ts,
        alert.seq,
        alert.score,
        alert.summary,
        msgspec.json.encode(alert.evidence).decode(),
        "open",
    )


class SurveillanceRole:
    def __init__(
        self,
        shards: Mapping[str, ShardPort],
        store: Engine,
        surveillance: Surveillance,
    ) -> None:
        self.shards = dict(shards)
        self.store = store
        self.surveillance = surveillance
        self.warm_up_ns = surveillance.settings.warm_up_ns()
        self.stored: dict[str, int] = {}
        """Per shard, the last command whose alerts are in SQL."""
        self.batch_starts: dict[str, deque[tuple[int, int]]] = {}
        """Per shard, (ts, seq) of the first command of each batch within the warm-up."""
        self.alerts_written = 0
        self.follower: FeedFollower | None = None

    async def start(self) -> None:
        """Read the role's place, then follow every feed from its `warm_seq` in the
        background."""
        places = await asyncio.to_thread(self._read_positions)
        self.stored = {shard: place.seq for shard, place in places.items()}
        before = {shard: place.warm_seq - 1 for shard, place in places.items()}
        self.follower = FeedFollower(self.shards, self._handle, before)
        self.follower.start()

    async def stop(self) -> None:
        if self.follower is not None:
            await self.follower.stop()

    async def caught_up(self, wait_s: float = 600.0) -> None:
        """Return once every feed is judged up to its shard's newest command."""
        if self.follower is None:
            raise RuntimeError("the surveillance role has not started")
        await self.follower.caught_up(wait_s)

    async def failed(self) -> BaseException:
        """Wait until the role stops on a failure (storing alerts failed), and return it."""
        if self.follower is None:
            raise RuntimeError("the surveillance role has not started")
        await self.follower.done.wait()
        return self.follower.failure or RuntimeError("the surveillance feeds stopped")

    def _read_positions(self) -> dict[str, Place]:
        with self.store.connect() as connection:
            return queries.positions(connection)

    async def _handle(self, shard: str, batch: EventBatch) -> None:
        stored = self.stored.get(shard, 0)
        warm_seq = self._warm_seq(shard, batch)
        found: list[Alert] = []
        for seq, ts, events in batch:
            alerts = self.surveillance.feed(shard, seq, ts, events)
            if seq > stored:
                found += alerts
        last = batch[-1][0]
        if last <= stored:
            return  # judged again to rebuild the detectors: stored already
        rows = [alert_row(alert) for alert in found]
        place = Place(last, warm_seq)
        written = await asyncio.to_thread(self._write, rows, shard, place)
        self.stored[shard] = last
        self.alerts_written += written
        if written:
            log.info("%d new alert(s) on shard %s up to seq %d", written, shard, last)

    def _warm_seq(self, shard: str, batch: EventBatch) -> int:
        """The first command of the latest batch that began `warm_up_ns` or more before
        the end of `batch` (so the warm-up covers at least that span)."""
        starts = self.batch_starts.setdefault(shard, deque())
        starts.append((batch[0][1], batch[0][0]))
        ts_cut = batch[-1][1] - self.warm_up_ns
        while len(starts) > 1 and starts[1][0] <= ts_cut:
            starts.popleft()
        return starts[0][1]

    def _write(self, rows: list[AlertRow], shard: str, place: Place) -> int:
        # It reads the known alerts and then writes: on SQLite a deferred transaction that
        # upgrades to a writer while another writes fails at once ("database is locked")
        # instead of waiting its busy timeout.
        writer = self.store.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        with writer.begin() as connection:
            return queries.store_alerts(connection, rows, {shard: place})
