"""The session the platform reports: the exchange calendar's regular hours, or, with
`Settings.market_always_open` (the demo's and a replay's markets, which trade at any hour), a
market always open.

Always open runs one session per exchange-local day, from midnight to the next midnight:
the market is open at every instant, its next close is the coming midnight and its next
open the same instant (the next day's session opens as this one closes). The matching
engine takes orders at any hour in both: the setting says what the market's clock tells."""

import datetime
from typing import Any

from tradingfloor.config import Settings
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.risk.calendar import TradingCalendar


def always_open(settings: Settings) -> bool:
    return settings.market_always_open


def clock(settings: Settings, calendar: TradingCalendar, now: int) -> Any:
    """Alpaca's clock of the platform's session at `now`."""
    if always_open(settings):
        today = views.moment(now).astimezone(calendar.timezone).date()
        tomorrow = datetime.datetime.combine(
            today + datetime.timedelta(days=1), datetime.time(), tzinfo=calendar.timezone
        )
        midnight = views.ts_of(tomorrow)
        return views.clock(now, now, midnight, midnight, calendar.timezone)
    open_ts, close_ts = calendar.session_bounds(now)
    if now >= close_ts:  # the closing instant still belongs to the closing session
        open_ts, close_ts = calendar.session_bounds(close_ts + 1)
    next_open = calendar.session_bounds(close_ts + 1)[0]
    return views.clock(now, open_ts, close_ts, next_open, calendar.timezone)
