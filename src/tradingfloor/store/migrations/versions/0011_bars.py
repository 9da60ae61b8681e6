"""Market history: minute bars and the top of book after each change; fills by symbol and time.

Both tables start empty: the history begins at the upgrade (the fills before it are still
answered as trades; their bars are not rebuilt).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "minute_bars",
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("start_ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("open", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("close", sa.BigInteger(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("trade_count", sa.BigInteger(), nullable=False),
        sa.Column("notional", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "start_ts", name="pk_minute_bars"),
    )
    op.create_table(
        "quote_history",
        sa.Column("quote_id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("bid", sa.BigInteger(), nullable=True),
        sa.Column("bid_qty", sa.BigInteger(), nullable=False),
        sa.Column("ask", sa.BigInteger(), nullable=True),
        sa.Column("ask_qty", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("quote_id", name="pk_quote_history"),
    )
    op.create_index("ix_quote_history_symbol_ts", "quote_history", ["symbol", "ts", "quote_id"])
    op.create_index("ix_fills_symbol_ts", "fills", ["symbol", "ts"])


def downgrade() -> None:
    op.drop_index("ix_fills_symbol_ts", table_name="fills")
    op.drop_table("quote_history")
    op.drop_table("minute_bars")
