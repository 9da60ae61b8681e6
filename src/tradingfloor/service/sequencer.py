"""The sequencer: one writer that orders, journals and applies every command.

Callers `await submit(command)`. The sequencer loop takes everything queued (up to
`batch_max`), gives each command the next sequence number and a timestamp, appends the batch to
the journal (one write, one fsync), applies the commands to the engine in order, hands each
command's events to the listeners, and only then answers the callers. An answer means the
command is on disk.

A failed journal write is undone by the journal (`Journal.rollback_failed_append`), so that the
batch's callers can be told the truth: their commands are not in the journal. They, and every
command queued or submitted for a while after (0.1 s, doubling with each failure in a row up to
`journal_retry_max_s`), are refused with `JournalUnavailable`; the next batch after that tries
the journal again, and the first write that succeeds resumes normal service. The failed batch
is never written again: its callers retry, if they want to. The engine never sees a batch the
journal did not take, since a batch is applied only after its append. A journal that cannot
undo a failed write (the rollback raises), or a failing listener, stops the sequencer for good:
it records the error in `failure`, sets `done` and fails every waiting caller.

Order ids are the sequencer's to give: a `PlaceOrder` or `ReplaceOrder` whose (new) order id is
0 gets the command's own sequence number, which is unique and increasing by construction.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from tradingfloor.domain.commands import Command, PlaceOrder, ReplaceOrder
from tradingfloor.domain.events import Event
from tradingfloor.domain.ids import text_problem
from tradingfloor.domain.origin import Origin
from tradingfloor.engine import Engine
from tradingfloor.journal.base import Journal
from tradingfloor.journal.codec import Entry, encode_entry

log = logging.getLogger("tradingfloor.sequencer")

journal_retry_first_s = 0.1
"""The first wait after a failed journal write; it doubles with each failure in a row."""

EventListener = Callable[[int, list[Event]], None]
"""Called with (seq, events) for every applied command, in sequence order, before the answer."""

BatchListener = Callable[[list["Result"]], None]
"""Called with every applied batch, in order, before its callers are answered."""


class SequencerStopped(RuntimeError):
    """The sequencer is not running (stopped, or failed on a journal write)."""

    retry_after_s: float | None = None
    """When a stop ends by itself (a shard that cannot be reached now), how long to wait
    before retrying; None for a sequencer that stopped for good."""


class JournalUnavailable(SequencerStopped):
    """The journal could not take a write: commands are refused for `retry_after_s` seconds
    (none of them is in the journal), then the sequencer tries again."""

    retry_after_s: float

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InvalidCommand(ValueError):
    """The command cannot be journaled (e.g. an integer beyond 64 bits) or carries an
    identifier that no reader of the journal should have to hold (a NUL in a symbol, a line
    break in a client order id: `domain.ids.text_problem`): refused before it is sequenced, so
    that it can never fail the journal write, stop the sequencer or stop a projection."""


class Overloaded(RuntimeError):
    """The queue is full: the caller should back off and retry."""


@dataclass(frozen=True, slots=True)
class Result:
    seq: int
    ts: int
    command: Command
    events: list[Event]
    origin: Origin | None = None


Queued = tuple[Command, "asyncio.Future[Result]", Origin | None]
"""A command waiting for its batch, the future its caller awaits, and who sent it."""


class Sequencer:
    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        *,
        clock: Callable[[], int] = time.time_ns,
        batch_max: int = 4_096,
        queue_depth_max: int = 100_000,
        journal_retry_max_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        order_id_base: int = 0,
    ) -> None:
        """`monotonic` times the refusals after a failed journal write (injectable for tests);
        a new order's id is `order_id_base` + its seq (`domain.shards`: the shard's range)."""
        self.order_id_base = order_id_base
        self.engine = engine
        self.journal = journal
        self.clock = clock
        self.batch_max = batch_max
        self.queue_depth_max = queue_depth_max
        self.listeners: list[EventListener] = []
        self.batch_listeners: list[BatchListener] = []
        self.batch_sizes: list[int] = []  # recent batch sizes, for metrics (bounded)
        self.on_applied: Callable[[Command, int], None] | None = None
        """Called with each command and the nanoseconds the engine took (for metrics)."""
        self.failure: BaseException | None = None
        self.journal_retry_max_s = journal_retry_max_s
        self.journal_failure: OSError | None = None
        """The last failed journal write, until a write succeeds (commands are refused
        until `_refuse_until`, then the next batch tries the journal)."""
        self._monotonic = monotonic
        self._refuse_until = 0.0
        self._journal_retry_s = journal_retry_first_s
        self._queue: deque[Queued] = deque()
        self._wakeup = asyncio.Event()
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        """Set when the loop has ended: stopped, or failed (see `failure`)."""
        self._last_ts = engine.last_ts  # timestamps never go back, even across a restart

    @property
    def last_seq(self) -> int:
        return self.engine.last_seq

    def start(self) -> None:
        if self._task is None:
            self._running = True
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sequencer")

    async def stop(self) -> None:
        """Finish what is queued, then stop. A failure stays in `failure`; it is not raised."""
        self._running = False
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def submit(self, command: Command, origin: Origin | None = None) -> Result:
        """Sequence, journal and apply one command; returns once it is durable and applied.
        `origin` (who sent it) is journaled beside it."""
        if not self._running:
            raise SequencerStopped(str(self.failure or "sequencer is not running"))
        if self.journal_failure is not None:
            self._refuse_while_unavailable()
        if len(self._queue) >= self.queue_depth_max:
            raise Overloaded(f"{len(self._queue)} commands queued")
        try:
            encode_entry(Entry(0, 0, command, origin))
        except (OverflowError, TypeError, ValueError, msgspec.EncodeError) as error:
            raise InvalidCommand(f"not a command the journal can hold: {error}") from error
        problem = text_problem(command)
        if problem is not None:
            raise InvalidCommand(problem)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((command, future, origin))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        try:
            while self._running or self._queue:
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                # Let every caller that is ready queue up first: that is the group commit.
                await asyncio.sleep(0)
                await self._commit(self._take_batch())
        except Exception as error:  # the journal (or a listener) failed: stop for good
            self.failure = error
            self._running = False
            while self._queue:
                future = self._queue.popleft()[1]
                if not future.done():
                    future.set_exception(SequencerStopped(f"sequencer failed: {error!r}"))
        finally:
            self.done.set()

    def _take_batch(self) -> list[Queued]:
        queue = self._queue
        count = min(len(queue), self.batch_max)
        return [queue.popleft() for _ in range(count)]

    async def _commit(self, batch: list[Queued]) -> None:
        seq = self.engine.last_seq
        ts = max(self.clock(), self._last_ts)
        self._last_ts = ts
        entries = []
        for command, _, origin in batch:
            seq += 1
            command = _with_order_id(command, self.order_id_base + seq)
            entries.append(Entry(seq, ts, command, origin))
        try:
            await self.journal.append(entries)
        except OSError as error:
            await self._journal_failed(batch, error)  # raises when it cannot be undone
            return
        except BaseException as error:
            failed = f"sequencer failed: {error!r}"
            _fail(batch, lambda: SequencerStopped(failed))
            raise
        if self.journal_failure is not None:
            self._journal_recovered()
        self._record_batch_size(len(entries))
        try:
            results = self._apply(entries)
        except BaseException as error:
            # The commands are in the journal: a restart applies them (and tells their outcome).
            stopped = f"sequencer failed after journaling: {error!r}"
            _fail(batch, lambda: SequencerStopped(stopped))
            raise
        for result, (_, future, _) in zip(results, batch, strict=True):
            if not future.done():  # a caller that gave up still had its command journaled
                future.set_result(result)

    async def _journal_failed(self, batch: list[Queued], error: OSError) -> None:
        """Undo the failed append, refuse its batch and what is queued, and refuse new
        commands for the next wait; when it cannot be undone, fail them all and raise."""
        try:
            await self.journal.rollback_failed_append()
        except BaseException as rollback_error:
            log.error(
                "journal write failed and could not be undone (%r): the sequencer stops",
                rollback_error,
                exc_info=error,
            )
            error.add_note(f"undoing the failed journal write failed: {rollback_error!r}")
            _fail(batch, lambda: SequencerStopped(f"sequencer failed: {error!r}"))
            raise error from None
        wait_s = min(self._journal_retry_s, self.journal_retry_max_s)
        self._journal_retry_s = min(wait_s * 2, self.journal_retry_max_s)
        self.journal_failure = error
        self._refuse_until = self._monotonic() + wait_s
        refused = len(batch) + len(self._queue)
        log.warning(
            "journal write failed (%s): %d commands refused, the next batch is tried in %.1f s",
            error,
            refused,
            wait_s,
        )
        queued = [self._queue.popleft() for _ in range(len(self._queue))]
        _fail(batch + queued, lambda: self._unavailable(wait_s))

    def _refuse_while_unavailable(self) -> None:
        left_s = self._refuse_until - self._monotonic()
        if left_s > 0:
            raise self._unavailable(left_s)

    def _unavailable(self, retry_after_s: float) -> JournalUnavailable:
        return JournalUnavailable(
            f"the journal cannot be written ({self.journal_failure}): retry in "
            f"{retry_after_s:.1f} s",
            retry_after_s,
        )

    def _journal_recovered(self) -> None:
        log.info("the journal takes writes again: commands are taken")
        self.journal_failure = None
        self._refuse_until = 0.0
        self._journal_retry_s = journal_retry_first_s

    def _apply(self, entries: list[Entry]) -> list[Result]:
        apply = self.engine.apply
        listeners = self.listeners
        timed = self.on_applied
        clock = time.perf_counter_ns
        results = []
        for entry in entries:
            if timed is None:
                events = apply(entry.command, entry.seq, entry.ts)
            else:
                started = clock()
                events = apply(entry.command, entry.seq, entry.ts)
                timed(entry.command, clock() - started)
            for listener in listeners:
                listener(entry.seq, events)
            results.append(Result(entry.seq, entry.ts, entry.command, events, entry.origin))
        for batch_listener in self.batch_listeners:
            batch_listener(results)
        return results

    def _record_batch_size(self, size: int) -> None:
        sizes = self.batch_sizes
        sizes.append(size)
        if len(sizes) > 10_000:
            del sizes[:5_000]


def _fail(batch: list[Queued], error: Callable[[], Exception]) -> None:
    """Nobody in the batch may wait forever: each caller still waiting gets an `error()`."""
    for _, future, _ in batch:
        if not future.done():
            future.set_exception(error())


def _with_order_id(command: Command, order_id: int) -> Command:
    if type(command) is PlaceOrder and command.order_id == 0:
        return msgspec.structs.replace(command, order_id=order_id)
    if type(command) is ReplaceOrder and command.new_order_id == 0:
        return msgspec.structs.replace(command, new_order_id=order_id)
    return command
