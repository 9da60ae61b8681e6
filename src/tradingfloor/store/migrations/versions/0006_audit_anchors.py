"""The audit trail's anchors: its head written from time to time beside the files.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_anchors",
        sa.Column("anchor_id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_anchors")
