"""Fractional and notional orders: each order's fraction of a share (nano-shares beyond its
whole quantity), the part of it filled and the desk's price, and a notional order's cash;
each position's fraction. Orders and positions from before are whole shares.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("fraction", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("filled_fraction", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("fraction_price", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("notional", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("positions") as batch:
        batch.add_column(
            sa.Column("fraction", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("fraction")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("notional")
        batch.drop_column("fraction_price")
        batch.drop_column("filled_fraction")
        batch.drop_column("fraction")
