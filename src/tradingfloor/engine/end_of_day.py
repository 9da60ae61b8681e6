"""The end of the trading day and T+N settlement: `CloseDay` and `SettleDay`.

Which session an order belongs to follows the calendar's rule (`risk.calendar`): session `i`
owns every instant after the close of session `i - 1` up to its own close. Order ids rise
with the sequence, so the engine needs no per-order record of it: `TradingDays` notes, when
the first command of a later session arrives, the last order id given before it. The DAY
orders of sessions up to D are then exactly the live DAY orders whose id is at most the mark
of D; an order accepted after D's close (before `CloseDay(D)` is sequenced) belongs to D + 1
and stays, and so does an order replaced after the close (the replacement is a new order with
a new id). That costs the hot path one integer comparison per command.

The session numbers are those of the engine's calendar (the risk settings'); switching risk
on with another calendar than the default while DAY orders rest would mix two numberings.

`CloseDay(D)` works with risk on or off: a matching-only engine still ends its trading day
(DAY orders expire; the calendar is the default one). `SettleDay` needs accounts: with risk
off it is refused as every account command is (`RISK_OFF`).

Days close in calendar order, one after the other; the first `CloseDay` may name any session
(trades before it count as closed). A settlement date S settles every trade session t with
t + N <= S, all of which must be closed; dates may be skipped (a later date settles what an
earlier one would have) but never revisited.
"""

from typing import TYPE_CHECKING

import msgspec

from tradingfloor.domain.commands import CloseDay, SettleDay
from tradingfloor.domain.events import CommandRejected, DayClosed, Event
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.matching.book import OrderBook

if TYPE_CHECKING:
    from tradingfloor.engine.pipeline import RiskPipeline
    from tradingfloor.risk.calendar import TradingCalendar

TS_CALENDAR_FLOOR = 946_684_800_000_000_000
"""2000-01-01 UTC: earlier timestamps (tests counting from 1) are outside every calendar,
so they belong to no session and load no calendar."""
TS_NEVER = 1 << 62


class TradingDaysState(msgspec.Struct, array_like=True):
    """`session`: the session of the newest command seen (-1: none within the calendar);
    `marks`: per session left behind and not closed yet, the last order id given in it or
    before; `first_closed` / `last_closed`: the sessions closed (-1: none)."""

    session: int = -1
    marks: dict[int, int] = msgspec.field(default_factory=dict)
    first_closed: int = -1
    last_closed: int = -1


class TradingDays:
    """The engine's trading days: which session its commands are in, which days closed."""

    def __init__(self, state: TradingDaysState | None = None) -> None:
        state = state or TradingDaysState()
        self.session = state.session
        self.marks = dict(state.marks)
        self.first_closed = state.first_closed
        self.last_closed = state.last_closed
        self.ts_next = -1
        """Commands stamped at or before this stay in `session` (a cache, not state)."""

    def export_state(self) -> TradingDaysState:
        return TradingDaysState(
            self.session, dict(sorted(self.marks.items())), self.first_closed, self.last_closed
        )

    def advance(self, ts: int, last_order_id: int, calendar: "TradingCalendar") -> None:
        """A command stamped after `ts_next`: note the session it is in (before it runs)."""
        if ts < TS_CALENDAR_FLOOR:
            self.ts_next = TS_CALENDAR_FLOOR - 1
            return
        if ts < calendar.ts_first:
            self.ts_next = calendar.ts_first - 1
            return
        if ts > calendar.ts_last:
            index = calendar.session_count
            self.ts_next = TS_NEVER
        else:
            index = calendar.session_index(ts)
            self.ts_next = calendar.session_times(index)[1]
        if index > self.session:
            if self.session >= 0:
                self.marks[self.session] = last_order_id
            self.session = index

    def order_id_bound(self, index: int, last_order_id: int) -> int:
        """The last order id accepted in session `index` or before."""
        if self.session <= index:
            return last_order_id
        before = [session for session in self.marks if session <= index]
        return self.marks[max(before)] if before else 0

    def close(self, index: int) -> None:
        self.last_closed = index
        if self.first_closed < 0:
            self.first_closed = index
        for session in [session for session in self.marks if session <= index]:
            del self.marks[session]


def session_of(calendar: "TradingCalendar", date: object) -> int | None:
    """The session index of an ISO date, None when it is not a session of the calendar."""
    if type(date) is not str:
        return None
    try:
        return calendar.session_of_date(date)
    except ValueError:
        return None


def session_now(calendar: "TradingCalendar", ts: int) -> int:
    """The session of `ts`; -1 before the calendar, past the last one after it."""
    if ts < TS_CALENDAR_FLOOR or ts < calendar.ts_first:
        return -1
    if ts > calendar.ts_last:
        return calendar.session_count
    return calendar.session_index(ts)


def close_day_refusal(
    days: TradingDays, calendar: "TradingCalendar", command: CloseDay, ts: int
) -> RejectReason | int:
    """Why `CloseDay` is refused, or the session index it closes."""
    index = session_of(calendar, command.date)
    if index is None:
        return RejectReason.NOT_A_SESSION
    if ts < calendar.session_times(index)[1]:
        return RejectReason.DAY_NOT_OVER
    if index <= days.last_closed:
        return RejectReason.DAY_ALREADY_CLOSED
    if days.last_closed >= 0 and index != days.last_closed + 1:
        return RejectReason.DAY_OUT_OF_ORDER
    return index


def expire_day_orders(
    books: dict[str, OrderBook], bound: int, seq: int, ts: int, out: list[Event]
) -> int:
    """Expire the live DAY orders with ids up to `bound`, symbol by symbol; how many."""
    start = len(out)
    for symbol in sorted(books):
        books[symbol].expire(seq, ts, out, bound)
    return len(out) - start


def close_day(
    days: TradingDays,
    calendar: "TradingCalendar",
    books: dict[str, OrderBook],
    last_order_id: int,
    command: CloseDay,
    seq: int,
    ts: int,
    out: list[Event],
) -> int | None:
    """Check and expire; returns the session closing (the caller posts the expiries, runs
    what else happens at the close, then calls `finish_close`), None when refused."""
    found = close_day_refusal(days, calendar, command, ts)
    if isinstance(found, RejectReason):
        out.append(CommandRejected(seq, ts, "CloseDay", str(command.date), found))
        return None
    bound = days.order_id_bound(found, last_order_id)
    expire_day_orders(books, bound, seq, ts, out)
    return found


def finish_close(
    days: TradingDays, command: CloseDay, index: int, expired: int, seq: int, ts: int
) -> DayClosed:
    days.close(index)
    return DayClosed(seq, ts, command.date, index, expired)


def settle_day_refusal(
    days: TradingDays,
    calendar: "TradingCalendar",
    last_settled: int,
    settlement_sessions: int,
    command: SettleDay,
    ts: int,
) -> RejectReason | int:
    """Why `SettleDay` is refused, or the session index of the settlement date."""
    index = session_of(calendar, command.date)
    if index is None:
        return RejectReason.NOT_A_SESSION
    if session_now(calendar, ts) < index:
        return RejectReason.DAY_NOT_OVER
    if index <= last_settled:
        return RejectReason.DAY_ALREADY_CLOSED
    if index - settlement_sessions > days.last_closed:
        return RejectReason.DAY_NOT_CLOSED
    return index


def settle_day(
    days: TradingDays,
    risk: "RiskPipeline | None",
    command: SettleDay,
    seq: int,
    ts: int,
    out: list[Event],
) -> None:
    """`SettleDay`: checked here, settled by the risk pipeline (refused with risk off)."""
    if risk is None:
        found: RejectReason | int = RejectReason.RISK_OFF
    else:
        found = settle_day_refusal(
            days,
            risk.calendar,
            risk.last_settled,
            risk.settings.settlement_sessions,
            command,
            ts,
        )
    if risk is None or isinstance(found, RejectReason):
        reason = found if isinstance(found, RejectReason) else RejectReason.RISK_OFF
        out.append(CommandRejected(seq, ts, "SettleDay", str(command.date), reason))
        return
    risk.settle_day(command, found, days.first_closed, seq, ts, out)
