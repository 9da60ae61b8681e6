"""`GET /v2/account/portfolio/history`: the account's equity over time, with its profit and
loss, drawn from the read models (`store.portfolio_history`), never from the engine.

The window ends now, or at the end of `date_end` (the exchange's date), or at `end`; it
starts `period` earlier (`D` days, `W` weeks, `M` 30 days, `A` 365 days; default 1M), or at
`start`. `timeframe` is `1Min`, `5Min`, `15Min`, `1H` or `1D` (default as Alpaca's: 1Min for
a period under 7 days, 15Min under 30, else 1D). Each point is labelled at the start of its
window (`timestamp`, seconds) and holds the equity at its end (or now, for the window under
way): cash plus each position marked at its symbol's last trade price then (at its average
cost while it had none). Intraday points cover the exchange's sessions (`market_hours`, the
default), 04:00 to 20:00 exchange time on each trading day (`extended_hours`), or every
window (`continuous`); daily points are the exchange's trading days, labelled at midnight
exchange time and closed at the session's close. With `market_always_open` (the demo, a
replay) every window counts as market hours.

`base_value` is the equity at the window's start. `profit_loss` is the equity less the base
and less the money deposited or withdrawn (or shares delivered, at their cost) since: with
`pnl_reset=per_day` (intraday's default) the base is each day's first point, with `no_reset`
the window's start. `profit_loss_pct` is that over the base (0 on a base of 0). At most
`portfolio_history_points_max` points: a longer answer is refused (422)."""

import datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway import deps
from tradingfloor.gateway.alpaca_calendar_routes import sessions_between
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.market_session import always_open
from tradingfloor.gateway.params import query_date, rfc3339_ns
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.risk.calendar import TradingCalendar, calendar_for
from tradingfloor.store.portfolio_history import EquityPoint, equity_at

portfolio_history_points_max = 2_000
"""Points one answer holds at most."""

_MINUTE_NS = 60 * 1_000_000_000
_DAY_NS = 1_440 * _MINUTE_NS
TIMEFRAMES = {"1Min": _MINUTE_NS, "5Min": 5 * _MINUTE_NS, "15Min": 15 * _MINUTE_NS}
TIMEFRAMES["1H"] = 60 * _MINUTE_NS
PERIOD_UNIT_DAYS = {"D": 1, "W": 7, "M": 30, "A": 365}
EXTENDED_HOURS = (datetime.time(4), datetime.time(20))

routes = RouteTable(tags=["alpaca"])

Text = Annotated[str | None, Query(max_length=40)]


@routes.get("/v2/account/portfolio/history")
async def get_portfolio_history(
    principal: deps.Reader,
    platform: deps.Platform,
    period: Annotated[str | None, Query(pattern="^[1-9][0-9]{0,3}[DWMA]$")] = None,
    timeframe: Annotated[str | None, Query(pattern="^(1Min|5Min|15Min|1H|1D)$")] = None,
    intraday_reporting: Annotated[
        str, Query(pattern="^(market_hours|extended_hours|continuous)$")
    ] = "market_hours",
    pnl_reset: Annotated[str | None, Query(pattern="^(per_day|no_reset)$")] = None,
    date_end: Text = None,
    start: Text = None,
    end: Text = None,
    extended_hours: Annotated[bool, Query()] = False,
) -> Response:
    calendar = calendar_for()
    now = platform.clock()
    first, last = _window(calendar, now, period, date_end, start, end)
    frame = timeframe or _default_timeframe(last - first)
    if extended_hours and intraday_reporting == "market_hours":
        intraday_reporting = "extended_hours"
    if always_open(platform.settings):
        intraday_reporting = "continuous"
    if frame == "1D":
        labels = _daily(calendar, first, last, now)
    else:
        labels = _intraday(calendar, first, last, TIMEFRAMES[frame], intraday_reporting, now)
    per_day = frame != "1D" and pnl_reset != "no_reset"
    moments = sorted({first, *(mark for _, mark in labels), *_day_starts(calendar, labels)})
    account = principal.account_id
    points = await platform.read_model(account, equity_at, account, moments)
    found = {point.ts: point for point in points}
    return json_answer(_answer(calendar, labels, found, first, per_day, frame))


def _answer(
    calendar: TradingCalendar,
    labels: list[tuple[int, int]],
    found: dict[int, EquityPoint],
    first: int,
    per_day: bool,
    frame: str,
) -> dict[str, Any]:
    base = found[first]
    equity, profit, percent = [], [], []
    for label, mark in labels:
        point = found[mark]
        start = found[_day_start(calendar, label)] if per_day else base
        gain = point.equity - start.equity - (point.flows - start.flows)
        equity.append(_dollars(point.equity))
        profit.append(_dollars(gain))
        percent.append(float(gain) / start.equity if start.equity else 0.0)
    return {
        "timestamp": [label // 1_000_000_000 for label, _ in labels],
        "equity": equity,
        "profit_loss": profit,
        "profit_loss_pct": percent,
        "base_value": _dollars(base.equity),
        "timeframe": frame,
        "cashflow": {},
    }


def _dollars(amount: int) -> float:
    """Alpaca sends these as JSON numbers: dollars, to the cent as printed."""
    return round(amount / 10_000, 4)


def _window(
    calendar: TradingCalendar,
    now: int,
    period: str | None,
    date_end: str | None,
    start: str | None,
    end: str | None,
) -> tuple[int, int]:
    last = now
    if end is not None:
        last = min(now, rfc3339_ns(end, "end"))
    elif date_end is not None:
        day = query_date(date_end, "date_end") + datetime.timedelta(days=1)
        midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=calendar.timezone)
        last = min(now, views.ts_of(midnight))
    if start is not None:
        first = rfc3339_ns(start, "start")
    else:
        text = period or "1M"
        first = last - int(text[:-1]) * PERIOD_UNIT_DAYS[text[-1]] * _DAY_NS
    if first >= last:
        raise ApiError(422, MALFORMED, "start: not before the end of the window")
    first = max(first, calendar.ts_first)
    return first, last


def _default_timeframe(span_ns: int) -> str:
    if span_ns < 7 * _DAY_NS:
        return "1Min"
    return "15Min" if span_ns < 30 * _DAY_NS else "1D"


def _intraday(
    calendar: TradingCalendar, first: int, last: int, step: int, reporting: str, now: int
) -> list[tuple[int, int]]:
    """(label, mark) of each intraday window: its start, and the moment its equity is of."""
    if reporting == "continuous":
        spans = [(first, last)]
    else:
        spans = [_hours(calendar, index, reporting) for index in _sessions(calendar, first, last)]
    labels: list[tuple[int, int]] = []
    for open_ts, close_ts in spans:
        label = max(open_ts, first) // step * step
        label = label if label >= open_ts else label + step
        if (min(close_ts, last) - label) // step > portfolio_history_points_max:
            _too_many()
        while label < min(close_ts, last + 1):
            labels.append((label, min(label + step, close_ts, now)))
            label += step
        if len(labels) > portfolio_history_points_max:
            _too_many()
    return labels


def _hours(calendar: TradingCalendar, index: int, reporting: str) -> tuple[int, int]:
    if reporting == "market_hours":
        return calendar.session_times(index)
    day = calendar.session_label(index)
    start, end = (
        views.ts_of(datetime.datetime.combine(day, time, tzinfo=calendar.timezone))
        for time in EXTENDED_HOURS
    )
    return start, end


def _daily(calendar: TradingCalendar, first: int, last: int, now: int) -> list[tuple[int, int]]:
    labels = []
    for index in _sessions(calendar, first, last):
        day = calendar.session_label(index)
        midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=calendar.timezone)
        label = views.ts_of(midnight)
        if label >= first and label <= last:
            labels.append((label, min(calendar.session_times(index)[1], now)))
    if len(labels) > portfolio_history_points_max:
        _too_many()
    return labels


def _sessions(calendar: TradingCalendar, first: int, last: int) -> range:
    zone = calendar.timezone
    return sessions_between(
        calendar,
        views.moment(first).astimezone(zone).date(),
        views.moment(last).astimezone(zone).date(),
    )


def _day_start(calendar: TradingCalendar, label: int) -> int:
    """The first moment of the exchange's day of `label` (per-day P&L's base)."""
    day = views.moment(label).astimezone(calendar.timezone).date()
    midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=calendar.timezone)
    return views.ts_of(midnight)


def _day_starts(calendar: TradingCalendar, labels: list[tuple[int, int]]) -> set[int]:
    return {_day_start(calendar, label) for label, _ in labels}


def _too_many() -> None:
    raise ApiError(
        422,
        MALFORMED,
        f"more than {portfolio_history_points_max} points: a shorter period or a longer timeframe",
    )
