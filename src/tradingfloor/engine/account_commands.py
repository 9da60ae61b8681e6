"""The account and cash commands: open an account, change its status (blocking or closing it
cancels its open orders), deposit and withdraw cash or shares (settled ones only).

A refusal is a `CommandRejected` naming the account.
"""

from typing import Any

from tradingfloor.domain.commands import (
    AllocateCashIn,
    AllocateCashOut,
    Deposit,
    DepositShares,
    OpenAccount,
    SetAccountStatus,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.enums import AccountStatus, CancelReason
from tradingfloor.domain.events import (
    AccountOpened,
    AccountStatusChanged,
    CashAllocatedIn,
    CashAllocatedOut,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    SharesDeposited,
    SharesWithdrawn,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.posting import Posting
from tradingfloor.ledger import Account
from tradingfloor.ledger.good_faith import trim_lots

AMOUNT_MAX = 10**16
"""$1,000,000,000,000 in one deposit or withdrawal: balances stay far inside 64 bits, which
the journal and snapshots need."""
SHARES_MAX = 10**12


class AccountCommands(Posting):
    """The account commands `RiskPipeline.apply` dispatches."""

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
        """`BLOCKED` (the kill switch) and `CLOSED` cancel every open order of the account;
        with `from_status`, only from that status (see `SetAccountStatus`)."""
        account = self._account(command, seq, ts, out)
        if account is None:
            return
        expected = command.from_status
        if expected is not None and account.status != expected:
            if account.status != command.status:
                refused = _STATUS_REFUSAL.get(account.status, RejectReason.ACCOUNT_SUSPENDED)
                self._reject(command, account.account_id, refused, seq, ts, out)
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

    def _allocate_out(self, command: AllocateCashOut, seq: int, ts: int, out: list[Event]) -> None:
        """Cash to another shard: what a withdrawal may take, no more (see `AllocateCashOut`)."""
        account = self._account(command, seq, ts, out)
        if account is None:
            return
        if type(command.amount) is not int or not 0 < command.amount <= AMOUNT_MAX:
            reason: RejectReason | None = RejectReason.INVALID_AMOUNT
        elif type(command.to_shard) is not str or not command.to_shard:
            reason = RejectReason.INVALID_AMOUNT
        elif command.amount > account.withdrawable():
            reason = RejectReason.INSUFFICIENT_FUNDS
        else:
            reason = None
        if reason is not None:
            self._reject(command, account.account_id, reason, seq, ts, out)
            return
        account.settled -= command.amount
        account.allocated_out += command.amount
        out.append(CashAllocatedOut(seq, ts, account.account_id, command.amount, command.to_shard))

    def _allocate_in(self, command: AllocateCashIn, seq: int, ts: int, out: list[Event]) -> None:
        """Cash from another shard, each move once and in its source's order; taken in even
        by a closed or blocked account (it was the account's already)."""
        account = self._account(command, seq, ts, out)
        if account is None:
            return
        taken = self.ledger.allocations_in
        source = command.from_shard
        if type(command.amount) is not int or not 0 < command.amount <= AMOUNT_MAX:
            reason: RejectReason | None = RejectReason.INVALID_AMOUNT
        elif type(source) is not str or not source or type(command.out_seq) is not int:
            reason = RejectReason.INVALID_AMOUNT
        elif command.out_seq <= taken.get(source, 0):
            reason = RejectReason.ALLOCATION_ALREADY_TAKEN
        else:
            reason = None
        if reason is not None:
            self._reject(command, account.account_id, reason, seq, ts, out)
            return
        taken[source] = command.out_seq
        account.settled += command.amount
        account.allocated_in += command.amount
        out.append(
            CashAllocatedIn(seq, ts, account.account_id, command.amount, source, command.out_seq)
        )

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
        elif position is None or command.qty > position.withdrawable():
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
        trim_lots(position)
        self.ledger.shares_in[command.symbol] -= qty
        out.append(SharesWithdrawn(seq, ts, account.account_id, command.symbol, qty, cost))


_STATUS_REFUSAL = {
    AccountStatus.RESTRICTED: RejectReason.ACCOUNT_RESTRICTED,
    AccountStatus.BLOCKED: RejectReason.ACCOUNT_BLOCKED,
    AccountStatus.CLOSED: RejectReason.ACCOUNT_CLOSED,
}
"""Why a conditional change of status is refused, by the status the account has."""
