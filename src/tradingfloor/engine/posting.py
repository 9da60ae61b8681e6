"""Posting a book's events to the ledger: fills move cash and shares and may count a day
trade; cancels, expiries and rejects release holds; the command's trades, summed, then feed
the price-move circuit breaker.
"""

from typing import Any

from tradingfloor.domain.events import (
    DayTradeCounted,
    Event,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    TradeExecuted,
)
from tradingfloor.engine.good_faith import count_violation
from tradingfloor.engine.halts import Halts
from tradingfloor.engine.risk_context import NO_PRICE_MAX
from tradingfloor.ledger import Account
from tradingfloor.risk.guards import SECOND_NS


class Posting(Halts):
    """The ledger side of `RiskPipeline`."""

    def post(self, out: list[Event], start: int, ts: int) -> None:
        """Post the book's events from `start` on to the ledger and the guards.

        A command's trades all happen in one book at one time, so the circuit breaker sees
        them once, summed, after the ledger has posted each.
        """
        ledger = self.ledger
        holds = ledger.holds
        session = -1
        extra: list[Event] = []
        trade: TradeExecuted | None = None
        count = total = high = 0
        low = NO_PRICE_MAX
        for index in range(start, len(out)):
            event = out[index]
            kind = type(event)
            if kind is TradeExecuted:
                trade = event  # type: ignore[assignment]
                if session < 0:
                    session = self._session(ts)
                day_trade = ledger.fill(trade, session)  # type: ignore[arg-type]
                if day_trade is not None:
                    extra.append(self._count_day_trade(day_trade, session, trade))  # type: ignore[arg-type]
                price = trade.price  # type: ignore[union-attr]
                count += 1
                total += price
                if price > high:
                    high = price
                if price < low:
                    low = price
            elif kind is OrderCanceled:
                ledger.resize(event.order_id, event.leaves)  # type: ignore[attr-defined]
            elif kind is OrderExpired or (
                kind is OrderRejected and event.order_id in holds  # type: ignore[attr-defined]
            ):
                ledger.resize(event.order_id, 0)  # type: ignore[attr-defined]
        if trade is not None:
            if ledger.violations:
                for violation in ledger.violations:
                    extra.append(
                        count_violation(violation, self.settings, self.calendar, trade.seq, ts)
                    )
                ledger.violations.clear()
            self._watch(trade, ts, count, total, high, low, extra)
        if extra:
            out.extend(extra)

    def _session(self, ts: int) -> int:
        """The trading session of `ts`, remembered for the rest of its second."""
        second = ts // SECOND_NS
        if second != self._session_second:
            self._session_second = second
            self._session_index = self.calendar.session_index(ts)
        return self._session_index

    def _count_day_trade(self, hold: Any, session: int, trade: TradeExecuted) -> Event:
        account: Account = hold.account
        window = self.settings.day_trade_window_sessions
        days = account.day_trades
        days.append(session)
        first = session - window + 1
        while days and days[0] < first:
            days.pop(0)
        return DayTradeCounted(
            trade.seq, trade.ts, account.account_id, trade.symbol, hold.order_id, len(days)
        )
