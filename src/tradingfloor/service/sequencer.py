"""The sequencer: one writer that orders, journals and applies every command.

Callers `await submit(command)`. The sequencer loop takes everything queued (up to
`batch_max`), gives each command the next sequence number and a timestamp, appends the batch to
the journal (one write, one fsync), applies the commands to the engine in order, hands each
command's events to the listeners, and only then answers the callers. An answer means the
command is on disk. A failed journal write (or a failing listener) stops the sequencer,
records the error in `failure`, sets `done` and fails every waiting caller: it is never
retried silently.

Order ids are the sequencer's to give: a `PlaceOrder` or `ReplaceOrder` whose (new) order id is
0 gets the command's own sequence number, which is unique and increasing by construction.
"""

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from tradingfloor.domain.commands import Command, PlaceOrder, ReplaceOrder
from tradingfloor.domain.events import Event
from tradingfloor.domain.ids import text_problem
from tradingfloor.engine import Engine
from tradingfloor.journal.base import Journal
from tradingfloor.journal.codec import Entry, encode_command

EventListener = Callable[[int, list[Event]], None]
"""Called with (seq, events) for every applied command, in sequence order, before the answer."""

BatchListener = Callable[[list["Result"]], None]
"""Called with every applied batch, in order, before its callers are answered."""


class SequencerStopped(RuntimeError):
    """The sequencer is not running (stopped, or failed on a journal write)."""


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


class Sequencer:
    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        *,
        clock: Callable[[], int] = time.time_ns,
        batch_max: int = 4_096,
        queue_depth_max: int = 100_000,
    ) -> None:
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
        self._queue: deque[tuple[Command, asyncio.Future[Result]]] = deque()
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

    async def submit(self, command: Command) -> Result:
        """Sequence, journal and apply one command; returns once it is durable and applied."""
        if not self._running:
            raise SequencerStopped(str(self.failure or "sequencer is not running"))
        if len(self._queue) >= self.queue_depth_max:
            raise Overloaded(f"{len(self._queue)} commands queued")
        try:
            encode_command(command)
        except (OverflowError, TypeError, ValueError, msgspec.EncodeError) as error:
            raise InvalidCommand(f"not a command the journal can hold: {error}") from error
        problem = text_problem(command)
        if problem is not None:
            raise InvalidCommand(problem)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((command, future))
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
                _, future = self._queue.popleft()
                if not future.done():
                    future.set_exception(SequencerStopped(f"sequencer failed: {error!r}"))
        finally:
            self.done.set()

    def _take_batch(self) -> list[tuple[Command, asyncio.Future[Result]]]:
        queue = self._queue
        count = min(len(queue), self.batch_max)
        return [queue.popleft() for _ in range(count)]

    async def _commit(self, batch: list[tuple[Command, asyncio.Future[Result]]]) -> None:
        seq = self.engine.last_seq
        ts = max(self.clock(), self._last_ts)
        self._last_ts = ts
        entries = []
        for command, _ in batch:
            seq += 1
            entries.append(Entry(seq, ts, _with_order_id(command, seq)))
        try:
            await self.journal.append(entries)
            self._record_batch_size(len(entries))
            results = self._apply(entries)
        except BaseException as error:
            # Nobody in the batch may wait forever: journaled or not, they learn it failed.
            for _, future in batch:
                if not future.done():
                    future.set_exception(SequencerStopped(f"sequencer failed: {error!r}"))
            raise
        for result, (_, future) in zip(results, batch, strict=True):
            if not future.done():  # a caller that gave up still had its command journaled
                future.set_result(result)

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
            results.append(Result(entry.seq, entry.ts, entry.command, events))
        for batch_listener in self.batch_listeners:
            batch_listener(results)
        return results

    def _record_batch_size(self, size: int) -> None:
        sizes = self.batch_sizes
        sizes.append(size)
        if len(sizes) > 10_000:
            del sizes[:5_000]


def _with_order_id(command: Command, seq: int) -> Command:
    if type(command) is PlaceOrder and command.order_id == 0:
        return msgspec.structs.replace(command, order_id=seq)
    if type(command) is ReplaceOrder and command.new_order_id == 0:
        return msgspec.structs.replace(command, new_order_id=seq)
    return command
