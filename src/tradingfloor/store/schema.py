"""The tables, as the newest migration leaves them (SQLAlchemy Core, no ORM).

A change here needs a migration in `migrations/versions` that makes the same change;
`tests/test_store_migrations.py` compares the two. Timestamps are integer nanoseconds since
the epoch, named `*_ts` (STYLE rule 8).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    false,
)

# Deterministic constraint names: Alembic needs a name to drop or alter a constraint, and
# SQLite's batch mode rebuilds tables by them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USERNAME_LENGTH_MAX = 64
ACCOUNT_ID_LENGTH_MAX = 64
LABEL_LENGTH_MAX = 100
API_KEY_ID_LENGTH_MAX = 32

metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(USERNAME_LENGTH_MAX), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("account_id", String(ACCOUNT_ID_LENGTH_MAX), nullable=False, index=True),
    Column("totp_secret", String(64), nullable=True),
    Column("totp_enabled", Boolean, nullable=False, server_default=false()),
    # The last 30-second TOTP step accepted, so that a code cannot be used twice, even
    # through another gateway.
    Column("totp_last_step", BigInteger, nullable=True),
    Column("created_ts", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    CheckConstraint("role IN ('trader', 'admin')", name="role"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(API_KEY_ID_LENGTH_MAX), primary_key=True),
    # sha256 of the secret, hex: the secret is 256 random bits, see gateway.auth.
    Column("secret_hash", String(64), nullable=False),
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("scopes", String(64), nullable=False),  # space-separated: "read trade"
    Column("label", String(LABEL_LENGTH_MAX), nullable=False, server_default=""),
    Column("created_ts", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, server_default=false()),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the token, hex
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_ts", BigInteger, nullable=False),
    Column("expires_ts", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, server_default=false()),
    # Whether the session passed its second factor: tokens refreshed from it keep the flag.
    Column("mfa", Boolean, nullable=False, server_default=false()),
)
