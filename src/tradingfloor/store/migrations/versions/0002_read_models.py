"""Read models projected from the engine's events: orders, fills, positions, balances,
activities, and each projection's resume point.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite assigns row ids only to a column declared exactly INTEGER PRIMARY KEY.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _create_orders()
    _create_fills()
    op.create_table(
        "positions",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("realized", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "symbol", name="pk_positions"),
    )
    op.create_table(
        "account_balances",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settled", sa.BigInteger(), nullable=False),
        sa.Column("unsettled", sa.BigInteger(), nullable=False),
        sa.Column("deposited", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", name="pk_account_balances"),
    )
    _create_activities()
    op.create_table(
        "projection_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_projection_state"),
    )


def _create_orders() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", ROW_ID, autoincrement=False, nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(4), nullable=True),
        sa.Column("order_type", sa.String(16), nullable=True),
        sa.Column("tif", sa.String(4), nullable=True),
        sa.Column("qty", sa.BigInteger(), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("stop_price", sa.BigInteger(), nullable=True),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filled_qty", sa.BigInteger(), nullable=False),
        sa.Column("leaves_qty", sa.BigInteger(), nullable=False),
        sa.Column("filled_notional", sa.BigInteger(), nullable=False),
        sa.Column("reject_code", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.String(32), nullable=True),
        sa.Column("replaced_by", sa.BigInteger(), nullable=True),
        sa.Column("replaces", sa.BigInteger(), nullable=True),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_account_created_seq", "orders", ["account", "created_seq"])
    op.create_index("ix_orders_account_status", "orders", ["account", "status"])
    op.create_index("ix_orders_account_client_order_id", "orders", ["account", "client_order_id"])
    op.create_index("ix_orders_symbol", "orders", ["symbol"])


def _create_fills() -> None:
    op.create_table(
        "fills",
        sa.Column("fill_id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("liquidity", sa.String(5), nullable=False),
        sa.Column("leaves_after", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("fill_id", name="pk_fills"),
        sa.UniqueConstraint(
            "symbol", "trade_id", "liquidity", name="uq_fills_symbol_trade_id_liquidity"
        ),
    )
    op.create_index("ix_fills_account_seq", "fills", ["account", "seq"])
    op.create_index("ix_fills_order_id", "fills", ["order_id"])


def _create_activities() -> None:
    op.create_table(
        "activities",
        sa.Column("activity_id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(), nullable=True),
        sa.Column("qty", sa.BigInteger(), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("trade_id", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("activity_id", name="pk_activities"),
    )
    op.create_index("ix_activities_account_seq", "activities", ["account", "seq"])


def downgrade() -> None:
    op.drop_table("projection_state")
    op.drop_index("ix_activities_account_seq", table_name="activities")
    op.drop_table("activities")
    op.drop_table("account_balances")
    op.drop_table("positions")
    op.drop_index("ix_fills_order_id", table_name="fills")
    op.drop_index("ix_fills_account_seq", table_name="fills")
    op.drop_table("fills")
    op.drop_index("ix_orders_symbol", table_name="orders")
    op.drop_index("ix_orders_account_client_order_id", table_name="orders")
    op.drop_index("ix_orders_account_status", table_name="orders")
    op.drop_index("ix_orders_account_created_seq", table_name="orders")
    op.drop_table("orders")
