"""Sign-in guards: failed attempts and lockouts per user, the second factor's enrolment
token, and the audit of sign-in events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite assigns row ids only to a column declared exactly INTEGER PRIMARY KEY.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("failed_passwords", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("failed_codes", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until_ts", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("enrollment_token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("enrollment_expires_ts", sa.BigInteger(), nullable=True))
    op.create_table(
        "auth_events",
        sa.Column("event_id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("source", sa.String(64), nullable=False, server_default=""),
        sa.Column("detail", sa.String(200), nullable=False, server_default=""),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_auth_events_ts", "auth_events", ["ts"])
    op.create_index("ix_auth_events_user_id", "auth_events", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_auth_events_user_id", table_name="auth_events")
    op.drop_index("ix_auth_events_ts", table_name="auth_events")
    op.drop_table("auth_events")
    with op.batch_alter_table("users") as batch:
        for column in (
            "enrollment_expires_ts",
            "enrollment_token_hash",
            "locked_until_ts",
            "lockouts",
            "failed_codes",
            "failed_passwords",
        ):
            batch.drop_column(column)
