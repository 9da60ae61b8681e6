"""Execution quality: the book's price levels and the quote at each order's arrival.

The levels start from the orders open at the upgrade: each open limit order (or elected stop
limit) rests with its leaves at its price, as the projector counts them from then on. Orders
that arrived before the upgrade have no arrival quote (the reports leave them out).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "book_levels",
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "side", "price", name="pk_book_levels"),
    )
    op.create_table(
        "arrival_quotes",
        sa.Column("order_id", ROW_ID, autoincrement=False, nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("bid", sa.BigInteger(), nullable=True),
        sa.Column("bid_qty", sa.BigInteger(), nullable=False),
        sa.Column("ask", sa.BigInteger(), nullable=True),
        sa.Column("ask_qty", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_arrival_quotes"),
    )
    op.execute(
        "INSERT INTO book_levels (symbol, side, price, qty, updated_seq)"
        " SELECT symbol, side, price, SUM(leaves_qty), MAX(updated_seq) FROM orders"
        " WHERE status IN ('new', 'partially_filled')"
        " AND order_type IN ('limit', 'stop_limit')"
        " AND price IS NOT NULL AND side IS NOT NULL AND leaves_qty > 0"
        " GROUP BY symbol, side, price"
    )


def downgrade() -> None:
    op.drop_table("arrival_quotes")
    op.drop_table("book_levels")
