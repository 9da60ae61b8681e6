"""Read models of the end of day: settlement days, reconciliation breaks, corporate actions.

Projected from the engine's events (`projection_settlement`) like the other read models, on
the same `metadata` (revision 0005 creates them). Dates are the ISO trading days the events
carry ("2026-12-02"); money in price units, quantities in shares, times in ns (`*_ts`),
and every row names the commands that wrote it (`*_seq`).

These events are few (a break, an announcement, a day closed): the projector writes their
rows as each event comes, in its batch's transaction, rather than gathering them.
"""

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Table, Text

from tradingfloor.store.schema import metadata

DATE_LENGTH = 10
"""`YYYY-MM-DD`."""
BREAK_STATUSES = ("open", "resolved")
CORPORATE_ACTION_KINDS = ("split", "dividend", "symbol_change")
CORPORATE_ACTION_STATUSES = ("announced", "applied", "paid")
"""A split or symbol change is `applied` at the close before its date; a dividend is
`applied` when its entitlement is fixed and `paid` on its pay date."""

settlement_days = Table(
    "settlement_days",
    metadata,
    # One row per trading day and shard: every shard closes and settles each day itself.
    Column("date", String(DATE_LENGTH), primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("session", Integer, nullable=True),  # the calendar's session index, once closed
    Column("closed_seq", BigInteger, nullable=True),
    Column("closed_ts", BigInteger, nullable=True),
    Column("expired", BigInteger, nullable=True),  # DAY orders expired at its close
    Column("settled_seq", BigInteger, nullable=True),
    Column("settled_ts", BigInteger, nullable=True),
    # The trade dates that settled on this date, comma-separated.
    Column("trade_dates", Text, nullable=True),
)

breaks = Table(
    "breaks",
    metadata,
    Column("break_id", String, primary_key=True),
    Column("date", String(DATE_LENGTH), nullable=False),
    Column("kind", String(32), nullable=False),  # `BreakKind` by lowercase name
    Column("account", String, nullable=False),
    Column("symbol", String, nullable=False),
    Column("platform_qty", BigInteger, nullable=False),
    Column("other_qty", BigInteger, nullable=False),
    Column("platform_cash", BigInteger, nullable=False),
    Column("other_cash", BigInteger, nullable=False),
    Column("detail", Text, nullable=False),
    Column("opened_seq", BigInteger, nullable=False),
    Column("opened_ts", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("resolved_by", String, nullable=True),
    Column("reason", Text, nullable=True),
    Column("cash_adjustment", BigInteger, nullable=True),
    Column("shares_adjustment", BigInteger, nullable=True),
    Column("resolved_seq", BigInteger, nullable=True),
    Column("resolved_ts", BigInteger, nullable=True),
    # The review queue: newest first, of a status; and by account.
    Index("ix_breaks_status_opened_ts", "status", "opened_ts"),
    Index("ix_breaks_opened_ts", "opened_ts"),
    Index("ix_breaks_account", "account"),
)

corporate_actions = Table(
    "corporate_actions",
    metadata,
    Column("action_id", String, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("symbol", String, nullable=False),
    Column("new_symbol", String, nullable=True),  # symbol change
    Column("old_shares", BigInteger, nullable=True),  # split: old_shares become new_shares
    Column("new_shares", BigInteger, nullable=True),
    Column("cash_in_lieu_price", BigInteger, nullable=True),
    Column("amount_per_share", BigInteger, nullable=True),  # dividend
    Column("ex_date", String(DATE_LENGTH), nullable=True),  # split
    Column("record_date", String(DATE_LENGTH), nullable=True),  # dividend
    Column("pay_date", String(DATE_LENGTH), nullable=True),  # dividend
    Column("effective_date", String(DATE_LENGTH), nullable=True),  # symbol change
    Column("status", String(16), nullable=False),
    Column("announced_seq", BigInteger, nullable=False),
    Column("announced_ts", BigInteger, nullable=False),
    Column("applied_seq", BigInteger, nullable=True),
    Column("paid_seq", BigInteger, nullable=True),
    Index("ix_corporate_actions_announced_ts", "announced_ts"),
    Index("ix_corporate_actions_symbol", "symbol"),
)

SETTLEMENT_TABLES = (settlement_days, breaks, corporate_actions)
