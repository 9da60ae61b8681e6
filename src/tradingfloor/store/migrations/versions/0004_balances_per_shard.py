"""Account balances per shard: on a platform of several symbol shards each shard holds the
part of an account's cash allocated to it, and its projector keeps that part's row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_balances", recreate="always") as batch:
        batch.add_column(sa.Column("shard", sa.SmallInteger(), nullable=False, server_default="0"))
        batch.drop_constraint("pk_account_balances", type_="primary")
        batch.create_primary_key("pk_account_balances", ["account", "shard"])


def downgrade() -> None:
    op.execute("DELETE FROM account_balances WHERE shard <> 0")
    with op.batch_alter_table("account_balances", recreate="always") as batch:
        batch.drop_constraint("pk_account_balances", type_="primary")
        batch.create_primary_key("pk_account_balances", ["account"])
        batch.drop_column("shard")
