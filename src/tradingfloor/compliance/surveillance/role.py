"""The surveillance role: every shard's feed through the detectors, alerts into SQL.

The detectors' state (live orders, open cases, windows) is rebuilt from the feeds at each
start, as the settlement role rebuilds its own: the role follows every feed from seq 1. Its
place in each feed is kept in SQL (`surveillance_positions`), written in the transaction
that stores the alerts of the batch it closes; alerts raised at or before that place are
stored already and are not written again. So a restart resumes with no gap (every command is
judged) and no repeat (every alert is stored once), and a rerun finds the same ids.
"""

import asyncio
import logging
from collections.abc import Mapping

import msgspec
from sqlalchemy import Engine

from tradingfloor.compliance.surveillance.alerts import Alert
from tradingfloor.compliance.surveillance.detectors import Surveillance
from tradingfloor.service.feed_follower import FeedFollower
from tradingfloor.service.ports import EventBatch, ShardPort
from tradingfloor.store import surveillance_queries as queries
from tradingfloor.store.surveillance_queries import AlertRow

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
        self.stored: dict[str, int] = {}
        """Per shard, the last command whose alerts are in SQL."""
        self.alerts_written = 0
        self.follower: FeedFollower | None = None

    async def start(self) -> None:
        """Read the role's place, then follow every feed from seq 1 in the background."""
        self.stored = await asyncio.to_thread(self._read_positions)
        self.follower = FeedFollower(self.shards, self._handle)
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

    def _read_positions(self) -> dict[str, int]:
        with self.store.connect() as connection:
            return queries.positions(connection)

    async def _handle(self, shard: str, batch: EventBatch) -> None:
        stored = self.stored.get(shard, 0)
        found: list[Alert] = []
        for seq, ts, events in batch:
            alerts = self.surveillance.feed(shard, seq, ts, events)
            if seq > stored:
                found += alerts
        last = batch[-1][0]
        if last <= stored:
            return  # judged again to rebuild the detectors: stored already
        rows = [alert_row(alert) for alert in found]
        written = await asyncio.to_thread(self._write, rows, shard, last)
        self.stored[shard] = last
        self.alerts_written += written
        if written:
            log.info("%d new alert(s) on shard %s up to seq %d", written, shard, last)

    def _write(self, rows: list[AlertRow], shard: str, seq: int) -> int:
        with self.store.begin() as connection:
            return queries.store_alerts(connection, rows, {shard: seq})
