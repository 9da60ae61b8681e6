"""Trade reports: one row per execution, as the reporting role reported it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trade_reports",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("trade_id", sa.String(80), nullable=False),
        sa.Column("trade_date", sa.String(10), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("ts_execution", sa.BigInteger(), nullable=False),
        sa.Column("ts_report", sa.BigInteger(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trade_reports"),
        sa.UniqueConstraint("trade_id", name="uq_trade_reports_trade_id"),
    )


def downgrade() -> None:
    op.drop_table("trade_reports")
