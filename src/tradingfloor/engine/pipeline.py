"""Risk, matching and ledger in one deterministic step: hold -> match -> post and release.

`RiskPipeline` wraps the order books when the engine keeps accounts. A new order is checked
(account, halts, limits, collar, LULD band, buying power or shares, the day-trade rule), its
worst-case cost is held, the book matches it, and the book's events post to the ledger: fills
move cash and shares, cancels, expiries and rejects release holds. Trades feed the circuit
breakers. Everything is a function of the commands and their timestamps.

Its parts, one module each: `risk_context` (the state they share), `order_checks`, `halts`,
`posting` (events to the ledger), `account_commands`, `account_views`, `settlement_commands`
(T+N), `good_faith` and `breaks`. This module keeps the order commands (place, replace), the
dispatch of the others, and the snapshot.
"""

from collections.abc import Callable
from typing import Any

import msgspec

from tradingfloor.domain.commands import (
    AllocateCashIn,
    AllocateCashOut,
    AnnounceCorporateAction,
    Command,
    Deposit,
    DepositShares,
    HaltTrading,
    OpenAccount,
    PlaceOrder,
    RecordBreak,
    ReplaceOrder,
    ResolveBreak,
    ResumeTrading,
    SetAccountStatus,
    SetReferencePrice,
    SettleFunds,
    UpdateMarketIndex,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.enums import AccountKind, AccountStatus, OrderType, Side
from tradingfloor.domain.events import Event, OrderAccepted, ReplaceRejected
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.rejections import order_rejected
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine.account_commands import AccountCommands
from tradingfloor.engine.account_views import AccountSummary, PositionView
from tradingfloor.engine.breaks import BreakCommands, Breaks, BreaksState
from tradingfloor.engine.corporate_actions import CorporateActions, CorporateActionsState
from tradingfloor.engine.good_faith import settled_cash_refusal
from tradingfloor.engine.order_checks import OrderChecks
from tradingfloor.engine.settlement_commands import SettlementCommands
from tradingfloor.ledger import Account, Ledger
from tradingfloor.ledger.ledger import LedgerState
from tradingfloor.matching.book import OrderBook
from tradingfloor.risk.guards import SECOND_NS, MarketGuardState, SymbolGuard, SymbolGuardState

__all__ = ["AccountSummary", "PositionView", "RiskPipeline", "RiskState"]

BUY = Side.BUY
LIMIT = OrderType.LIMIT
TRAILING_STOP = OrderType.TRAILING_STOP
ACTIVE = AccountStatus.ACTIVE


class RiskState(msgspec.Struct, array_like=True):
    settings: RiskSettings
    ledger: LedgerState
    guards: list[SymbolGuardState]
    market: MarketGuardState
    settled_through: int = -1
    """The newest trade session `SettleDay` settled (-1: none)."""
    last_settled: int = -1
    """The newest settlement date (session index) `SettleDay` settled (-1: none)."""
    breaks: BreaksState | None = None
    """Open breaks and resolved ids (None: a state written before breaks existed)."""
    corporate_actions: CorporateActionsState | None = None
    """None when no corporate action was ever announced; a state written before corporate
    actions existed decodes with None."""


class RiskPipeline(AccountCommands, OrderChecks, SettlementCommands, BreakCommands):
    """Accounts, holds, limits and guards around the engine's books."""

    def __init__(self, settings: RiskSettings, books: dict[str, OrderBook]) -> None:
        super().__init__(settings, books)
        self.breaks = Breaks()
        self.fast_path = True
        """False sends every order through `_checked_place` (tests compare the two)."""
        self.configure(settings)
        self.corporate_actions = CorporateActions(self)
        self._handlers: dict[type[Command], Callable[[Any, int, int, list[Event]], None]] = {
            OpenAccount: self._open_account,
            SetAccountStatus: self._set_account_status,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            AllocateCashOut: self._allocate_out,
            AllocateCashIn: self._allocate_in,
            DepositShares: self._deposit_shares,
            WithdrawShares: self._withdraw_shares,
            SettleFunds: self._settle_funds,
            HaltTrading: self._halt,
            ResumeTrading: self._resume,
            SetReferencePrice: self._set_reference,
            UpdateMarketIndex: self._update_market_index,
            AnnounceCorporateAction: self._announce_corporate_action,
            RecordBreak: self._record_break,
            ResolveBreak: self._resolve_break,
        }

    def configure(self, settings: RiskSettings) -> None:
        self.settings = settings
        self.ledger.set_fees(settings.fees)
        self.ledger.settlement_sessions = settings.settlement_sessions
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

    def handles(self, command: Command) -> bool:
        return type(command) in self._handlers

    def apply(self, command: Command, seq: int, ts: int, out: list[Event]) -> None:
        self._handlers[type(command)](command, seq, ts, out)

    def _announce_corporate_action(
        self, command: AnnounceCorporateAction, seq: int, ts: int, out: list[Event]
    ) -> None:
        self.corporate_actions.announce(command, seq, ts, out)

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
            if (
                need > account.settled + account.unsettled - account.held
                or account.restricted_until >= 0
                or (
                    account.kind != AccountKind.CASH
                    and self._day_trade_check(account, need, ts) is not None
                )
            ):
                self._checked_place(command, account, book, seq, ts, out)
                return
        else:
            position = account.positions.get(symbol)
            if position is None or qty > position.qty - position.held or position.fraction_held:
                self._checked_place(command, account, book, seq, ts, out)
                return
        self.ledger.hold(command.order_id, account, symbol, command.side, qty, price, need)
        start = len(out)
        book.accept(command, seq, ts, out)
        if len(out) != start + 1 or type(out[start]) is not OrderAccepted:
            self.post(out, start, ts)

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
            reason = STATUS_REASON[account.status]
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
            reason = reason or RejectReason.UNKNOWN_ACCOUNT
            out.append(order_rejected(command, seq, ts, command.order_id, command.symbol, reason))
            return
        self.ledger.hold(
            command.order_id, account, book.symbol, command.side, command.qty, hold_price
        )
        start = len(out)
        book.accept(command, seq, ts, out, protection or None)
        self.post(out, start, ts)

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
                reason = STATUS_REASON[account.status]
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
            order.tif if command.tif is None else command.tif,
            order.trail_price if command.trail_price is None else command.trail_price,
            order.trail_bps if command.trail_bps is None else command.trail_bps,
        )
        reason, hold_price, protection = self._price_checks(as_placed, book, ts)
        if order.order_type == TRAILING_STOP:  # its hold and protection stay as placed
            hold_price, protection = hold.price, 0
        if reason is None:
            reason = self._replace_funds(hold.account, order.side, hold, leaves, hold_price)
        if reason is None and order.side == BUY and hold.account.restricted_until >= 0:
            more = self.ledger.buy_hold_amount(leaves, hold_price) - hold.amount
            reason = settled_cash_refusal(hold.account, more, self._session(ts))
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

    # ------------------------------------------------------------------ snapshots

    def export_state(self) -> RiskState:
        return RiskState(
            self.settings,
            self.ledger.export_state(),
            [self.guards[symbol].export_state() for symbol in sorted(self.guards)],
            msgspec.structs.replace(self.market),
            self.settled_through,
            self.last_settled,
            self.breaks.export_state(),
            None if self.corporate_actions.is_empty() else self.corporate_actions.export_state(),
        )

    @classmethod
    def from_state(cls, state: RiskState, books: dict[str, OrderBook]) -> "RiskPipeline":
        pipeline = cls(state.settings, books)
        pipeline.ledger = Ledger.from_state(state.ledger, state.settings.fees)
        pipeline.guards = {g.symbol: SymbolGuard.from_state(g) for g in state.guards}
        pipeline.market = msgspec.structs.replace(state.market)
        pipeline.settled_through = state.settled_through
        pipeline.last_settled = state.last_settled
        pipeline.breaks = Breaks(state.breaks)
        if state.corporate_actions is not None:
            pipeline.corporate_actions = CorporateActions.from_state(
                pipeline, state.corporate_actions
            )
        return pipeline


STATUS_REASON = {
    AccountStatus.RESTRICTED: RejectReason.ACCOUNT_RESTRICTED,
    AccountStatus.BLOCKED: RejectReason.ACCOUNT_BLOCKED,
    AccountStatus.CLOSED: RejectReason.ACCOUNT_CLOSED,
    AccountStatus.SUSPENDED: RejectReason.ACCOUNT_SUSPENDED,
}
"""Why an account that is not active may not place an order (a restricted one may sell)."""
