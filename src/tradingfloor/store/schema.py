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

from tradingfloor.domain.ids import ACCOUNT_ID_LENGTH_MAX

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
SOURCE_LENGTH_MAX = 64
"""A client's address as the gateway saw it (IPv6 text is at most 45 characters)."""
DETAIL_LENGTH_MAX = 200
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
    # Wrong passwords and wrong second-factor codes in a row (each reset by a right one), the
    # lockouts so far (each doubles the next; reset by a whole sign-in) and the current one.
    Column("failed_passwords", Integer, nullable=False, server_default="0"),
    Column("failed_codes", Integer, nullable=False, server_default="0"),
    Column("lockouts", Integer, nullable=False, server_default="0"),
    Column("locked_until_ts", BigInteger, nullable=True),
    # The one-time token an admin issued to enrol a second factor: sha256, hex.
    Column("enrollment_token_hash", String(64), nullable=True),
    Column("enrollment_expires_ts", BigInteger, nullable=True),
    CheckConstraint("role IN ('trader', 'admin')", name="role"),
)

auth_events = Table(
    "auth_events",
    metadata,
    # SQLite assigns row ids only to a column declared exactly INTEGER PRIMARY KEY.
    Column(
        "event_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("ts", BigInteger, nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("user_id", Integer, nullable=True, index=True),
    # What was typed, for attempts on unknown usernames (cut to the column's length).
    Column("username", String(USERNAME_LENGTH_MAX), nullable=True),
    Column("source", String(SOURCE_LENGTH_MAX), nullable=False, server_default=""),
    Column("detail", String(DETAIL_LENGTH_MAX), nullable=False, server_default=""),
    # The admin who acted on the user, for admin actions.
    Column("actor_user_id", Integer, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(API_KEY_ID_LENGTH_MAX), primary_key=True),
    # sha256 of the secret, hex: the secret is 256 random bits, see tradingfloor.identity.
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
