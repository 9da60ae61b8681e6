"""The projector role: the event feed into the read models (SQLite or PostgreSQL).

It follows the shard's feed from the seq after the read models' own `last_seq`, one
transaction per feed batch (the projector skips what it already has, so a batch given twice
changes nothing). The database may fail (a dropped connection, a restart, an outage) while the
shard goes on: after a failed batch the feed is followed again from the read models' own
`last_seq` (read back from the database), after 0.1 s, then a wait that doubles up to
`retry_max_s`, for as long as it takes; the event log keeps what the feed has not given yet,
so nothing is lost and nothing is applied twice. Each failed attempt is logged
once with its number and counted (`tradingfloor_projection_failures_total`).

`status()` and `wait_for(seq)` are the `ProjectionPort` readers wait on: in one process the
role itself, across processes `ProjectionServer` / `ProjectionClient` over a Unix socket.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from tradingfloor.service.ports import EventBatch, ProjectionStatus
from tradingfloor.store.projection_rows import ProjectionBehind

log = logging.getLogger("tradingfloor.projection")

retry_first_s = 0.1
"""The wait after a projection's first failure; it doubles up to `retry_max_s`."""
other_shard_wait_s = 0.02
"""The wait before trying again a batch that needs another shard's projection to go further
first (a symbol moved here: `ProjectionBehind`); not a failure, readers wait meanwhile."""

batch_commands_max = 2_000
"""Commands projected in one database transaction at most."""
commands_ahead_max = 8_000
"""Commands read ahead of the database (decoded, in memory) while a transaction runs, at most
(and one feed batch): a slow or stuck database leaves the rest in the event feed's stream or
log, where it costs no memory. Four transactions' worth keeps the next one ready."""

Feed = Callable[[int], AsyncGenerator[EventBatch, None]]


class _ReadAhead:
    """The feed's batches taken ahead of the reader, at most `commands_max` commands (and the
    batch that passed it): the feed is not read while they are all there."""

    def __init__(self, commands_max: int) -> None:
        self.commands_max = commands_max
        self.queue: asyncio.Queue[EventBatch | BaseException | None] = asyncio.Queue()
        self.commands = 0
        self.room = asyncio.Event()
        self.room.set()

    async def put(self, item: EventBatch | BaseException | None) -> None:
        """Queue `item`, then wait until the reader has made room."""
        if item is not None and not isinstance(item, BaseException):
            self.commands += len(item)
            if self.commands >= self.commands_max:
                self.room.clear()
        self.queue.put_nowait(item)
        await self.room.wait()

    def took(self, item: EventBatch | BaseException | None) -> EventBatch | BaseException | None:
        if item is not None and not isinstance(item, BaseException):
            self.commands -= len(item)
            if self.commands < self.commands_max:
                self.room.set()
        return item

    async def get(self) -> EventBatch | BaseException | None:
        return self.took(await self.queue.get())

    def get_nowait(self) -> EventBatch | BaseException | None:
        return self.took(self.queue.get_nowait())

    def empty(self) -> bool:
        return self.queue.empty()


async def coalesced(
    feed: AsyncGenerator[EventBatch, None],
    commands_max: int,
    ahead_max: int = commands_ahead_max,
) -> AsyncGenerator[EventBatch, None]:
    """The feed's batches, those that arrived while the previous one was being applied
    merged (up to `commands_max` commands): one transaction for many small batches, so the
    read models keep up under load instead of paying a commit per group commit. At most
    `ahead_max` commands are read ahead meanwhile (`_ReadAhead`)."""
    ahead = _ReadAhead(ahead_max)

    async def read_ahead() -> None:
        try:
            async for batch in feed:
                await ahead.put(batch)
            await ahead.put(None)
        except Exception as error:  # handed over: the reader raises it in order
            await ahead.put(error)

    reader = asyncio.create_task(read_ahead())
    held: EventBatch | BaseException | None = None
    try:
        while True:
            item = held if held is not None else await ahead.get()
            held = None
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            merged = list(item)
            while len(merged) < commands_max and not ahead.empty():
                following = ahead.get_nowait()
                if following is None or isinstance(following, BaseException):
                    held = following
                    if following is None:
                        yield merged
                        return
                    break
                merged.extend(following)
            yield merged
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


class _ProjectionFailed(Exception):
    """The read models refused a batch (the database's error in `error`)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(repr(error))
        self.error = error


class ProjectionRole:
    def __init__(
        self,
        database_url: str,
        feed: Feed,
        retry_max_s: float,
        on_failure: Callable[[], None] = lambda: None,
        shard: tuple[int, str] = (0, "main"),
    ) -> None:
        """`shard`: (index, name) of the shard whose events these are."""
        self.shard = shard
        self.database_url = database_url
        self.feed = feed
        self.retry_max_s = retry_max_s
        self.on_failure = on_failure
        self.projected_seq = 0
        self.failure: BaseException | None = None
        """The last error of a projection that is failing now (None once it works again)."""
        self.attempts_failed = 0
        self.retry_at = 0.0
        """When the failing batch is tried again (time.monotonic)."""
        self.listeners: list[Callable[[ProjectionStatus], None]] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from tradingfloor.store.database import make_engine
        from tradingfloor.store.projector import Projector, projection_name

        self.store = make_engine(self.database_url)
        index, name = self.shard
        self.projector = Projector(self.store, projection_name(index, name), index)
        self.projected_seq = await self._last_seq_retried()
        self._task = asyncio.create_task(self._run(), name="projection")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if hasattr(self, "store"):
            self.store.dispose()

    async def drain(self, seq: int, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) until everything up to `seq` is projected."""
        with contextlib.suppress(TimeoutError):
            await self.wait_for(seq, timeout_s)

    # ------------------------------------------------------------------ ProjectionPort

    def status(self) -> ProjectionStatus:
        if self.failure is None:
            return ProjectionStatus(self.projected_seq)
        retry_after_s = max(0.0, self.retry_at - time.monotonic())
        return ProjectionStatus(self.projected_seq, self.problem() or "", retry_after_s)

    def status_of(self, token: int) -> ProjectionStatus:
        return self.status()

    async def wait_for(self, seq: int, timeout_s: float) -> ProjectionStatus:
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(
                        lambda: self.projected_seq >= seq or self.failure is not None
                    ),
                    timeout_s,
                )
        return self.status()

    # ------------------------------------------------------------------ the loop

    async def _last_seq_retried(self) -> int:
        while True:
            try:
                return await asyncio.to_thread(self.projector.last_seq)
            except Exception as error:
                await asyncio.sleep(await self._failed(error))

    async def _run(self) -> None:
        """Follow the feed from what the read models hold; after a failure (the database's),
        wait, then follow again from what they hold then: a batch whose commit succeeded
        but whose answer was lost is not applied twice, and none is skipped."""
        while True:
            start = await self._last_seq_retried()
            await self._moved(start)
            try:
                async with (
                    contextlib.aclosing(self.feed(start + 1)) as feed,
                    contextlib.aclosing(coalesced(feed, batch_commands_max)) as batches,
                ):
                    async for batch in batches:
                        await self._apply(batch)
            except asyncio.CancelledError:
                raise
            except _ProjectionFailed as failed:
                if isinstance(failed.error, ProjectionBehind):  # not a failure: a wait
                    await asyncio.sleep(other_shard_wait_s)
                    continue
                await asyncio.sleep(await self._failed(failed.error))
            except Exception as error:  # the feed ended (the shard stopped): follow again
                log.warning("event feed ended at seq %d: %r", self.projected_seq, error)
                await asyncio.sleep(retry_first_s)

    async def _apply(self, batch: EventBatch) -> None:
        try:
            await asyncio.to_thread(self.projector.apply, batch)
        except Exception as error:  # retried from the read models' own last seq
            raise _ProjectionFailed(error) from error
        if self.failure is not None:
            self._recovered()
        await self._moved(batch[-1][0])

    async def _moved(self, seq: int) -> None:
        async with self._changed:
            self.projected_seq = max(self.projected_seq, seq)
            self._changed.notify_all()
        self._tell()

    def _tell(self) -> None:
        if self.listeners:
            status = self.status()
            for listener in self.listeners:
                listener(status)

    def _retry_s(self, attempts_failed: int) -> float:
        exponent = min(attempts_failed - 1, 32)  # no float overflow however long it fails
        return float(min(retry_first_s * 2**exponent, self.retry_max_s))

    async def _failed(self, error: Exception) -> float:
        """Record, log and count one failed attempt; wake the readers waiting (they are
        refused); returns how long to wait before the next attempt."""
        self.attempts_failed += 1
        attempt = self.attempts_failed
        delay_s = self._retry_s(attempt)
        self.retry_at = time.monotonic() + delay_s
        self.failure = error
        self.on_failure()
        capped = delay_s >= self.retry_max_s
        message = "read model projection failed at seq %d (attempt %d), retrying in %.1f s%s"
        arguments = (
            self.projected_seq + 1,
            attempt,
            delay_s,
            " (the longest wait: it keeps failing)" if capped else "",
        )
        if attempt == 1:
            log.exception(message, *arguments)
        else:
            log.warning(message + ": %r", *arguments, error)
        async with self._changed:
            self._changed.notify_all()
        self._tell()
        return delay_s

    def _recovered(self) -> None:
        log.warning(
            "read models projecting again at seq %d after %d failed attempts",
            self.projected_seq,
            self.attempts_failed,
        )
        self.failure = None
        self.attempts_failed = 0

    def problem(self) -> str | None:
        """Readiness: the failing projection, while it fails."""
        if self.failure is None:
            return None
        return (
            f"read models failing at seq {self.projected_seq + 1} "
            f"({self.attempts_failed} attempts, retrying every "
            f"{self._retry_s(self.attempts_failed):.1f} s): {self.failure!r}"
        )


def status_problem(status: Any) -> str | None:
    """Readiness from a `ProjectionStatus` (None: the projector cannot be reached)."""
    if status is None:
        return "the projector cannot be reached"
    return str(status.failure) or None
