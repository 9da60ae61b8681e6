"""Corporate actions as the engine applies them: announced, then applied at the end of day.

`AnnounceCorporateAction` records a split, cash dividend or symbol change
(`domain.corporate_actions`, whose docstring gives the rules) once its terms check out. The
end-of-day commands then call this component: `at_close(D)` when trading day D closes
applies what takes effect at session D + 1 (splits at their ex-date, symbol changes at
their effective date, and dividends' entitlement and order adjustment for an ex-date of
D + 1), and `at_settlement(S)` when settlement date S is settled pays the dividends payable
by S. An action due at a session that is already past when its close comes (a CloseDay
skipped over it) is applied at the first close that sees it, never lost.

Cash in lieu and dividends are paid from the issuer's ledger account `@corporate_actions`
(`cash_paid` counts it all), new shares of a split come from it and the shares a reverse
split takes go back to it, so cash and shares stay conserved (`engine/check.py`).

The splits are in `engine/splits.py`, the symbol change in `engine/symbol_change.py`; the
live orders' new terms come from `matching/adjustments.py`.
"""

from typing import TYPE_CHECKING

import msgspec

from tradingfloor.domain.commands import AnnounceCorporateAction
from tradingfloor.domain.corporate_actions import (
    CashDividend,
    CorporateAction,
    StockSplit,
    SymbolChange,
)
from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import (
    CorporateActionAnnounced,
    DividendEntitled,
    DividendPaid,
    Event,
)
from tradingfloor.domain.fractions import fraction_value
from tradingfloor.domain.ids import is_symbol
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine import splits, symbol_change
from tradingfloor.matching.adjustments import dividend_terms

if TYPE_CHECKING:
    from tradingfloor.engine.risk_context import RiskContext

BUY = Side.BUY

corporate_actions_pending_max = 10_000
"""Announced actions not applied yet, at most: the next one is refused as invalid."""
split_ratio_max = 10_000
"""The largest number of shares either side of a split's ratio (1-for-10,000 at most)."""
dividend_per_share_max = 100_000_000
"""$10,000 per share, in price units: far above any real dividend, far below an overflow."""


class Entitlement(msgspec.Struct, array_like=True):
    """A dividend owed to one account, fixed at the close before the ex-date."""

    action_id: str
    account: str
    symbol: str
    qty: int
    amount: int
    pay_date: str


class CorporateActionsState(msgspec.Struct, array_like=True):
    """The component in canonical order, for snapshots and the state hash."""

    pending: list[CorporateAction]
    """Announced, not applied yet, in the order announced."""
    done: list[str]
    """Ids of the actions applied (a dividend once its entitlement is fixed), sorted."""
    entitlements: list[Entitlement]
    """Dividends entitled and not paid yet, in the order entitled."""
    cash_paid: int
    """Cash paid from the issuer's account: dividends and cash in lieu."""


class CorporateActions:
    """Announced corporate actions, dividends owed, and the cash the issuer has paid."""

    def __init__(self, risk: "RiskContext") -> None:
        self._risk = risk
        self.pending: list[CorporateAction] = []
        self.done: set[str] = set()
        self.entitlements: list[Entitlement] = []
        self.cash_paid = 0

    # ------------------------------------------------------------------ announce

    def announce(
        self, command: AnnounceCorporateAction, seq: int, ts: int, out: list[Event]
    ) -> None:
        action = command.action
        subject = str(getattr(action, "symbol", ""))
        action_id = getattr(action, "action_id", None)
        if action_id in self.done or any(a.action_id == action_id for a in self.pending):
            reason: RejectReason | None = RejectReason.CORPORATE_ACTION_EXISTS
        else:
            reason = self._problem(action, ts)
        if reason is not None:
            self._risk._reject(command, subject, reason, seq, ts, out)
            return
        self.pending.append(action)
        out.append(CorporateActionAnnounced(seq, ts, action))

    def _problem(self, action: CorporateAction, ts: int) -> RejectReason | None:
        """INVALID_CORPORATE_ACTION unless the terms can be applied (see the module)."""
        invalid = RejectReason.INVALID_CORPORATE_ACTION
        if (
            not isinstance(action, StockSplit | CashDividend | SymbolChange)
            or type(action.action_id) is not str
            or not action.action_id
            or action.symbol not in self._risk.books
            or len(self.pending) >= corporate_actions_pending_max
        ):
            return invalid
        calendar = self._risk.calendar
        try:
            if isinstance(action, StockSplit):
                effective = calendar.session_of_date(action.ex_date)
            elif isinstance(action, SymbolChange):
                effective = calendar.session_of_date(action.effective_date)
            else:
                record = calendar.session_of_date(action.record_date)
                if calendar.session_of_date(action.pay_date) < record:
                    return invalid
                effective = self.ex_index(action)
            now = calendar.session_index(ts)
        except (TypeError, ValueError):
            return invalid
        if effective <= now or not self._terms_usable(action):
            return invalid
        return None

    def _terms_usable(self, action: CorporateAction) -> bool:
        if isinstance(action, StockSplit):
            ratio = (action.old_shares, action.new_shares)
            price = action.cash_in_lieu_price
            return (
                all(_whole(n) and 0 < n <= split_ratio_max for n in ratio)
                and ratio[0] != ratio[1]
                and (price is None or (_whole(price) and price > 0))
            )
        if isinstance(action, CashDividend):
            amount = action.amount_per_share
            return _whole(amount) and 0 < amount <= dividend_per_share_max
        new = action.new_symbol
        return (
            type(new) is str
            and is_symbol(new)
            and new != action.symbol
            and new not in self._risk.books
            and not self.reserves(new)
        )

    def ex_index(self, dividend: CashDividend) -> int:
        """The ex-date's session: the first on which a buyer no longer settles by the record
        date, the record date minus (N - 1) sessions under T+N."""
        record = self._risk.calendar.session_of_date(dividend.record_date)
        return record - (self._risk.settings.settlement_sessions - 1)

    def effective_index(self, action: CorporateAction) -> int:
        """The session an action takes effect in (a dividend's: its ex-date)."""
        calendar = self._risk.calendar
        if isinstance(action, StockSplit):
            return calendar.session_of_date(action.ex_date)
        if isinstance(action, SymbolChange):
            return calendar.session_of_date(action.effective_date)
        return self.ex_index(action)

    # ------------------------------------------------------------------ end of day

    def symbols_acting(self, closed_index: int) -> set[str]:
        """The symbols with an action `at_close(closed_index)` applies."""
        return {a.symbol for a in self.pending if self.effective_index(a) <= closed_index + 1}

    def at_close(self, closed_index: int, seq: int, ts: int, out: list[Event]) -> None:
        """Trading day `closed_index` closed: apply, in the order announced, every action
        that takes effect at session `closed_index + 1` (or before, if not applied yet)."""
        while True:  # one at a time: a symbol change renames the actions after it
            action = next(
                (a for a in self.pending if self.effective_index(a) <= closed_index + 1), None
            )
            if action is None:
                return
            self.pending.remove(action)
            self.done.add(action.action_id)
            if action.symbol not in self._risk.books:
                continue  # never so: a symbol that moves away takes its actions along
            if isinstance(action, StockSplit):
                self.cash_paid += splits.apply_split(self._risk, action, seq, ts, out)
            elif isinstance(action, SymbolChange):
                symbol_change.apply(self._risk, action, self, seq, ts, out)
            else:
                self._entitle(action, seq, ts, out)

    def at_settlement(self, settle_index: int, seq: int, ts: int, out: list[Event]) -> None:
        """Settlement date `settle_index` settled: pay every dividend payable by then, into
        settled cash, from the issuer's account."""
        calendar = self._risk.calendar
        accounts = self._risk.ledger.accounts
        still = []
        for owed in self.entitlements:
            if calendar.session_of_date(owed.pay_date) > settle_index:
                still.append(owed)
                continue
            account = accounts[owed.account]
            account.settled += owed.amount
            self.cash_paid += owed.amount
            out.append(
                DividendPaid(seq, ts, owed.action_id, owed.account, owed.symbol, owed.amount)
            )
        self.entitlements = still

    def _entitle(self, dividend: CashDividend, seq: int, ts: int, out: list[Event]) -> None:
        """Fix who is paid (every position at this close settles by the record date), then
        lower the open buy limits and sell stops by the dividend."""
        risk = self._risk
        symbol = dividend.symbol
        accounts = risk.ledger.accounts
        for account_id in sorted(accounts):
            position = accounts[account_id].positions.get(symbol)
            if position is None or (position.qty <= 0 and not position.fraction):
                continue
            amount = position.qty * dividend.amount_per_share
            if position.fraction:  # its share of a share's dividend, rounded as a fill
                amount += fraction_value(position.fraction, dividend.amount_per_share)
            self.entitlements.append(
                Entitlement(
                    dividend.action_id, account_id, symbol, position.qty, amount, dividend.pay_date
                )
            )
            out.append(
                DividendEntitled(
                    seq, ts, dividend.action_id, account_id, symbol, position.qty, amount
                )
            )
        book = risk.books[symbol]
        changes = {}
        hold_prices = {}
        for order in book.live_orders():
            terms = dividend_terms(order, book.instrument, dividend.amount_per_share)
            if terms is None:
                continue
            if (terms.price is not None and terms.price <= 0) or (
                terms.stop_price is not None and terms.stop_price <= 0
            ):
                splits.cancel(risk, book, order.order_id, seq, ts, out)
                continue
            changes[order.order_id] = terms
            if order.side == BUY and terms.price is not None:
                hold_prices[order.order_id] = terms.price  # a buy limit holds at its limit
        splits.adjust_orders(risk, book, changes, dividend.action_id, seq, ts, out, hold_prices)
        guard = risk.guards.get(symbol)
        if guard is not None and guard.reference is not None:
            guard.set_reference(max(guard.reference - dividend.amount_per_share, 1))

    def reserves(self, symbol: str) -> bool:
        """Whether a pending symbol change will take `symbol` (no listing may take it)."""
        return any(
            isinstance(action, SymbolChange) and action.new_symbol == symbol
            for action in self.pending
        )

    def rename(self, symbol: str, new_symbol: str) -> None:
        """A symbol change: the pending actions and dividends owed follow the new symbol."""
        self.pending = [
            msgspec.structs.replace(a, symbol=new_symbol) if a.symbol == symbol else a
            for a in self.pending
        ]
        for owed in self.entitlements:
            if owed.symbol == symbol:
                owed.symbol = new_symbol

    def take_out(self, symbol: str) -> CorporateActionsState | None:
        """The symbol leaves this shard (`HandOverSymbol`): its pending actions and unpaid
        dividends leave with it (None: it has none). Their ids stay used here."""
        pending = [a for a in self.pending if a.symbol == symbol]
        owed = [e for e in self.entitlements if e.symbol == symbol]
        if not pending and not owed:
            return None
        self.pending = [a for a in self.pending if a.symbol != symbol]
        self.entitlements = [e for e in self.entitlements if e.symbol != symbol]
        self.done.update(a.action_id for a in pending)
        return CorporateActionsState(pending, [], owed, 0)

    def take_in(self, state: CorporateActionsState) -> None:
        """A symbol arrives (`TakeOverSymbol`) with its pending actions and unpaid dividends."""
        self.pending.extend(state.pending)
        self.entitlements.extend(msgspec.structs.replace(owed) for owed in state.entitlements)

    # ------------------------------------------------------------------ snapshots

    def export_state(self) -> CorporateActionsState:
        return CorporateActionsState(
            list(self.pending),
            sorted(self.done),
            [msgspec.structs.replace(owed) for owed in self.entitlements],
            self.cash_paid,
        )

    @classmethod
    def from_state(cls, risk: "RiskContext", state: CorporateActionsState) -> "CorporateActions":
        actions = cls(risk)
        actions.pending = list(state.pending)
        actions.done = set(state.done)
        actions.entitlements = [msgspec.structs.replace(owed) for owed in state.entitlements]
        actions.cash_paid = state.cash_paid
        return actions

    def is_empty(self) -> bool:
        """Nothing ever announced: the snapshot leaves the component out."""
        return not (self.pending or self.done or self.entitlements or self.cash_paid)


def _whole(value: object) -> bool:
    return type(value) is int
