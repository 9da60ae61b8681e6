"""Order classes: each order's class ("simple", "bracket", "oco", "oto") and, for a leg, the
order it belongs to. Orders from before are simple and have no parent.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("order_class", sa.String(8), nullable=False, server_default="simple")
        )
        batch.add_column(sa.Column("parent_order_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_orders_parent_order_id", "orders", ["parent_order_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_parent_order_id", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("parent_order_id")
        batch.drop_column("order_class")
