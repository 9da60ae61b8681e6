"""`/v2`'s account configurations and watchlists: per account, written by the gateway.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_configurations",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("dtbp_check", sa.String(8), nullable=False),
        sa.Column("pdt_check", sa.String(8), nullable=False),
        sa.Column("trade_confirm_email", sa.String(8), nullable=False),
        sa.Column("suspend_trade", sa.Boolean(), nullable=False),
        sa.Column("no_shorting", sa.Boolean(), nullable=False),
        sa.Column("fractional_trading", sa.Boolean(), nullable=False),
        sa.Column("max_margin_multiplier", sa.String(4), nullable=False),
        sa.Column("ptp_no_exception_entry", sa.Boolean(), nullable=False),
        sa.Column("max_options_trading_level", sa.Integer(), nullable=True),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", name="pk_account_configurations"),
    )
    op.create_table(
        "watchlists",
        sa.Column("watchlist_id", sa.String(36), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("watchlist_id", name="pk_watchlists"),
        sa.UniqueConstraint("account", "name", name="uq_watchlists_account_name"),
    )
    op.create_index("ix_watchlists_account", "watchlists", ["account"])
    op.create_table(
        "watchlist_assets",
        sa.Column("watchlist_id", sa.String(36), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.watchlist_id"],
            name="fk_watchlist_assets_watchlist_id_watchlists",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watchlist_id", "symbol", name="pk_watchlist_assets"),
    )


def downgrade() -> None:
    op.drop_table("watchlist_assets")
    op.drop_index("ix_watchlists_account", table_name="watchlists")
    op.drop_table("watchlists")
    op.drop_table("account_configurations")
