"""Settlement read models: settled shares per position, good-faith violations per account,
settlement days, reconciliation breaks and corporate actions.

Positions projected before shares settled apart from trades hold every share as settled:
the engine's state of that time (a snapshot) had no unsettled shares either.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATE = sa.String(10)


def upgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.add_column(
            sa.Column("settled_qty", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute("UPDATE positions SET settled_qty = qty")
    with op.batch_alter_table("account_balances") as batch:
        batch.add_column(
            sa.Column("good_faith_violations", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("restricted_until", DATE, nullable=True))
    _create_settlement_days()
    _create_breaks()
    _create_corporate_actions()


def _create_settlement_days() -> None:
    op.create_table(
        "settlement_days",
        sa.Column("date", DATE, nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("session", sa.Integer(), nullable=True),
        sa.Column("closed_seq", sa.BigInteger(), nullable=True),
        sa.Column("closed_ts", sa.BigInteger(), nullable=True),
        sa.Column("expired", sa.BigInteger(), nullable=True),
        sa.Column("settled_seq", sa.BigInteger(), nullable=True),
        sa.Column("settled_ts", sa.BigInteger(), nullable=True),
        sa.Column("trade_dates", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("date", "shard", name="pk_settlement_days"),
    )


def _create_breaks() -> None:
    op.create_table(
        "breaks",
        sa.Column("break_id", sa.String(), nullable=False),
        sa.Column("date", DATE, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("platform_qty", sa.BigInteger(), nullable=False),
        sa.Column("other_qty", sa.BigInteger(), nullable=False),
        sa.Column("platform_cash", sa.BigInteger(), nullable=False),
        sa.Column("other_cash", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("opened_seq", sa.BigInteger(), nullable=False),
        sa.Column("opened_ts", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("resolved_by", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cash_adjustment", sa.BigInteger(), nullable=True),
        sa.Column("shares_adjustment", sa.BigInteger(), nullable=True),
        sa.Column("resolved_seq", sa.BigInteger(), nullable=True),
        sa.Column("resolved_ts", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("break_id", name="pk_breaks"),
    )
    op.create_index("ix_breaks_status_opened_ts", "breaks", ["status", "opened_ts"])
    op.create_index("ix_breaks_opened_ts", "breaks", ["opened_ts"])
    op.create_index("ix_breaks_account", "breaks", ["account"])


def _create_corporate_actions() -> None:
    op.create_table(
        "corporate_actions",
        sa.Column("action_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("new_symbol", sa.String(), nullable=True),
        sa.Column("old_shares", sa.BigInteger(), nullable=True),
        sa.Column("new_shares", sa.BigInteger(), nullable=True),
        sa.Column("cash_in_lieu_price", sa.BigInteger(), nullable=True),
        sa.Column("amount_per_share", sa.BigInteger(), nullable=True),
        sa.Column("ex_date", DATE, nullable=True),
        sa.Column("record_date", DATE, nullable=True),
        sa.Column("pay_date", DATE, nullable=True),
        sa.Column("effective_date", DATE, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("announced_seq", sa.BigInteger(), nullable=False),
        sa.Column("announced_ts", sa.BigInteger(), nullable=False),
        sa.Column("applied_seq", sa.BigInteger(), nullable=True),
        sa.Column("paid_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("action_id", name="pk_corporate_actions"),
    )
    op.create_index("ix_corporate_actions_announced_ts", "corporate_actions", ["announced_ts"])
    op.create_index("ix_corporate_actions_symbol", "corporate_actions", ["symbol"])


def downgrade() -> None:
    op.drop_table("corporate_actions")
    op.drop_table("breaks")
    op.drop_table("settlement_days")
    with op.batch_alter_table("account_balances") as batch:
        batch.drop_column("restricted_until")
        batch.drop_column("good_faith_violations")
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("settled_qty")
