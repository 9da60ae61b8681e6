"""The settlement role: the end of day of every session, on the exchange calendar.

It follows every shard's event feed from seq 1 (`FeedState`: what it knows is what the feeds
say, so a restart rebuilds it) and sends commands; the clearinghouse is reached through a
`ClearingPort`. At the close of each session D (half days close early; the calendar knows
DST), `run_day(D)`:

1. `CloseDay(D)` to every shard (a day closed already counts as done). Every fill of D is
   now on the feeds, before each shard's `DayClosed`.
2. D's fills as `ClearingTrade`s, settling at D + N sessions, submitted (batch `TRD-<D>`).
3. D's confirmations read back and compared (and those of earlier dates still unconfirmed,
   which may have come late).
4. `SettleDay(S)`, S the next session, to every shard; the movements of settled cash and
   shares outside trading up to each shard's `DaySettled(S)` submitted (batch `MOV-<S>`);
   the clearinghouse settles S; its instructions and fails compared with the netting of the
   trade dates settled on S, and that netting with what the ledger settled.
5. The clearinghouse's holdings as of S compared with the platform's settled balances as of
   each shard's `DaySettled(S)`.

Each difference is a `RecordBreak` whose id names what was compared, recorded after the step
that found it, so a rerun (or a restart mid-way) records nothing twice. Every step is
repeated, with a wait that doubles up to `retry_wait_s_max`, while a shard or the
clearinghouse cannot answer: the role never settles on a guess, and `status` says what it
waits for. A shard's refusal other than "done already" (the day is not over, an earlier day
is not closed) stops the run with `DayRefused`.

The clock and the sleep are injected (tests drive a year of sessions in a moment); the wait
for the next close is computed from the calendar and bounded by `wait_s_max`, so a clock
that jumps is read again within it.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TypeVar

from tradingfloor.domain.commands import CloseDay, RecordBreak, SettleDay
from tradingfloor.domain.enums import BreakKind
from tradingfloor.domain.events import (
    BreakOpened,
    CommandRejected,
    DayClosed,
    DaySettled,
)
from tradingfloor.domain.origin import role_origin
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.risk.calendar import TradingCalendar
from tradingfloor.service.ports import EventBatch, ShardPort
from tradingfloor.settlement import reconcile
from tradingfloor.settlement.day_report import ClearingPort, DayReport
from tradingfloor.settlement.feed_state import FeedState
from tradingfloor.settlement.netting import (
    clearing_trades,
    ledger_obligations,
    net_obligations,
)
from tradingfloor.settlement.records import ClearingTrade, Confirmation, Fail

log = logging.getLogger("tradingfloor.settlement")
SETTLEMENT_ORIGIN = role_origin("settlement")

retry_wait_s_first = 0.05
retry_wait_s_max = 5.0
"""The longest wait before a step that could not reach a shard or the clearinghouse is
tried again."""
wait_s_max = 60.0
"""The longest sleep while waiting for a session's close (the clock is read again then)."""
feed_wait_s = 30.0
"""How long a step waits for a shard's feed to show the command it just answered."""
start_wait_s = 600.0
"""How long a start may take to read a shard's feed up to its newest command."""
close_margin_ns = 1_000_000_000
"""The end of day starts this long after the close: the closing print belongs to the session
that closes, and the next session's `SettleDay` needs a time after it."""


class DayRefused(RuntimeError):
    """A shard refused the day's command for a reason a retry cannot change."""


class SettlementUnavailable(RuntimeError):
    """A step could not reach a shard or the clearinghouse before the run's deadline."""


Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


class SettlementRole:
    def __init__(
        self,
        shards: Mapping[str, ShardPort],
        clearing: ClearingPort,
        calendar: TradingCalendar,
        clock: Callable[[], int],
        *,
        settlement_sessions: int = 2,
        sleep: Sleep = asyncio.sleep,
        route: Callable[[str, str], str] | None = None,
        feed_listeners: Sequence[Callable[[EventBatch], None]] = (),
    ) -> None:
        """`shards`: a port per shard, by name; `route(account, symbol)` names the shard a
        break is recorded on (default: the first); `feed_listeners` are told every batch of
        every feed (the route learns where symbols moved)."""
        if not shards:
            raise ValueError("the settlement role needs at least one shard")
        self.shards = dict(shards)
        self.clearing = clearing
        self.calendar = calendar
        self.clock = clock
        self.sleep = sleep
        self.route = route or (lambda account, symbol: next(iter(self.shards)))
        self.feed_listeners = list(feed_listeners)
        self.feed = FeedState(calendar, settlement_sessions)
        self.status = "starting"
        self.done: str | None = None
        """The trade date whose end of day finished last."""
        self.deadline_s: float | None = None
        """For a run by hand: give up (`SettlementUnavailable`) after this long (loop time)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._fed = asyncio.Condition()
        self._lock = asyncio.Lock()
        self._ts_started = clock()
        self.driving: asyncio.Task[None] | None = None
        """The task of `drive_in_background`."""

    # ------------------------------------------------------------------ feeds

    async def start(self) -> None:
        """Follow every shard's feed, and return once each has been read up to the seq it
        had when asked (the state then reflects the whole journal)."""
        for name in self.shards:
            self._tasks.append(asyncio.create_task(self._follow(name)))
        for name, port in self.shards.items():
            last = await self._retry(f"shard {name}", port.last_seq)
            await self._fed_up_to(name, last, start_wait_s)
        self.status = "ready"

    async def stop(self) -> None:
        """End the feeds and the driver (one that ended on its own was logged then)."""
        running = [task for task in self._tasks if not task.done()]
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _follow(self, name: str) -> None:
        port = self.shards[name]
        wait_s = retry_wait_s_first
        while True:
            try:
                async for batch in port.follow(self.feed.shard(name).last_seq + 1):
                    for seq, ts, events in batch:
                        self.feed.apply(name, seq, ts, events)
                    for listener in self.feed_listeners:
                        listener(batch)
                    async with self._fed:
                        self._fed.notify_all()
                    wait_s = retry_wait_s_first
            except Exception as error:  # the shard is away: follow again from where we are
                log.warning("feed of shard %s: %r; following again", name, error)
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, retry_wait_s_max)

    async def _fed_up_to(self, name: str, seq: int, wait_s: float = feed_wait_s) -> None:
        state = self.feed.shard(name)
        async with self._fed:
            await asyncio.wait_for(self._fed.wait_for(lambda: state.last_seq >= seq), wait_s)

    # ------------------------------------------------------------------ retries

    async def _retry(self, what: str, action: Callable[[], Awaitable[T]]) -> T:
        """`action` until it answers; fail closed while `what` cannot be reached."""
        loop = asyncio.get_running_loop()
        give_up = None if self.deadline_s is None else loop.time() + self.deadline_s
        wait_s = retry_wait_s_first
        while True:
            try:
                return await action()
            except DayRefused:
                raise
            except Exception as error:
                if give_up is not None and loop.time() > give_up:
                    raise SettlementUnavailable(f"{what} did not answer: {error}") from error
                self.status = f"waiting for {what}: {error!r}"
                log.warning("%s: %r; trying again in %.2f s", what, error, wait_s)
                await asyncio.sleep(wait_s)
                wait_s = min(wait_s * 2, retry_wait_s_max)

    # ------------------------------------------------------------------ the driver

    async def drive(self) -> None:
        """Run every session's end of day at its close, until cancelled: first the last day
        a shard closed again (whatever a stop left undone), then each next one."""
        resume = self.feed.last_closed()
        while True:
            if resume is not None:
                date, resume = resume, None
            else:
                index = self._next_session()
                date = self.calendar.session_date(index)
                ts_due = self.calendar.session_times(index)[1] + close_margin_ns
                now = self.clock()
                if now < ts_due:
                    self.status = f"waiting for the close of {date}"
                    await self.sleep(min((ts_due - now) / 1e9, wait_s_max))
                    continue
            try:
                await self.run_day(date)
            except DayRefused as error:  # a shard's clock behind ours, or a day out of order
                self.status = f"refused: {error}; trying again in {wait_s_max:.0f} s"
                log.error("end of day %s refused: %s", date, error)
                await self.sleep(wait_s_max)

    def drive_in_background(self) -> None:
        """`drive` in a task that `stop` ends; a refusal or a bug there stops it, logged."""
        task = asyncio.create_task(self.drive())
        task.add_done_callback(self._driver_done)
        self._tasks.append(task)
        self.driving = task

    def _driver_done(self, task: "asyncio.Task[None]") -> None:
        if not task.cancelled() and task.exception() is not None:
            self.status = f"stopped: {task.exception()}"
            log.error("the end of day stopped: %r", task.exception())

    def _next_session(self) -> int:
        last = self.feed.last_closed()
        if last is not None:
            return self.calendar.session_of_date(last) + 1
        first = self.feed.first_session()
        started = self.calendar.session_index(self._ts_started)
        return started if first is None else min(first, started)

    # ------------------------------------------------------------------ one day

    async def run_day(self, date: str) -> DayReport:
        """The end of day of trade date `date` (see the module); safe to run again."""
        try:
            index = self.calendar.session_of_date(date)
        except ValueError as error:
            raise DayRefused(str(error)) from error
        settle_date = self.calendar.session_date(index + 1)
        report = DayReport(date, settle_date)
        async with self._lock:
            self.status = f"closing {date}"
            report.closed_now = await self._everywhere(CloseDay(date), DayClosed)
            self.status = f"clearing the trades of {date}"
            await self._clear(index, report)
            self.status = f"settling {settle_date}"
            report.settled_now = await self._everywhere(SettleDay(settle_date), DaySettled)
            await self._settle(settle_date, report)
            self.status = f"reconciling holdings as of {settle_date}"
            cut = self.feed.cut(settle_date)
            holdings = await self._retry(
                "the clearinghouse", lambda: self.clearing.holdings(settle_date)
            )
            balances = self.feed.balances(cut)
            found = reconcile.holding_breaks(settle_date, balances, holdings)
            fresh, persisting = reconcile.split_persisting(
                found, self.feed.breaks, self.feed.resolved
            )
            report.breaks_known.extend(persisting)
            await self._record(report, fresh)
            self.status = f"done {date}"
            self.done = date
        log.info("end of day %s: %s", date, "; ".join(report.lines()[:3]))
        return report

    async def _everywhere(self, command: CloseDay | SettleDay, done: type) -> list[str]:
        """`command` to every shard; the shards where it changed something now."""
        changed = []
        for name, port in self.shards.items():
            result = await self._retry(
                f"shard {name}", partial(port.submit, command, SETTLEMENT_ORIGIN)
            )
            for event in result.events:
                if isinstance(event, done):
                    changed.append(name)
                elif isinstance(event, CommandRejected) and (
                    event.reason != RejectReason.DAY_ALREADY_CLOSED
                ):
                    raise DayRefused(
                        f"shard {name} refused {type(command).__name__}({command.date}): "
                        f"{event.reason.name}"
                    )
            await self._retry(
                f"the feed of shard {name}", partial(self._fed_up_to, name, result.seq)
            )
        return changed

    def _trades_of(self, index: int) -> list[ClearingTrade]:
        date = self.calendar.session_date(index)
        settle = self.calendar.session_date(index + self.feed.settlement_sessions)
        return clearing_trades(self.feed.fills_of([index]), date, settle)

    async def _clear(self, index: int, report: DayReport) -> None:
        """Steps 2 and 3: D's trades submitted, their confirmations compared; then the earlier
        dates whose trades were unconfirmed or confirmed late, read again."""
        date = report.date
        trades = self._trades_of(index)
        report.trades = len(trades)
        answered = await self._retry(
            "the clearinghouse",
            lambda: self.clearing.submit_trades(date, f"TRD-{date}", trades),
        )
        read = await self._retry("the clearinghouse", lambda: self.clearing.confirmations(date))
        breaks = reconcile.confirmation_breaks(date, trades, [*answered, *read])
        await self._record(report, breaks)
        for earlier in self._dates_to_read_again(date, answered):
            confirmations = await self._retry(
                "the clearinghouse", partial(self.clearing.confirmations, earlier)
            )
            trades = self._trades_of(self.calendar.session_of_date(earlier))
            await self._record(
                report, reconcile.confirmation_breaks(earlier, trades, confirmations)
            )

    def _dates_to_read_again(self, date: str, answered: list[Confirmation]) -> list[str]:
        """Earlier trade dates with a confirmation released now, or a trade still
        unconfirmed (its confirmation may have come late since) whose break is open."""
        dates = {item.trade_date for item in answered if item.trade_date < date}
        recorded = self.feed.breaks
        for item in recorded.values():
            open_break = item.break_id not in self.feed.resolved
            if item.kind == BreakKind.UNCONFIRMED and item.date < date and open_break:
                late = item.break_id.replace(
                    BreakKind.UNCONFIRMED.name, BreakKind.LATE_CONFIRMATION.name, 1
                )
                if late not in recorded:
                    dates.add(item.date)
        return sorted(dates)

    async def _settle(self, settle_date: str, report: DayReport) -> None:
        """Step 4 after `SettleDay`: movements, the clearinghouse's settlement, obligations
        and the ledger compared."""
        feed = self.feed
        cut = feed.cut(settle_date)
        movements = feed.movements(feed.previous_cut(settle_date), cut, settle_date)
        report.movements = len(movements)
        if movements:
            await self._retry(
                "the clearinghouse",
                lambda: self.clearing.submit_movements(
                    settle_date, f"MOV-{settle_date}", movements
                ),
            )
        carried = await self._carried_into(settle_date)
        instructions, fails = await self._retry(
            "the clearinghouse", partial(self.clearing.settle, settle_date)
        )
        trade_dates = feed.settled_trade_dates(settle_date)
        report.trade_dates_settled = trade_dates
        sessions = [self.calendar.session_of_date(item) for item in trade_dates]
        expected = net_obligations(feed.fills_of(sessions))
        breaks = reconcile.obligation_breaks(settle_date, expected, instructions, fails, carried)
        funds, shares = feed.settled_by_ledger(settle_date)
        by_session = {session: feed.fills.get(session, []) for session in sessions}
        settle_session = self.calendar.session_of_date(settle_date)
        ledger = ledger_obligations(by_session, feed.adjustments, settle_session)
        breaks += reconcile.ledger_breaks(settle_date, ledger, funds, shares)
        await self._record(report, breaks)

    async def _carried_into(self, settle_date: str) -> list[Fail]:
        """The fails of the settlement before `settle_date` (the clearinghouse carries them
        into its instructions); that date settled at the clearinghouse too if it settled at
        the platform (settling it is idempotent: its stored result)."""
        index = self.calendar.session_of_date(settle_date)
        previous = self.calendar.session_date(index - 1)
        if not self.feed.cut(previous):
            return []
        _, fails = await self._retry("the clearinghouse", partial(self.clearing.settle, previous))
        return fails

    async def _record(self, report: DayReport, breaks: list[RecordBreak]) -> None:
        """Each break into the review queue, once: one recorded already is known."""
        for item in breaks:
            if item.break_id in self.feed.breaks:
                report.breaks_known.append(item)
                continue
            name = self.route(item.account, item.symbol)
            port = self.shards[name]
            result = await self._retry(
                f"shard {name}", partial(port.submit, item, SETTLEMENT_ORIGIN)
            )
            for event in result.events:
                if isinstance(event, BreakOpened):
                    report.breaks_new.append(item)
                elif isinstance(event, CommandRejected):
                    if event.reason == RejectReason.BREAK_EXISTS:
                        report.breaks_known.append(item)
                    else:  # the queue is full, say: the difference stands, unrecorded
                        report.breaks_refused.append(item)
                        log.error("break %s refused: %s", item.break_id, event.reason.name)
