"""Settlement with accounts: `SettleDay` (and the older `SettleFunds`) move each due trade
session's net cash and shares from unsettled to settled; `CloseDay`'s account side lifts the
good-faith restrictions that ended.

Per account, in account order: `FundsSettled` (the net cash, as before: also when it nets to
zero), then `SharesSettled` per symbol in symbol order (nonzero nets only). `SettleDay` then
closes with `DaySettled` naming the trade dates it settled.
"""

from tradingfloor.domain.commands import SettleDay, SettleFunds
from tradingfloor.domain.events import DaySettled, Event, FundsSettled, SharesSettled
from tradingfloor.engine.good_faith import lift_restrictions
from tradingfloor.engine.risk_context import RiskContext
from tradingfloor.ledger.settlement import settle_account, trade_sessions_due


class SettlementCommands(RiskContext):
    """The settlement side of `RiskPipeline`."""

    def settle_day(
        self,
        command: SettleDay,
        index: int,
        first_closed: int,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """Settle at session `index` (checked by the engine: see `engine.end_of_day`)."""
        due = index - self.settings.settlement_sessions
        sessions = set(range(max(self.settled_through + 1, first_closed, 0), due + 1))
        for account_id in sorted(self.ledger.accounts):
            account = self.ledger.accounts[account_id]
            sessions.update(trade_sessions_due(account, due))
            self._settle_account(account_id, due, index, seq, ts, out)
        self.corporate_actions.at_settlement(index, seq, ts, out)
        if due > self.settled_through:
            self.settled_through = due
        self.last_settled = index
        dates = [self.calendar.session_date(session) for session in sorted(sessions)]
        out.append(DaySettled(seq, ts, command.date, dates))

    def _settle_funds(self, command: SettleFunds, seq: int, ts: int, out: list[Event]) -> None:
        """Trades of session s settle at session s + N: move their net into settled."""
        sessions = self.settings.settlement_sessions
        due = self.calendar.session_index(ts) - sessions
        for account_id in sorted(self.ledger.accounts):
            self._settle_account(account_id, due, due + sessions, seq, ts, out)

    def _settle_account(
        self, account_id: str, due: int, index: int, seq: int, ts: int, out: list[Event]
    ) -> None:
        cash, shares = settle_account(self.ledger.accounts[account_id], due, index)
        if cash is not None:
            out.append(FundsSettled(seq, ts, account_id, cash))
        for symbol, qty in shares:
            out.append(SharesSettled(seq, ts, account_id, symbol, qty))

    def close_accounts_day(self, index: int) -> None:
        """The account side of `CloseDay`: restrictions ending with session `index` end."""
        lift_restrictions(self.ledger.accounts, index)
