"""The session the platform reports: the exchange calendar's regular hours, or, with
`Settings.market_always_open` (the demo's and a replay's markets, which trade at any hour), a
market always open.

The matching engine takes orders at any hour in both; what ends a trading day is the end of
day, which runs at the exchange calendar's close in both (DAY orders expire, the day's trades
go to settlement). So an always-open market's session runs from one exchange close to the
next: the clock says open at every instant, its next close is the exchange's next close (when
DAY orders placed now expire) and its next open the same instant (orders placed after it
belong to the next day)."""

from typing import Any

from tradingfloor.config import Settings
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.risk.calendar import TradingCalendar


def always_open(settings: Settings) -> bool:
    return settings.market_always_open


def clock(settings: Settings, calendar: TradingCalendar, now: int) -> Any:
    """Alpaca's clock of the platform's session at `now`."""
    open_ts, close_ts = calendar.session_bounds(now)
    if now >= close_ts:  # the closing instant still belongs to the closing session
        open_ts, close_ts = calendar.session_bounds(close_ts + 1)
    if always_open(settings):
        return views.clock(now, now, close_ts, close_ts, calendar.timezone)
    next_open = calendar.session_bounds(close_ts + 1)[0]
    return views.clock(now, open_ts, close_ts, next_open, calendar.timezone)
