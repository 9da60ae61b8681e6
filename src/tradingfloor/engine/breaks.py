"""Reconciliation breaks kept by the engine: `RecordBreak` opens one, `ResolveBreak` closes it
with an optional adjustment of the break's account.

A break id is derived from what was compared, so recording the same difference again is
refused (`BREAK_EXISTS`), whether the first is open or resolved: a settlement run repeated
after a crash records nothing twice. Open breaks are bounded (`open_breaks_max`, refused
beyond it with `OPEN_BREAKS_ABOVE_MAX`); the ids of resolved ones are remembered, the newest
`RESOLVED_BREAKS_KEPT_MAX` of them (older ones are then unknown).

An adjustment moves settled cash, and settled shares of the break's symbol, between the
account and the platform's `@adjustments` ledger account. Added shares come in at the
position's average cost (a correction leaves the average unchanged). A negative adjustment
is a withdrawal: it may take no more than the account could withdraw (settled and free of
open orders and unsettled purchases), else `INSUFFICIENT_FUNDS` / `INSUFFICIENT_SHARES`.
So settled balances never go negative, adjusted or not: take money or shares back only
once the account has them.
"""

from collections import deque

import msgspec

from tradingfloor.domain.commands import RecordBreak, ResolveBreak
from tradingfloor.domain.events import BreakOpened, BreakResolved, Event
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.account_commands import AMOUNT_MAX, SHARES_MAX
from tradingfloor.engine.risk_context import RiskContext
from tradingfloor.ledger.good_faith import trim_lots

RESOLVED_BREAKS_KEPT_MAX = 100_000
"""Resolved break ids remembered (refusing a repeated `RecordBreak`), newest kept."""


class OpenBreak(msgspec.Struct, array_like=True, frozen=True):
    break_id: str
    account: str
    symbol: str


class BreaksState(msgspec.Struct, array_like=True):
    """Open breaks by id; resolved ids, oldest first."""

    open: list[OpenBreak] = msgspec.field(default_factory=list)
    resolved: list[str] = msgspec.field(default_factory=list)


class Breaks:
    def __init__(self, state: BreaksState | None = None) -> None:
        state = state or BreaksState()
        self.open = {entry.break_id: entry for entry in state.open}
        self.resolved: deque[str] = deque(state.resolved)
        self.resolved_ids = set(state.resolved)

    def export_state(self) -> BreaksState:
        return BreaksState([self.open[key] for key in sorted(self.open)], list(self.resolved))

    def resolve(self, break_id: str) -> None:
        del self.open[break_id]
        self.resolved.append(break_id)
        self.resolved_ids.add(break_id)
        if len(self.resolved) > RESOLVED_BREAKS_KEPT_MAX:
            self.resolved_ids.discard(self.resolved.popleft())


class BreakCommands(RiskContext):
    """The break side of `RiskPipeline`."""

    breaks: Breaks

    def _record_break(self, command: RecordBreak, seq: int, ts: int, out: list[Event]) -> None:
        breaks = self.breaks
        break_id = command.break_id
        reason = None
        if type(break_id) is not str or not break_id:
            reason = RejectReason.UNKNOWN_BREAK
        elif break_id in breaks.open or break_id in breaks.resolved_ids:
            reason = RejectReason.BREAK_EXISTS
        elif len(breaks.open) >= self.settings.open_breaks_max:
            reason = RejectReason.OPEN_BREAKS_ABOVE_MAX
        if reason is not None:
            self._reject(command, str(break_id), reason, seq, ts, out)
            return
        breaks.open[break_id] = OpenBreak(break_id, command.account, command.symbol)
        out.append(
            BreakOpened(
                seq,
                ts,
                break_id,
                command.date,
                command.kind,
                command.account,
                command.symbol,
                command.platform_qty,
                command.other_qty,
                command.platform_cash,
                command.other_cash,
                command.detail,
            )
        )

    def _resolve_break(self, command: ResolveBreak, seq: int, ts: int, out: list[Event]) -> None:
        reason = self._resolve_refusal(command)
        if reason is not None:
            self._reject(command, str(command.break_id), reason, seq, ts, out)
            return
        entry = self.breaks.open[command.break_id]
        cash, shares = command.cash_adjustment, command.shares_adjustment
        if cash or shares:
            account = self.ledger.accounts[entry.account]
            account.settled += cash
            account.adjusted += cash
            if shares:
                position = account.position(entry.symbol)
                per_share = position.average_cost()
                if shares > 0:
                    position.cost += shares * per_share
                else:
                    taken = -shares
                    removed = (
                        position.cost
                        if taken == position.qty
                        else position.cost * taken // position.qty
                    )
                    position.cost -= removed
                position.qty += shares
                trim_lots(position)
                adjusted = self.ledger.shares_adjusted
                adjusted[entry.symbol] = adjusted.get(entry.symbol, 0) + shares
        self.breaks.resolve(command.break_id)
        out.append(
            BreakResolved(
                seq,
                ts,
                command.break_id,
                command.resolved_by,
                command.reason,
                entry.account,
                entry.symbol,
                cash,
                shares,
            )
        )

    def _resolve_refusal(self, command: ResolveBreak) -> RejectReason | None:
        breaks = self.breaks
        entry = breaks.open.get(command.break_id)
        if entry is None:
            if command.break_id in breaks.resolved_ids:
                return RejectReason.BREAK_RESOLVED
            return RejectReason.UNKNOWN_BREAK
        if (command.account, command.symbol) != (entry.account, entry.symbol):
            return RejectReason.ACCOUNT_MISMATCH
        cash, shares = command.cash_adjustment, command.shares_adjustment
        if type(cash) is not int or not -AMOUNT_MAX <= cash <= AMOUNT_MAX:
            return RejectReason.INVALID_AMOUNT
        if type(shares) is not int or not -SHARES_MAX <= shares <= SHARES_MAX:
            return RejectReason.INVALID_QUANTITY
        if not (cash or shares):
            return None
        account = self.ledger.accounts.get(entry.account)
        if account is None:
            return RejectReason.UNKNOWN_ACCOUNT
        if shares and entry.symbol not in self.books:
            return RejectReason.UNKNOWN_SYMBOL
        if cash < 0 and -cash > account.withdrawable():
            return RejectReason.INSUFFICIENT_FUNDS
        position = account.positions.get(entry.symbol)
        if shares < 0 and (position is None or -shares > position.withdrawable()):
            return RejectReason.INSUFFICIENT_SHARES
        return None
