"""Surveillance: the alerts' review queue and the role's place in each shard's feed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surveillance_alerts",
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("pattern", sa.String(32), nullable=False),
        sa.Column("shard", sa.String(32), nullable=False),
        sa.Column("accounts", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reviewer", sa.String(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewed_ts", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", name="pk_surveillance_alerts"),
    )
    op.create_index("ix_surveillance_alerts_state_ts", "surveillance_alerts", ["state", "ts"])
    op.create_index("ix_surveillance_alerts_ts", "surveillance_alerts", ["ts"])
    op.create_index("ix_surveillance_alerts_symbol", "surveillance_alerts", ["symbol"])
    op.create_table(
        "surveillance_positions",
        sa.Column("shard", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("warm_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", name="pk_surveillance_positions"),
    )


def downgrade() -> None:
    op.drop_table("surveillance_positions")
    op.drop_table("surveillance_alerts")
