"""Good-faith violations of cash accounts, counted and enforced.

The ledger finds them (`ledger.good_faith`: a sale of shares bought with sale proceeds that
had not settled, once per lot); here each one is counted against the rule: a cash account
with `good_faith_violations_max` violations within `good_faith_window_sessions` (252
sessions, twelve months) buys with settled cash only for `good_faith_restriction_sessions`
(63 sessions, ninety days) from the session of the last one. Margin accounts borrow instead:
they never count violations.

A `GoodFaithViolation` names the sell order whose fill reached the lot (the order that made
the violation) and the account's count within the window.

While restricted, a buy (or a replace that asks for more) must fit in the settled cash free
of unsettled purchases and of the holds of open buys; else `SETTLED_CASH_REQUIRED`.
"""

from typing import TYPE_CHECKING

from tradingfloor.domain.enums import AccountKind
from tradingfloor.domain.events import GoodFaithViolation
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.ledger import Account
from tradingfloor.ledger.ledger import Violation

if TYPE_CHECKING:
    from tradingfloor.risk.calendar import TradingCalendar


def count_violation(
    violation: Violation,
    settings: RiskSettings,
    calendar: "TradingCalendar",
    seq: int,
    ts: int,
) -> GoodFaithViolation:
    """Count one violation in its account's window; restrict the account at the limit."""
    account = violation.account
    session = violation.session
    days = account.good_faith
    days.append(session)
    first = session - settings.good_faith_window_sessions + 1
    while days and days[0] < first:
        days.pop(0)
    if len(days) >= settings.good_faith_violations_max:
        last = min(
            session + settings.good_faith_restriction_sessions - 1, calendar.session_count - 1
        )
        if last > account.restricted_until:
            account.restricted_until = last
    restricted = account.restricted_until >= session
    return GoodFaithViolation(
        seq,
        ts,
        account.account_id,
        violation.symbol,
        violation.order_id,
        len(days),
        calendar.session_date(account.restricted_until) if restricted else "",
    )


def settled_cash_refusal(account: Account, more: int, session: int) -> RejectReason | None:
    """`SETTLED_CASH_REQUIRED` when a restricted cash account asks `more` than its free
    settled cash can pay for (net of open buys' holds)."""
    if (
        account.kind == AccountKind.CASH
        and 0 <= session <= account.restricted_until
        and more > account.free_settled() - account.held
    ):
        return RejectReason.SETTLED_CASH_REQUIRED
    return None


def lift_restrictions(accounts: dict[str, Account], closed: int) -> None:
    """After the close of session `closed`: restrictions that ended with it are lifted."""
    for account in accounts.values():
        if 0 <= account.restricted_until <= closed:
            account.restricted_until = -1
