"""Trading halts of one symbol or of the whole market, and a symbol's reference price.

A halt starts by command (`HaltTrading`), by the price-move circuit breaker on a symbol's
trades, or by the market-wide circuit breakers on declines of the index (`UpdateMarketIndex`);
it ends by command (`ResumeTrading`), when its time has run out (noticed by the next order), or,
for a level-3 market halt, at the next session. `SetReferencePrice` sets the price a symbol's
collar and band fall back on when its trades give none.
"""

from typing import Any

from tradingfloor.domain.commands import (
    HaltTrading,
    ResumeTrading,
    SetReferencePrice,
    UpdateMarketIndex,
)
from tradingfloor.domain.enums import HaltReason
from tradingfloor.domain.events import (
    Event,
    ReferencePriceSet,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.risk_context import RiskContext
from tradingfloor.risk.guards import BPS, MARKET_LEVELS, market_level


class Halts(RiskContext):
    """Halts and reference prices of `RiskPipeline`."""

    def _watch(
        self,
        trade: TradeExecuted,
        ts: int,
        count: int,
        total: int,
        high: int,
        low: int,
        extra: list[Event],
    ) -> None:
        """The price-move circuit breaker: halt when the window's trades span too far."""
        guard = self.guards[trade.symbol]
        settings = self.settings
        moved = guard.on_trades(
            ts, count, total, high, low, settings.price_window_ns, settings.halt_move_bps
        )
        if moved and not guard.halted_at(ts):
            guard.halt = HaltReason.PRICE_MOVE
            guard.halted_until = until = ts + settings.halt_duration_ns
            extra.append(TradingHalted(trade.seq, ts, trade.symbol, HaltReason.PRICE_MOVE, until))

    def _halted(self, symbol: str, seq: int, ts: int, out: list[Event]) -> RejectReason | None:
        """Why new orders in `symbol` are refused at `ts`; a timed halt that ran out ends here."""
        market = self.market
        if market.halt is not None:
            if market.halt == HaltReason.MARKET_WIDE_LEVEL_3:
                still = not self._next_session(ts)
            else:
                still = market.halted_until is None or ts < market.halted_until
            if still:
                return RejectReason.MARKET_HALTED
            market.halt = market.halted_until = None
            out.append(TradingResumed(seq, ts, None))
        guard = self.guards[symbol]
        if guard.halt is not None:
            if guard.halted_at(ts):
                return RejectReason.SYMBOL_HALTED
            guard.halt = guard.halted_until = None
            out.append(TradingResumed(seq, ts, symbol))
        return None

    def _next_session(self, ts: int) -> bool:
        return self.calendar.session_index(ts) > self.market.levels_session

    def _halt(self, command: HaltTrading, seq: int, ts: int, out: list[Event]) -> None:
        symbol = command.symbol
        if symbol is None:
            self.market.halt = HaltReason.MANUAL
            self.market.halted_until = None
        elif symbol in self.guards:
            guard = self.guards[symbol]
            guard.halt = HaltReason.MANUAL
            guard.halted_until = None
        else:
            self._reject(command, symbol, RejectReason.UNKNOWN_SYMBOL, seq, ts, out)
            return
        out.append(TradingHalted(seq, ts, symbol, HaltReason.MANUAL, None))

    def _resume(self, command: ResumeTrading, seq: int, ts: int, out: list[Event]) -> None:
        """Ends any halt of the symbol (or of the market), manual or automatic."""
        symbol = command.symbol
        holder: Any = self.market if symbol is None else self.guards.get(symbol)
        if holder is None:
            self._reject(command, symbol or "", RejectReason.UNKNOWN_SYMBOL, seq, ts, out)
            return
        if holder.halt is not None:
            holder.halt = holder.halted_until = None
            out.append(TradingResumed(seq, ts, symbol))

    def _set_reference(
        self, command: SetReferencePrice, seq: int, ts: int, out: list[Event]
    ) -> None:
        guard = self.guards.get(command.symbol)
        if guard is None:
            self._reject(command, command.symbol, RejectReason.UNKNOWN_SYMBOL, seq, ts, out)
        elif type(command.price) is not int or command.price <= 0:
            self._reject(command, command.symbol, RejectReason.INVALID_PRICE, seq, ts, out)
        else:
            guard.set_reference(command.price)
            out.append(ReferencePriceSet(seq, ts, command.symbol, command.price))

    def _update_market_index(
        self, command: UpdateMarketIndex, seq: int, ts: int, out: list[Event]
    ) -> None:
        """Market-wide circuit breakers: 7% and 13% declines halt for 15 minutes (not in the
        last 35 minutes), 20% for the rest of the session; each level once a session."""
        market = self.market
        settings = self.settings
        values = (
            [command.value] if command.reference is None else [command.value, command.reference]
        )
        if any(type(value) is not int or value <= 0 for value in values):
            self._reject(command, "index", RejectReason.INVALID_PRICE, seq, ts, out)
            return
        session = self.calendar.session_index(ts)
        if command.reference is not None or market.levels_session != session:
            if market.halt == HaltReason.MARKET_WIDE_LEVEL_3 and session > market.levels_session:
                market.halt = market.halted_until = None
                out.append(TradingResumed(seq, ts, None))
            market.reference = command.reference or market.reference
            market.levels_session = session
            market.levels_hit = 0
        market.value = command.value
        if market.reference is None:
            return
        decline_bps = (market.reference - command.value) * BPS // market.reference
        level = market_level(decline_bps, settings.market_halt_levels_bps)
        if level <= market.levels_hit:
            return
        market.levels_hit = level
        if level < 3:
            _, close = self.calendar.session_bounds(ts)
            if ts >= close - settings.market_halt_late_window_ns:
                return
            until: int | None = ts + settings.market_halt_duration_ns
        else:
            until = None
        market.halt = MARKET_LEVELS[level - 1]
        market.halted_until = until
        out.append(TradingHalted(seq, ts, None, market.halt, until))
