"""Risk, matching and ledger in one deterministic step: hold -> match -> post and release.

`RiskPipeline` wraps the order books when the engine keeps accounts. A new order is checked
(account, halts, limits, collar, LULD band, buying power or shares, the day-trade rule), its
worst-case cost is held, the book matches it, and the book's events post to the ledger: fills
move cash and shares, cancels, expiries and rejects release holds. Trades feed the circuit
breakers. Everything is a function of the commands and their timestamps.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from tradingfloor.domain.commands import (
    Command,
    Deposit,
    DepositShares,
    HaltTrading,
    OpenAccount,
    PlaceOrder,
    ReplaceOrder,
    ResumeTrading,
    SetAccountStatus,
    SetReferencePrice,
    SettleFunds,
    UpdateMarketIndex,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.enums import (
    AccountKind,
    AccountStatus,
    CancelReason,
    DayTradePolicy,
    HaltReason,
    OrderType,
    Side,
)
from tradingfloor.domain.events import (
    AccountOpened,
    AccountStatusChanged,
    CommandRejected,
    DayTradeCounted,
    Event,
    FundsDeposited,
    FundsSettled,
    FundsWithdrawn,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    ReferencePriceSet,
    ReplaceRejected,
    SharesDeposited,
    SharesWithdrawn,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.ledger import Account, Ledger
from tradingfloor.ledger.ledger import LedgerState
from tradingfloor.matching.book import OrderBook
from tradingfloor.risk.guards import (
    BPS,
    MARKET_LEVELS,
    SECOND_NS,
    MarketGuardState,
    SymbolGuard,
    SymbolGuardState,
    band_bps,
    collar_caps,
    market_level,
)

if TYPE_CHECKING:
    from tradingfloor.risk.calendar import TradingCalendar

BUY = Side.BUY
LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
STOP = OrderType.STOP
STOP_LIMIT = OrderType.STOP_LIMIT
TRAILING_STOP = OrderType.TRAILING_STOP
ACTIVE = AccountStatus.ACTIVE
NO_PRICE_MAX = 1 << 62
AMOUNT_MAX = 10**16
"""$1,000,000,000,000 in one deposit or withdrawal: balances stay far inside 64 bits, which
the journal and snapshots need."""
SHARES_MAX = 10**12


class AccountSummary(msgspec.Struct, frozen=True):
    """Money in price units. `buying_power` is cash not held by open orders (cash accounts:
    no borrowing); `equity` is cash plus positions at market."""

    account: str
    kind: AccountKind
    status: AccountStatus
    cash: int
    settled_cash: int
    unsettled_cash: int
    held: int
    buying_power: int
    withdrawable: int
    positions_value: int
    equity: int
    fees: int
    day_trades: int
    pattern_day_trader: bool
    open_orders: int


class PositionView(msgspec.Struct, frozen=True):
    """`cost` is the basis of the shares held (average cost); unrealized P&L is at `mark`."""

    symbol: str
    qty: int
    held: int
    average_cost: int
    cost: int
    mark: int
    market_value: int
    unrealized: int
    realized: int


class RiskState(msgspec.Struct, array_like=True):
    settings: RiskSettings
    ledger: LedgerState
    guards: list[SymbolGuardState]
    market: MarketGuardState


class RiskPipeline:
    """Accounts, holds, limits and guards around the engine's books."""

    def __init__(self, settings: RiskSettings, books: dict[str, OrderBook]) -> None:
        self.books = books
        self.ledger = Ledger(settings.fees)
        self.guards: dict[str, SymbolGuard] = {}
        self.market = MarketGuardState()
        self.settings = settings
        self._calendar: TradingCalendar | None = None
        self._session_second = -1
        self._session_index = -1
        self.fast_path = True
        """False sends every order through `_checked_place` (tests compare the two)."""
        self.configure(settings)
        self._handlers: dict[type[Command], Callable[[Any, int, int, list[Event]], None]] = {
            OpenAccount: self._open_account,
            SetAccountStatus: self._set_account_status,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            DepositShares: self._deposit_shares,
            WithdrawShares: self._withdraw_shares,
            SettleFunds: self._settle_funds,
            HaltTrading: self._halt,
            ResumeTrading: self._resume,
            SetReferencePrice: self._set_reference,
            UpdateMarketIndex: self._update_market_index,
        }

    def configure(self, settings: RiskSettings) -> None:
        self.settings = settings
        self.ledger.set_fees(settings.fees)
        fees = settings.fees
        schedule = (
            None
            if fees.is_free
            else (
                fees.maker_per_share,
                fees.maker_notional_ppm,
                fees.taker_per_share,
                fees.taker_notional_ppm,
            )
        )
        for book in self.books.values():
            book.fees = schedule
        for guard in self.guards.values():
            guard.limits_second = -1  # the price limits follow the new settings
        self._calendar = None

    def add_book(self, book: OrderBook) -> None:
        self.guards[book.symbol] = SymbolGuard(book.symbol)
        self.configure(self.settings)

    @property
    def calendar(self) -> "TradingCalendar":
        if self._calendar is None:  # built on first use: loading the calendar takes ~0.5 s
            from tradingfloor.risk.calendar import calendar_for

            self._calendar = calendar_for(self.settings.calendar)
        return self._calendar

    def handles(self, command: Command) -> bool:
        return type(command) in self._handlers

    def apply(self, command: Command, seq: int, ts: int, out: list[Event]) -> None:
        self._handlers[type(command)](command, seq, ts, out)

    # ------------------------------------------------------------------ orders

    def place(
        self, command: PlaceOrder, book: OrderBook, seq: int, ts: int, out: list[Event]
    ) -> None:
        """Check, hold, match, post: the whole life of a new order within one command.

        A limit order from an active account in a trading symbol takes the fast path, which
        reads the price limits cached per symbol and second; everything else, and every
        reject's precise reason, goes through `_checked_place`. Both give the same result.
        """
        account = self.ledger.accounts.get(command.account)
        guard = self.guards[book.symbol]
        if (
            command.order_type != LIMIT
            or account is None
            or account.status != ACTIVE
            or guard.halt is not None
            or self.market.halt is not None
            or not self.fast_path
            or book.validate(command) is not None
        ):
            self._checked_place(command, account, book, seq, ts, out)
            return
        if guard.limits_second != ts // SECOND_NS:
            self._refresh_limits(book, guard, ts)
        price: int = command.price  # type: ignore[assignment]  # validated
        qty = command.qty
        settings = self.settings
        symbol = book.symbol
        if (
            (price > guard.buy_max if command.side == BUY else price < guard.sell_min)
            or qty > settings.quantity_max
            or qty * price > settings.notional_max
            or account.open_orders.get(symbol, 0) >= settings.open_orders_per_symbol_max
        ):
            self._checked_place(command, account, book, seq, ts, out)
            return
        need = -1
        if command.side == BUY:
            need = self.ledger.buy_hold_amount(qty, price)
            if need > account.settled + account.unsettled - account.held or (
                account.kind != AccountKind.CASH
                and self._day_trade_check(account, need, ts) is not None
            ):
                self._checked_place(command, account, book, seq, ts, out)
                return
        else:
            position = account.positions.get(symbol)
            if position is None or qty > position.qty - position.held:
                self._checked_place(command, account, book, seq, ts, out)
                return
        self.ledger.hold(command.order_id, account, symbol, command.side, qty, price, need)
        start = len(out)
        book.accept(command, seq, ts, out)
        if len(out) != start + 1 or type(out[start]) is not OrderAccepted:
            self.post(out, start, ts)

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

    def _checked_place(
        self,
        command: PlaceOrder,
        account: Account | None,
        book: OrderBook,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """Every check in order, for any order type: the first failing one is the reason."""
        if account is None:
            reason: RejectReason | None = RejectReason.UNKNOWN_ACCOUNT
        elif account.status != ACTIVE and not (
            account.status == AccountStatus.RESTRICTED and command.side != BUY
        ):
            reason = _STATUS_REASON[account.status]
        else:
            reason = book.validate(command)
        hold_price = protection = 0
        if reason is None and account is not None:
            reason = self._halted(book.symbol, seq, ts, out)
            if reason is None:
                reason, hold_price, protection = self._price_checks(command, book, ts)
            if reason is None:
                reason = self._account_checks(command, account, hold_price, ts)
        if reason is not None or account is None:
            out.append(
                OrderRejected(
                    seq,
                    ts,
                    command.order_id,
                    command.account,
                    command.symbol,
                    reason or RejectReason.UNKNOWN_ACCOUNT,
                    command.client_order_id,
                )
            )
            return
        self.ledger.hold(
            command.order_id, account, book.symbol, command.side, command.qty, hold_price
        )
        start = len(out)
        book.accept(command, seq, ts, out, protection or None)
        self.post(out, start, ts)

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
            if position is None or command.qty > position.qty - position.held:
                return RejectReason.INSUFFICIENT_SHARES
            return None
        need = self.ledger.buy_hold_amount(command.qty, hold_price)
        if need > account.buying_power:
            return RejectReason.INSUFFICIENT_BUYING_POWER
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

    def replace(
        self, command: ReplaceOrder, book: OrderBook, seq: int, ts: int, out: list[Event]
    ) -> None:
        """Re-check and re-hold for the new terms, then let the book replace and match."""
        reason = book.validate_replace(command)
        order = book.order_view(command.order_id)
        hold = self.ledger.holds.get(command.order_id)
        if reason is None and order is not None and hold is not None:
            account = hold.account
            if account.status != ACTIVE and not (
                account.status == AccountStatus.RESTRICTED and order.side != BUY
            ):
                reason = _STATUS_REASON[account.status]
            else:
                reason = self._halted(book.symbol, seq, ts, out)
        if reason is not None or order is None or hold is None:
            asking = command.account or (order.account if order is not None else "")
            out.append(
                ReplaceRejected(
                    seq,
                    ts,
                    command.order_id,
                    command.new_order_id,
                    book.symbol,
                    reason or RejectReason.UNKNOWN_ORDER,
                    asking,
                )
            )
            return
        qty = order.qty if command.qty is None else command.qty
        leaves = qty - order.filled
        as_placed = PlaceOrder(
            command.new_order_id,
            order.account,
            book.symbol,
            order.side,
            order.order_type,
            qty,
            order.price if command.price is None else command.price,
            order.stop_price if command.stop_price is None else command.stop_price,
            order.tif,
            order.trail_price,
            order.trail_bps,
        )
        reason, hold_price, protection = self._price_checks(as_placed, book, ts)
        if order.order_type == TRAILING_STOP:  # its hold and protection stay as placed
            hold_price, protection = hold.price, 0
        if reason is None:
            reason = self._replace_funds(hold.account, order.side, hold, leaves, hold_price)
        if reason is not None:
            out.append(
                ReplaceRejected(
                    seq,
                    ts,
                    command.order_id,
                    command.new_order_id,
                    book.symbol,
                    reason,
                    command.account or order.account,
                )
            )
            return
        self.ledger.rekey(command.order_id, command.new_order_id, leaves, hold_price)
        start = len(out)
        book.replace(command, seq, ts, out, protection or None)
        self.post(out, start, ts)

    def _replace_funds(
        self, account: Account, side: Side, hold: Any, leaves: int, hold_price: int
    ) -> RejectReason | None:
        if side == BUY:
            more = self.ledger.buy_hold_amount(leaves, hold_price) - hold.amount
            if more > account.buying_power:
                return RejectReason.INSUFFICIENT_BUYING_POWER
            return None
        position = hold.position
        if leaves - hold.amount > position.qty - position.held:
            return RejectReason.INSUFFICIENT_SHARES
        return None

    # ------------------------------------------------------------------ posting

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

    # ------------------------------------------------------------------ halts

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

    # ------------------------------------------------------------------ accounts and cash

    def _reject(
        self,
        command: Command,
        subject: str,
        reason: RejectReason,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        out.append(CommandRejected(seq, ts, type(command).__name__, subject, reason))

    def _account(self, command: Any, seq: int, ts: int, out: list[Event]) -> Account | None:
        """The account a command names, or None after emitting why it cannot be used."""
        account = self.ledger.accounts.get(command.account)
        if account is None:
            self._reject(command, command.account, RejectReason.UNKNOWN_ACCOUNT, seq, ts, out)
        return account

    def _open_account(self, command: OpenAccount, seq: int, ts: int, out: list[Event]) -> None:
        if not command.account or type(command.account) is not str:
            self._reject(command, command.account, RejectReason.UNKNOWN_ACCOUNT, seq, ts, out)
        elif command.account in self.ledger.accounts:
            self._reject(command, command.account, RejectReason.ACCOUNT_EXISTS, seq, ts, out)
        else:
            self.ledger.accounts[command.account] = Account(command.account, command.kind)
            out.append(AccountOpened(seq, ts, command.account, command.kind))

    def _set_account_status(
        self, command: SetAccountStatus, seq: int, ts: int, out: list[Event]
    ) -> None:
        """`BLOCKED` (the kill switch) and `CLOSED` cancel every open order of the account."""
        account = self._account(command, seq, ts, out)
        if account is None:
            return
        account.status = command.status
        out.append(AccountStatusChanged(seq, ts, account.account_id, command.status))
        if command.status in (AccountStatus.BLOCKED, AccountStatus.CLOSED):
            reason = (
                CancelReason.KILL_SWITCH
                if command.status == AccountStatus.BLOCKED
                else CancelReason.ADMIN
            )
            for hold in list(self.ledger.holds_of(account.account_id)):
                start = len(out)
                self.books[hold.symbol].cancel(hold.order_id, "", seq, ts, out, reason)
                self.post(out, start, ts)

    def _deposit(self, command: Deposit, seq: int, ts: int, out: list[Event]) -> None:
        account = self._account(command, seq, ts, out)
        if account is None:
            return
        if type(command.amount) is not int or not 0 < command.amount <= AMOUNT_MAX:
            self._reject(command, account.account_id, RejectReason.INVALID_AMOUNT, seq, ts, out)
        elif account.status == AccountStatus.CLOSED:
            self._reject(command, account.account_id, RejectReason.ACCOUNT_CLOSED, seq, ts, out)
        else:
            account.settled += command.amount
            account.deposited += command.amount
            out.append(FundsDeposited(seq, ts, account.account_id, command.amount))

    def _withdraw(self, command: Withdraw, seq: int, ts: int, out: list[Event]) -> None:
        account = self._account(command, seq, ts, out)
        if account is None:
            return
        if type(command.amount) is not int or not 0 < command.amount <= AMOUNT_MAX:
            self._reject(command, account.account_id, RejectReason.INVALID_AMOUNT, seq, ts, out)
        elif command.amount > account.withdrawable():
            self._reject(
                command, account.account_id, RejectReason.INSUFFICIENT_FUNDS, seq, ts, out
            )
        else:
            account.settled -= command.amount
            account.withdrawn += command.amount
            out.append(FundsWithdrawn(seq, ts, account.account_id, command.amount))

    def _deposit_shares(self, command: DepositShares, seq: int, ts: int, out: list[Event]) -> None:
        account = self._account(command, seq, ts, out)
        if account is None:
            return
        reason = None
        if command.symbol not in self.books:
            reason = RejectReason.UNKNOWN_SYMBOL
        elif type(command.qty) is not int or not 0 < command.qty <= SHARES_MAX:
            reason = RejectReason.INVALID_QUANTITY
        elif type(command.cost_price) is not int or not 0 <= command.cost_price <= AMOUNT_MAX:
            reason = RejectReason.INVALID_PRICE
        elif account.status == AccountStatus.CLOSED:
            reason = RejectReason.ACCOUNT_CLOSED
        if reason is not None:
            self._reject(command, account.account_id, reason, seq, ts, out)
            return
        position = account.position(command.symbol)
        position.qty += command.qty
        position.cost += command.qty * command.cost_price
        shares_in = self.ledger.shares_in
        shares_in[command.symbol] = shares_in.get(command.symbol, 0) + command.qty
        out.append(
            SharesDeposited(
                seq, ts, account.account_id, command.symbol, command.qty, command.cost_price
            )
        )

    def _withdraw_shares(
        self, command: WithdrawShares, seq: int, ts: int, out: list[Event]
    ) -> None:
        account = self._account(command, seq, ts, out)
        if account is None:
            return
        position = account.positions.get(command.symbol)
        if type(command.qty) is not int or command.qty <= 0:
            reason: RejectReason | None = RejectReason.INVALID_QUANTITY
        elif position is None or command.qty > position.qty - position.held:
            reason = RejectReason.INSUFFICIENT_SHARES
        else:
            reason = None
        if reason is not None or position is None:
            self._reject(
                command,
                account.account_id,
                reason or RejectReason.INSUFFICIENT_SHARES,
                seq,
                ts,
                out,
            )
            return
        qty = command.qty
        cost = position.cost if qty == position.qty else position.cost * qty // position.qty
        position.qty -= qty
        position.cost -= cost
        self.ledger.shares_in[command.symbol] -= qty
        out.append(SharesWithdrawn(seq, ts, account.account_id, command.symbol, qty, cost))

    def _settle_funds(self, command: SettleFunds, seq: int, ts: int, out: list[Event]) -> None:
        """Trades of session s settle at session s + N: move their net into settled cash."""
        due = self.calendar.session_index(ts) - self.settings.settlement_sessions
        for account_id in sorted(self.ledger.accounts):
            account = self.ledger.accounts[account_id]
            sessions = [session for session in account.pending if session <= due]
            if not sessions:
                continue
            amount = sum(account.pending.pop(session) for session in sessions)
            account.unsettled -= amount
            account.settled += amount
            out.append(FundsSettled(seq, ts, account_id, amount))

    # ------------------------------------------------------------------ halts by command

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

    # ------------------------------------------------------------------ reads

    def mark_price(self, symbol: str, position_cost: int = 0, qty: int = 0) -> int:
        """The price positions are valued at: last trade, else reference, else average cost."""
        book = self.books.get(symbol)
        if book is not None and book.last_price is not None:
            return book.last_price
        guard = self.guards.get(symbol)
        if guard is not None and guard.reference is not None:
            return guard.reference
        return position_cost // qty if qty else 0

    def market_value(self, account: Account) -> int:
        return sum(
            position.qty * self.mark_price(symbol, position.cost, position.qty)
            for symbol, position in account.positions.items()
            if position.qty
        )

    def equity(self, account: Account) -> int:
        return account.cash + self.market_value(account)

    def summary(self, account_id: str, ts: int) -> "AccountSummary | None":
        """The account as a client sees it at `ts` (for the day-trade count's window)."""
        account = self.ledger.accounts.get(account_id)
        if account is None:
            return None
        value = self.market_value(account)
        settings = self.settings
        day_trades = account.day_trade_count(
            self.calendar.session_index(ts), settings.day_trade_window_sessions
        )
        equity = account.cash + value
        return AccountSummary(
            account_id,
            account.kind,
            account.status,
            account.cash,
            account.settled,
            account.unsettled,
            account.held,
            account.buying_power,
            account.withdrawable(),
            value,
            equity,
            account.fees,
            day_trades,
            account.kind == AccountKind.MARGIN and day_trades >= settings.pattern_day_trades_min,
            sum(account.open_orders.values()),
        )

    def positions(self, account_id: str) -> list["PositionView"]:
        """Open positions (and closed ones with realized P&L), by symbol."""
        account = self.ledger.accounts.get(account_id)
        if account is None:
            return []
        views = []
        for symbol in sorted(account.positions):
            position = account.positions[symbol]
            if not (position.qty or position.realized):
                continue
            mark = self.mark_price(symbol, position.cost, position.qty)
            value = position.qty * mark
            views.append(
                PositionView(
                    symbol,
                    position.qty,
                    position.held,
                    position.average_cost(),
                    position.cost,
                    mark,
                    value,
                    value - position.cost,
                    position.realized,
                )
            )
        return views

    # ------------------------------------------------------------------ snapshots

    def export_state(self) -> RiskState:
        return RiskState(
            self.settings,
            self.ledger.export_state(),
            [self.guards[symbol].export_state() for symbol in sorted(self.guards)],
            msgspec.structs.replace(self.market),
        )

    @classmethod
    def from_state(cls, state: RiskState, books: dict[str, OrderBook]) -> "RiskPipeline":
        pipeline = cls(state.settings, books)
        pipeline.ledger = Ledger.from_state(state.ledger, state.settings.fees)
        pipeline.guards = {g.symbol: SymbolGuard.from_state(g) for g in state.guards}
        pipeline.market = msgspec.structs.replace(state.market)
        return pipeline


_STATUS_REASON = {
    AccountStatus.RESTRICTED: RejectReason.ACCOUNT_RESTRICTED,
    AccountStatus.BLOCKED: RejectReason.ACCOUNT_BLOCKED,
    AccountStatus.CLOSED: RejectReason.ACCOUNT_CLOSED,
}
