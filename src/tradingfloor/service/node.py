"""A node: journal, snapshots, event log, engine and sequencer for one shard, wired together.

Start-up is recovery: the event log is opened first (its torn tail cut), the newest valid
snapshot at or before the event log's end is restored, the journal after it is replayed, and
the events the log lost are written again. Then the sequencer starts taking commands.

A full disk is survived (see `Sequencer` and `EventLog`): a failed journal write is undone and
commands are refused for a while; a failed event-log write is held in memory and written later,
and no snapshot is taken meanwhile; a failed snapshot is only logged (the journal holds
everything). `problems` says what is wrong while it lasts.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from tradingfloor.domain.commands import ConfigureRisk
from tradingfloor.domain.events import CommandRejected, Event
from tradingfloor.domain.origin import Origin
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.domain.shards import order_id_of
from tradingfloor.journal.base import Journal
from tradingfloor.journal.codec import on_the_feed
from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.recovery import Recovered, recover, recover_from
from tradingfloor.journal.snapshots import SnapshotStore
from tradingfloor.service import eventlog
from tradingfloor.service.eventlog import EventLog
from tradingfloor.service.sequencer import Result, Sequencer

log = logging.getLogger("tradingfloor.node")


@dataclass
class NodeSettings:
    data_dir: Path
    fsync: bool = True
    """fsync the journal once per batch; False only for benchmarks."""
    snapshot_every_commands: int = 500_000
    snapshot_every_ms: int = 300_000
    snapshots_kept: int = 3
    segment_bytes_max: int = 64 * 1024 * 1024
    batch_max: int = 4_096
    queue_depth_max: int = 100_000
    journal_retry_max_s: float = 5.0
    """The longest wait before the journal is tried again after a failed write."""
    events_unwritten_max: int = eventlog.unwritten_commands_max
    """Commands whose events the event log may hold in memory when it cannot write them."""
    shard_index: int = 0
    """The shard's place in the platform's shards: its order ids' range (`domain.shards`)."""
    risk: RiskSettings | None = None
    """The accounts, ledger and pre-trade risk settings `configure_risk` journals when the
    engine's differ; None: leave the engine as its journal left it (a new one only matches).
    A node never switches a ledger off by itself."""


@dataclass
class Node:
    settings: NodeSettings
    journal: Journal | None = None
    """Defaults to a `FileJournal` under `data_dir/journal`."""
    recovered: Recovered | None = None
    sequencer: Sequencer | None = None
    snapshots: SnapshotStore = field(init=False)
    events: EventLog = field(init=False)
    _since_snapshot: int = 0
    _snapshot_at: float = 0.0
    _snapshot_task: asyncio.Task[int | None] | None = None

    def __post_init__(self) -> None:
        data = Path(self.settings.data_dir)
        self.snapshots = SnapshotStore(data / "snapshots", self.settings.snapshots_kept)
        self.events = EventLog(
            data / "events", self.settings.segment_bytes_max, self.settings.events_unwritten_max
        )
        if self.journal is None:
            self.journal = FileJournal(
                data / "journal", self.settings.fsync, self.settings.segment_bytes_max
            )

    async def start(self) -> Recovered:
        """Recover, then start sequencing."""
        recovered = await self.recover()
        self.start_sequencer()
        return recovered

    async def recover(self) -> Recovered:
        """Rebuild the engine and the event log from the snapshots and the journal, without
        taking commands (a standby then follows the journal: `service.standby`)."""
        if self.journal is None:
            raise RuntimeError("node has no journal")
        self.snapshots.remove_partial()
        self.events.open()
        pending: list[tuple[int, int, list[Event]]] = []
        events_after = self.events.last_seq

        def refill(seq: int, ts: int, events: list[Event]) -> None:
            pending.append((seq, ts, events))
            if len(pending) >= 4_096:
                self.events.append(pending)
                pending.clear()

        if isinstance(self.journal, FileJournal):
            recovered = recover(self.journal, self.snapshots, events_after, refill, events_after)
        else:
            recovered = await recover_from(
                self.journal, self.snapshots, events_after, refill, events_after
            )
        self.events.append(pending)
        if self.events.behind:  # the read models catch up from it: it must be complete
            reason = self.events.stopped or self.events.write_failure
            raise RuntimeError(f"the event log cannot be rebuilt ({reason}): make room, restart")
        self.recovered = recovered
        return recovered

    def start_sequencer(self) -> Sequencer:
        """Take commands on the recovered engine (`recover` first)."""
        if self.recovered is None or self.journal is None:
            raise RuntimeError("node is not recovered")
        sequencer = Sequencer(
            self.recovered.engine,
            self.journal,
            batch_max=self.settings.batch_max,
            queue_depth_max=self.settings.queue_depth_max,
            journal_retry_max_s=self.settings.journal_retry_max_s,
            order_id_base=order_id_of(self.settings.shard_index, 1) - 1,
        )
        sequencer.batch_listeners.append(self._after_batch)
        self.sequencer = sequencer
        self._snapshot_at = time.monotonic()
        sequencer.start()
        return sequencer

    async def configure_risk(self) -> None:
        """Bring the engine's risk settings to the node's, through the journal."""
        wanted = self.settings.risk
        if self.sequencer is None:
            raise RuntimeError("node is not started")
        current = self.sequencer.engine.risk
        if wanted is None or (current is not None and current.settings == wanted):
            return
        result = await self.submit(ConfigureRisk(wanted))
        for event in result.events:
            if isinstance(event, CommandRejected):
                raise RuntimeError(f"risk settings refused: {event.reason.message}")

    async def submit(self, command: object, origin: Origin | None = None) -> Result:
        if self.sequencer is None:
            raise RuntimeError("node is not started")
        return await self.sequencer.submit(command, origin)  # type: ignore[arg-type]

    def problems(self) -> list[str]:
        """What keeps the node from serving fully, while it lasts (for readiness)."""
        found = []
        sequencer = self.sequencer
        if sequencer is not None and sequencer.journal_failure is not None:
            failure = sequencer.journal_failure
            found.append(f"the journal cannot be written, commands are refused: {failure}")
        if self.events.stopped is not None:
            found.append(f"the event log stopped until the next start: {self.events.stopped}")
        return found

    def _after_batch(self, results: list[Result]) -> None:
        self.events.append(  # never fails a batch
            [
                (r.seq, r.ts, on_the_feed(r.seq, r.ts, r.command, r.origin, r.events))
                for r in results
            ]
        )
        self._since_snapshot += len(results)
        settings = self.settings
        due = self._since_snapshot >= settings.snapshot_every_commands or (
            time.monotonic() - self._snapshot_at >= settings.snapshot_every_ms / 1000
        )
        idle = self._snapshot_task is None or self._snapshot_task.done()
        if due and idle and not self.events.behind:  # behind: due again once it has caught up
            self._snapshot_task = asyncio.get_running_loop().create_task(self._try_snapshot())

    async def snapshot(self) -> int | None:
        """Snapshot the engine now (between batches); returns its seq, or None when the event
        log cannot be brought up to date (a snapshot lets the journal go: the events up to it
        must be on disk first)."""
        if self.sequencer is None:
            raise RuntimeError("node is not started")
        engine = self.sequencer.engine
        seq = engine.last_seq
        if not self.events.flush():
            log.warning("no snapshot at seq %d: the event log is behind", seq)
            return None
        state = engine.snapshot()  # on the loop: consistent at `seq`
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        # The events up to `seq` must be durable before a snapshot lets the journal go. On the
        # loop: the event log's file may rotate (close) under a thread.
        self.events.sync()
        await asyncio.to_thread(self.snapshots.write, seq, state)
        return seq

    async def _try_snapshot(self) -> int | None:
        """`snapshot`, where a failure to write it (a full disk) is only logged: the journal
        holds everything, a restart just replays more of it."""
        try:
            return await self.snapshot()
        except OSError as error:
            log.warning("snapshot failed (%s): the journal is kept whole", error)
            return None

    async def stop(self, snapshot: bool = True) -> None:
        """Drain the sequencer, take a last snapshot (fast restart) and close everything."""
        try:
            if self.sequencer is not None:
                await self.sequencer.stop()
                if self._snapshot_task is not None:
                    await self._snapshot_task
                self.events.flush()  # what it could not write before, if it can now
                if snapshot and self.sequencer.failure is None:
                    await self._try_snapshot()
        finally:
            if self.journal is not None:
                await self.journal.close()
            self.events.close()
