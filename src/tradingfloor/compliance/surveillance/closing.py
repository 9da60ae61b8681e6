"""Marking the close: one account's aggressive trades in the last minutes of the session move
the closing price, which values portfolios, funds and derivatives.

For each symbol, the trades of the last `close_window_ns` before the session's close (the
trading calendar's session times, early closes included) are summed per aggressor account.
Once the feed passes the close (any event after it, such as the day being closed), an
account is flagged when it made `close_trades_min` aggressive trades or more, took
`close_volume_pct_min` percent of the window's volume or more, and the last price moved
`close_move_bps_min` or more from where it stood before the window (else from the window's
first trade), in the direction the
account traded (net buying up, net selling down). Score: that move in basis points. The
alert's `ts` is the close; its `seq` the first command after it, which told the detector the
session was over.
"""

import msgspec

from tradingfloor.compliance.surveillance.alerts import (
    Alert,
    Owners,
    Pattern,
    alert_id,
    evidence_events_max,
    make_evidence,
)
from tradingfloor.compliance.surveillance.settings import SurveillanceSettings
from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import Event, TradeExecuted
from tradingfloor.domain.prices import format_price
from tradingfloor.risk.calendar import TradingCalendar

BPS = 10_000


class _Aggressor(msgspec.Struct):
    bought: int = 0
    sold: int = 0
    trades: int = 0
    seqs: list[int] = []
    order_ids: list[int] = []


class _Window(msgspec.Struct):
    symbol: str
    ts_close: int
    price_before: int | None
    last_price: int = 0
    volume: int = 0
    accounts: dict[str, _Aggressor] = {}


class MarkingCloseDetector:
    def __init__(
        self, settings: SurveillanceSettings, owners: Owners, calendar: TradingCalendar
    ) -> None:
        self.settings = settings
        self.owners = owners
        self.calendar = calendar
        self.last_price: dict[str, int] = {}
        self.windows: dict[str, _Window] = {}

    def feed(self, shard: str, seq: int, ts: int, events: list[Event]) -> list[Alert]:
        found = self._closed(shard, seq, ts)
        for event in events:
            if isinstance(event, TradeExecuted):
                self._trade(seq, ts, event)
        return found

    def _closed(self, shard: str, seq: int, ts: int) -> list[Alert]:
        """Judge every window whose session closed before `ts`."""
        found: list[Alert] = []
        for symbol in [s for s, window in self.windows.items() if window.ts_close < ts]:
            found += self._judge(shard, seq, self.windows.pop(symbol))
        return found

    def _trade(self, seq: int, ts: int, trade: TradeExecuted) -> None:
        price_before = self.last_price.get(trade.symbol)
        self.last_price[trade.symbol] = trade.price
        try:
            _, ts_close = self.calendar.session_bounds(ts)
        except ValueError:  # outside the calendar: no session to close
            return
        if not ts_close - self.settings.close_window_ns <= ts <= ts_close:
            return
        window = self.windows.get(trade.symbol)
        if window is None or window.ts_close != ts_close:
            window = _Window(trade.symbol, ts_close, price_before or trade.price)
            self.windows[trade.symbol] = window
        window.last_price = trade.price
        window.volume += trade.qty
        aggressor = window.accounts.setdefault(trade.taker_account, _Aggressor())
        if trade.aggressor == Side.BUY:
            aggressor.bought += trade.qty
        else:
            aggressor.sold += trade.qty
        aggressor.trades += 1
        if len(aggressor.seqs) < evidence_events_max:
            aggressor.seqs.append(seq)
            aggressor.order_ids.append(trade.taker_order_id)

    def _judge(self, shard: str, seq: int, window: _Window) -> list[Alert]:
        settings = self.settings
        if window.price_before is None or window.volume <= 0:
            return []
        move_bps = (window.last_price - window.price_before) * BPS // window.price_before
        found = []
        for account, aggressor in sorted(window.accounts.items()):
            taken = aggressor.bought + aggressor.sold
            direction = 1 if aggressor.bought > aggressor.sold else -1
            if (
                aggressor.trades >= settings.close_trades_min
                and taken * 100 >= settings.close_volume_pct_min * window.volume
                and aggressor.bought != aggressor.sold
                and direction * move_bps >= settings.close_move_bps_min
            ):
                found.append(self._alert(shard, seq, window, account, aggressor, move_bps))
        return found

    def _alert(
        self,
        shard: str,
        seq: int,
        window: _Window,
        account: str,
        aggressor: _Aggressor,
        move_bps: int,
    ) -> Alert:
        taken = aggressor.bought + aggressor.sold
        share_pct = taken * 100 // window.volume
        before = format_price(window.price_before or 0)
        explanation = (
            f"in the last {self.settings.close_window_ns // 60_000_000_000} min before the "
            f"close, {account} took {taken} of {window.volume} {window.symbol} ({share_pct}%) "
            f"in {aggressor.trades} aggressive trades (bought {aggressor.bought}, sold "
            f"{aggressor.sold}); the last price went from {before} to "
            f"{format_price(window.last_price)} ({move_bps:+d} bps)"
        )
        return Alert(
            alert_id(
                Pattern.MARKING_THE_CLOSE, shard, f"{account}/{window.symbol}/{window.ts_close}"
            ),
            Pattern.MARKING_THE_CLOSE,
            shard,
            (account,),
            self.owners.of(account),
            window.symbol,
            window.ts_close,
            seq,
            abs(move_bps),
            f"{account} moved the close of {window.symbol} {move_bps:+d} bps "
            f"with {share_pct}% of the last minutes' volume",
            make_evidence(shard, aggressor.order_ids, aggressor.seqs, explanation),
        )
