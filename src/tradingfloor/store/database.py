"""Engines for SQLite and PostgreSQL, and Alembic migrations run from code.

The migrations ship inside the package (`tradingfloor/store/migrations`), so `upgrade` works
from an installed wheel without an alembic.ini. To write a new revision from a checkout:

    from alembic import command
    from tradingfloor.store.database import alembic_config
    command.revision(alembic_config("sqlite:///data/tradingfloor.db"), "orders", rev_id="0002")

then edit the file it creates in `migrations/versions` (name revisions `NNNN_topic.py`, each
`down_revision` the one before: one linear chain, one head).
"""

import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 5.0
SQLITE_BEGIN_OPTION = "tradingfloor_sqlite_begin"
"""Execution option naming the BEGIN statement of a SQLite transaction, e.g.
`engine.execution_options(tradingfloor_sqlite_begin="BEGIN IMMEDIATE")` for a transaction that
reads before it writes: a deferred one may fail with "database is locked" when it upgrades its
read lock while another connection writes, where an immediate one waits its turn."""

# Held by `upgrade` on PostgreSQL so that gateways starting together migrate one at a time.
_MIGRATION_LOCK_KEY = 0x7466_6D69_6772  # "tfmigr"


def normalize_url(url: str | URL) -> URL:
    """`url` with PostgreSQL pinned to the psycopg 3 driver (`postgresql+psycopg://`)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **engine_options: Any) -> Engine:
    """An engine for `url`: SQLite (file or memory) or PostgreSQL through psycopg 3.

    SQLite connections run in WAL mode (readers never block the writer) with foreign keys
    enforced and may be used from any thread (`check_same_thread` off; the pool hands each
    connection to one thread at a time). SQLAlchemy, not the sqlite3 module, issues BEGIN, so
    DDL is transactional and a failed migration leaves nothing behind.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, engine_options)
    engine_options.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **engine_options)


def _make_sqlite_engine(url: URL, engine_options: dict[str, Any]) -> Engine:
    connect_args = dict(engine_options.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args=connect_args, **engine_options)
    in_memory = not url.database or url.database == ":memory:"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Leave transaction control to SQLAlchemy (see _on_begin): sqlite3's legacy mode
        # would commit DDL on its own and skip BEGIN before SELECT.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                # WAL makes NORMAL durable against a process crash; only a power loss can
                # lose the last transactions, never corrupt the database.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        begin = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "BEGIN")
        connection.exec_driver_sql(begin)

    return engine


def alembic_config(url: str | URL) -> Config:
    """An Alembic configuration for `url` with the package's migrations, no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    # Percent signs are interpolation markers in Alembic's configparser.
    rendered = normalize_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (default: the newest). Idempotent."""
    _run_migration(url, revision, upgrading=True)


def downgrade(url: str | URL, revision: str = "base") -> None:
    """Undo migrations down to `revision` (default: all of them, leaving no tables)."""
    _run_migration(url, revision, upgrading=False)


def _run_migration(url: str | URL, revision: str, upgrading: bool) -> None:
    config = alembic_config(url)
    engine = make_engine(url, poolclass=NullPool)
    try:
        migrating = engine.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        with migrating.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            if upgrading:
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    finally:
        engine.dispose()
