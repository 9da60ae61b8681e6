"""The pre-trade checks of a new or replaced order, each a `RejectReason` when it fails.

Price limits (the collar around the reference, the LULD band), fixed per symbol and second;
the quantity and notional maximums; open orders per symbol; buying power or shares; the
day-trade policy of margin accounts. `RiskPipeline._checked_place` runs them in order.
"""

from typing import Any

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import AccountKind, DayTradePolicy, OrderType, Side
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.account_views import AccountViews
from tradingfloor.engine.good_faith import settled_cash_refusal
from tradingfloor.engine.risk_context import NO_PRICE_MAX
from tradingfloor.ledger import Account
from tradingfloor.matching.book import OrderBook
from tradingfloor.risk.guards import BPS, SECOND_NS, SymbolGuard, band_bps, collar_caps

BUY = Side.BUY
LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
STOP = OrderType.STOP
STOP_LIMIT = OrderType.STOP_LIMIT
TRAILING_STOP = OrderType.TRAILING_STOP


class OrderChecks(AccountViews):
    """The checks `RiskPipeline.place` and `RiskPipeline.replace` make."""

    def _refresh_limits(self, book: OrderBook, guard: SymbolGuard, ts: int) -> None:
        """Fix the symbol's price limits for this second: the collar around the reference
        (the last trade, else the set reference price) and the LULD band around the mean of
        the window's trades. Like LULD's own reference, which moves at most every 30 s, the
        limits are not recomputed trade by trade: the first order of each second does it."""
        reference = book.last_price or guard.reference
        settings = self.settings
        if reference is None:
            guard.collar = None
        else:
            guard.collar = collar_caps(reference, settings.collar_bps)
        guard.band = None
        if settings.luld_enabled:
            band_reference = guard.mean_price(ts, settings.price_window_ns) or guard.reference
            if band_reference is not None:
                guard.band = self._band(book.instrument, band_reference, ts)
        buy_max, sell_min = NO_PRICE_MAX, 0
        for limits in (guard.collar, guard.band):
            if limits is not None:
                buy_max, sell_min = min(buy_max, limits[0]), max(sell_min, limits[1])
        guard.buy_max, guard.sell_min = buy_max, sell_min
        guard.limits_second = ts // SECOND_NS

    def _price_checks(
        self, command: PlaceOrder, book: OrderBook, ts: int
    ) -> tuple[RejectReason | None, int, int]:
        """(reason, hold price per share, protection price) from the order's prices.

        Limit prices must sit within the collar of the reference (the last trade, else the
        set reference price) and the LULD band; market and stop-market orders get a
        protection price at the collar, and buys hold at it.
        """
        settings = self.settings
        order_type = command.order_type
        side = command.side
        instrument = book.instrument
        guard = self.guards[book.symbol]
        if guard.limits_second != ts // SECOND_NS:
            self._refresh_limits(book, guard, ts)
        reference = book.last_price or guard.reference
        price: int = command.price  # type: ignore[assignment]  # validated: set for limits
        if order_type == LIMIT:
            for limits, reason in (
                (guard.collar, RejectReason.PRICE_OUTSIDE_COLLAR),
                (guard.band, RejectReason.PRICE_OUTSIDE_BAND),
            ):
                if limits is not None and (
                    price > limits[0] if side == BUY else price < limits[1]
                ):
                    return reason, 0, 0
            return self._notional(command.qty, price), price, 0
        if order_type == STOP_LIMIT:
            buy_cap, sell_cap = collar_caps(command.stop_price, settings.collar_bps)  # type: ignore[arg-type]
            if price > buy_cap if side == BUY else price < sell_cap:
                return RejectReason.PRICE_OUTSIDE_COLLAR, 0, 0
            return self._notional(command.qty, price), price, 0
        if order_type == MARKET:
            if reference is None:
                return RejectReason.NO_REFERENCE_PRICE, 0, 0
            buy_cap, sell_cap = guard.buy_max, guard.sell_min  # collar and band, as cached
        else:
            if order_type == STOP:
                base: int = command.stop_price  # type: ignore[assignment]
            else:  # trailing stop: its first stop price, from the reference
                if reference is None:
                    return RejectReason.NO_REFERENCE_PRICE, 0, 0
                offset = command.trail_price
                if offset is None:
                    offset = -(-reference * command.trail_bps // BPS)  # type: ignore[operator]
                base = reference + offset if side == BUY else max(reference - offset, 1)
            buy_cap, sell_cap = collar_caps(base, settings.collar_bps)
        if side == BUY:
            protection = instrument.round_to_tick(buy_cap, up=False)
        else:
            protection = max(instrument.round_to_tick(sell_cap, up=True), 1)
        return self._notional(command.qty, protection), protection, protection

    def _notional(self, qty: int, price: int) -> RejectReason | None:
        if qty > self.settings.quantity_max:
            return RejectReason.QUANTITY_ABOVE_MAX
        if qty * price > self.settings.notional_max:
            return RejectReason.NOTIONAL_ABOVE_MAX
        return None

    def _band(self, instrument: Instrument, reference: int, ts: int) -> tuple[int, int]:
        """The LULD band (highest, lowest price) around `reference`, doubled near the open
        and the close."""
        settings = self.settings
        doubled = self.calendar.near_open_or_close(
            ts, settings.luld_open_window_ns, settings.luld_close_window_ns
        )
        width = band_bps(
            instrument.luld_tier, settings.luld_tier_1_bps, settings.luld_tier_2_bps, doubled
        )
        low = instrument.round_to_tick(reference - reference * width // BPS, up=True)
        high = instrument.round_to_tick(reference + reference * width // BPS, up=False)
        return high, max(low, 1)

    def _account_checks(
        self, command: PlaceOrder, account: Account, hold_price: int, ts: int
    ) -> RejectReason | None:
        settings = self.settings
        symbol = command.symbol
        if account.open_orders.get(symbol, 0) >= settings.open_orders_per_symbol_max:
            return RejectReason.OPEN_ORDERS_ABOVE_MAX
        if command.side != BUY:
            position = account.positions.get(symbol)
            if position is None or command.qty > position.free_shares():
                return RejectReason.INSUFFICIENT_SHARES
            return None
        need = self.ledger.buy_hold_amount(command.qty, hold_price)
        if need > account.buying_power:
            return RejectReason.INSUFFICIENT_BUYING_POWER
        if account.restricted_until >= 0:
            reason = settled_cash_refusal(account, need, self.calendar.session_index(ts))
            if reason is not None:
                return reason
        if account.kind == AccountKind.MARGIN:
            return self._day_trade_check(account, need, ts)
        return None

    def _day_trade_check(self, account: Account, need: int, ts: int) -> RejectReason | None:
        """The day-trade policy for a new opening (buy) order of a margin account."""
        settings = self.settings
        policy = settings.day_trade_policy
        if policy == DayTradePolicy.PDT:
            session = self.calendar.session_index(ts)
            count = account.day_trade_count(session, settings.day_trade_window_sessions)
            if (
                count >= settings.pattern_day_trades_min
                and self.equity(account) < settings.pattern_day_trader_equity_min
            ):
                return RejectReason.PATTERN_DAY_TRADER
        elif policy == DayTradePolicy.INTRADAY_MARGIN:
            exposure = self.market_value(account) + account.held + need
            if exposure * BPS > self.equity(account) * settings.intraday_exposure_bps:
                return RejectReason.INTRADAY_EXPOSURE_ABOVE_EQUITY
        return None

    def _replace_funds(
        self, account: Account, side: Side, hold: Any, leaves: int, hold_price: int
    ) -> RejectReason | None:
        if side == BUY:
            more = self.ledger.buy_hold_amount(leaves, hold_price) - hold.amount
            if more > account.buying_power:
                return RejectReason.INSUFFICIENT_BUYING_POWER
            return None
        position = hold.position
        if leaves - hold.amount > position.free_shares():
            return RejectReason.INSUFFICIENT_SHARES
        return None
