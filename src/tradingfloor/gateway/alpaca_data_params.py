"""The query parameters of Alpaca's stock data API, read into what the history queries take.

`symbols` (comma-separated, at most `symbols_per_request_max`), `start` and `end` (RFC 3339,
or a date: its New York midnight; both included; `start` defaults to the beginning of the
current New York day, `end` to now), `limit` (1 to `limit_max`, default `limit_default`: rows
of all the symbols together, per page), `sort` (`asc` or `desc`), `page_token` (opaque: the
previous page's last row), and for bars `timeframe`: `NMin`/`NT` (1-59), `NHour`/`NH` (1-23),
`1Day`/`1D`. `feed`, `adjustment`, `asof` and `currency` are taken and have no effect: there
is one venue, no corporate action rewrites a trade's price, and prices are dollars.
"""

import base64
import binascii
import datetime
import json
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tradingfloor.gateway.answers import MALFORMED
from tradingfloor.gateway.errors import ApiError
from tradingfloor.store.market_history_queries import Buckets, Window

limit_default = 1_000
limit_max = 10_000
"""Rows per page, as Alpaca's."""
symbols_per_request_max = 100
symbol_length_max = 32
page_token_bytes_max = 512
day_offsets_max = 1_000
"""UTC-offset changes a day-bar query may span (two a year: five centuries)."""
NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR
NEW_YORK = ZoneInfo("America/New_York")
_TIMEFRAME = re.compile(r"^([1-9][0-9]?)(Min|T|Hour|H|Day|D)$")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def refused(message: str) -> ApiError:
    return ApiError(422, MALFORMED, message)


def symbols_of(text: str | None) -> tuple[str, ...]:
    """The symbols named, each once, in the order given."""
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    if not names:
        raise refused("symbols: name at least one")
    if len(names) > symbols_per_request_max:
        raise refused(f"symbols: at most {symbols_per_request_max}")
    if any(len(name) > symbol_length_max for name in names):
        raise refused(f"symbols: at most {symbol_length_max} characters each")
    return tuple(dict.fromkeys(names))


def ts_of(text: str | None, name: str, default: int) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time or a date (New York midnight)."""
    if text is None or text == "":
        return default
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            moment = datetime.datetime.combine(day, datetime.time(), tzinfo=NEW_YORK)
        else:
            moment = datetime.datetime.fromisoformat(text.replace("z", "Z"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
    except ValueError:
        raise refused(f"{name}: an RFC 3339 time or a date (YYYY-MM-DD)") from None
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000


def day_start(now_ns: int) -> int:
    """The first ns of the New York day `now_ns` falls in."""
    moment = datetime.datetime.fromtimestamp(now_ns // NS_PER_SECOND, NEW_YORK)
    midnight = datetime.datetime.combine(moment.date(), datetime.time(), tzinfo=NEW_YORK)
    return int(midnight.timestamp()) * NS_PER_SECOND


def limit_of(value: int | None) -> int:
    if value is None:
        return limit_default
    if not 1 <= value <= limit_max:
        raise refused(f"limit: 1 to {limit_max}")
    return value


def descending_of(sort: str | None) -> bool:
    if sort not in (None, "", "asc", "desc"):
        raise refused("sort: asc or desc")
    return sort == "desc"


def page_token(position: tuple[Any, ...]) -> str:
    """An opaque token naming the last row of a page."""
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()


def position_of(token: str | None, kinds: tuple[type, ...]) -> tuple[Any, ...] | None:
    """The row a `page_token` names: a symbol, then values of `kinds`."""
    if not token:
        return None
    if len(token) > page_token_bytes_max:
        raise refused("page_token: not one of ours")
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, RecursionError):
        raise refused("page_token: not one of ours") from None
    wanted = (str, *kinds)
    if not (
        isinstance(values, list)
        and len(values) == len(wanted)
        and all(type(value) is kind for value, kind in zip(values, wanted, strict=True))
    ):
        raise refused("page_token: not one of ours")
    return tuple(values)


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar length: minutes and hours are multiples since the epoch (UTC); a day is a New
    York calendar day."""

    width_ns: int
    daily: bool

    def buckets(self, start_ts: int, end_ts: int) -> Buckets:
        if not self.daily:
            return Buckets(self.width_ns)
        return Buckets(NS_PER_DAY, new_york_offsets(start_ts, end_ts))

    def start_of(self, key: int) -> int:
        """The first ns of the bar `key` names."""
        if not self.daily:
            return key * self.width_ns
        day = datetime.date(1970, 1, 1) + datetime.timedelta(days=key)
        midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=NEW_YORK)
        return int(midnight.timestamp()) * NS_PER_SECOND


def timeframe_of(text: str | None) -> Timeframe:
    found = _TIMEFRAME.match(text or "")
    if found is None:
        raise refused("timeframe: NMin (1-59), NHour (1-23) or 1Day")
    amount, unit = int(found.group(1)), found.group(2)
    if unit in ("Min", "T") and amount <= 59:
        return Timeframe(amount * NS_PER_MINUTE, False)
    if unit in ("Hour", "H") and amount <= 23:
        return Timeframe(amount * NS_PER_HOUR, False)
    if unit in ("Day", "D") and amount == 1:
        return Timeframe(NS_PER_DAY, True)
    raise refused("timeframe: NMin (1-59), NHour (1-23) or 1Day")


def _offset_at(ts: int) -> int:
    moment = datetime.datetime.fromtimestamp(ts // NS_PER_SECOND, NEW_YORK)
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) * NS_PER_SECOND


def new_york_offsets(start_ts: int, end_ts: int) -> tuple[tuple[int, int], ...]:
    """(from ts, New York's UTC offset from then) over [start_ts, end_ts], to the hour: a
    week at a time (offsets change months apart), then hour by hour within the week."""
    start_ts = max(start_ts, 0)
    found = [(start_ts, _offset_at(start_ts))]
    week = start_ts
    while week < end_ts:
        following = min(week + 7 * NS_PER_DAY, end_ts)
        if _offset_at(following) != found[-1][1]:
            hour = week
            while _offset_at(hour) == found[-1][1]:
                hour += NS_PER_HOUR
            found.append((hour - hour % NS_PER_HOUR, _offset_at(hour)))
            if len(found) > day_offsets_max:
                raise refused("start and end: too far apart for day bars")
            following = hour
        week = following
    return tuple(found)


def window(
    symbols: tuple[str, ...],
    start_ts: int,
    end_ts: int,
    limit: int,
    descending: bool,
    after: tuple[Any, ...] | None,
) -> Window:
    """The rows of a page, and one more: a row beyond the page says there is a next."""
    if end_ts < start_ts:
        raise refused("end: before start")
    return Window(symbols, start_ts, end_ts, limit + 1, descending, after)
