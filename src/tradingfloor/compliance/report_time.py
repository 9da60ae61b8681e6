"""Times as reports write them: the trade date and ISO text in New York time, with every
nanosecond the events carry (`datetime` keeps microseconds only, so the fraction is added
by hand), and CAT's own timestamp text.

The platform's events stamp integer nanoseconds since the epoch (UTC); regulators read the
exchange's local day and time. A trade at 20:30 New York time on the 3rd is of the 3rd's
file even though it is the 4th in UTC.
"""

import datetime
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
_SECOND_NS = 1_000_000_000


def _local(ts: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts // _SECOND_NS, NEW_YORK)


def trade_date(ts: int) -> str:
    """The New York date of `ts` (ns), ISO: the day a report or a CAT event belongs to."""
    return _local(ts).date().isoformat()


def iso_text(ts: int) -> str:
    """`2026-12-03T13:00:00.123456789-05:00`: New York time to the nanosecond."""
    local = _local(ts)
    offset = local.strftime("%z")
    return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}.{ts % _SECOND_NS:09d}{offset[:3]}:{offset[3:]}"


def cat_timestamp(ts: int) -> str:
    """CAT's timestamp text, Eastern time: `YYYYMMDD HHMMSS.CCCNNNNNN`."""
    return f"{_local(ts).strftime('%Y%m%d %H%M%S')}.{ts % _SECOND_NS:09d}"


def cat_date(ts: int) -> int:
    """CAT's date number (`YYYYMMDD`) of `ts` in New York."""
    return int(_local(ts).strftime("%Y%m%d"))
