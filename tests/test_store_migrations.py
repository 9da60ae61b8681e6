"""Alembic migrations from code, on SQLite and on a real PostgreSQL; the engines' settings."""

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError

from postgres_db import scratch_database
from tradingfloor.store import downgrade, make_engine, metadata, upgrade, users
from tradingfloor.store.database import MIGRATIONS_DIRECTORY, alembic_config, normalize_url

AUTH_TABLES = {"users", "api_keys", "refresh_tokens"}
READ_MODEL_TABLES = {
    "orders",
    "fills",
    "positions",
    "account_balances",
    "activities",
    "projection_state",
}
SIGN_IN_TABLES = {"auth_events"}
SETTLEMENT_TABLES = {"settlement_days", "breaks", "corporate_actions"}
AUDIT_TABLES = {"audit_anchors"}
REPORT_TABLES = {"trade_reports"}
QUOTE_TABLES = {"book_levels", "arrival_quotes"}
SURVEILLANCE_TABLES = {"surveillance_alerts", "surveillance_positions"}
HISTORY_TABLES = {"minute_bars", "quote_history"}
ALPACA_TABLES = {"account_configurations", "watchlists", "watchlist_assets"}
TABLES = (
    AUTH_TABLES
    | READ_MODEL_TABLES
    | SIGN_IN_TABLES
    | SETTLEMENT_TABLES
    | AUDIT_TABLES
    | SURVEILLANCE_TABLES
    | REPORT_TABLES
    | QUOTE_TABLES
    | HISTORY_TABLES
    | ALPACA_TABLES
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with scratch_database() as url:
        yield url


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def test_upgrade_creates_the_tables(database_url: str) -> None:
    upgrade(database_url)

    assert table_names(database_url) == TABLES | {"alembic_version"}
    assert current_revision(database_url) == head_revision()


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            insert(users).values(
                username="kept", password_hash="x", role="trader", account_id="A", created_ts=1
            )
        )

    upgrade(database_url)

    with engine.connect() as connection:
        assert connection.execute(select(users.c.username)).scalars().all() == ["kept"]
    engine.dispose()
    assert current_revision(database_url) == head_revision()


def test_downgrade_to_base_removes_the_tables(database_url: str) -> None:
    upgrade(database_url)

    downgrade(database_url)

    assert table_names(database_url) & TABLES == set()
    assert current_revision(database_url) is None


def test_downgrade_to_0001_keeps_only_the_credentials(database_url: str) -> None:
    upgrade(database_url)

    downgrade(database_url, "0001")

    assert table_names(database_url) == AUTH_TABLES | {"alembic_version"}
    assert current_revision(database_url) == "0001"
    upgrade(database_url)
    assert table_names(database_url) == TABLES | {"alembic_version"}


def test_downgrade_to_0002_drops_the_sign_in_guards(database_url: str) -> None:
    upgrade(database_url)

    downgrade(database_url, "0002")

    assert table_names(database_url) == AUTH_TABLES | READ_MODEL_TABLES | {"alembic_version"}
    engine = make_engine(database_url)
    columns = {column["name"] for column in inspect(engine).get_columns("users")}
    engine.dispose()
    assert "locked_until_ts" not in columns and "enrollment_token_hash" not in columns
    upgrade(database_url)
    assert table_names(database_url) == TABLES | {"alembic_version"}


def test_upgrade_from_0004_keeps_positions_and_balances(database_url: str) -> None:
    """Rows projected before 0005: their shares count as settled, no violation counted."""
    upgrade(database_url, "0004")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO positions (account, symbol, qty, cost, realized, updated_seq)"
            " VALUES ('A', 'XYZ', 70, 6300000, 5, 9), ('B', 'XYZ', 0, 0, -3, 9)"
        )
        connection.exec_driver_sql(
            "INSERT INTO account_balances (account, kind, status, settled, unsettled,"
            " deposited, withdrawn, fees, updated_seq, shard)"
            " VALUES ('A', 'cash', 'active', 10, -5, 10, 0, 0, 9, 0)"
        )

    upgrade(database_url)

    with engine.connect() as connection:
        held = connection.exec_driver_sql(
            "SELECT account, qty, cost, realized, settled_qty FROM positions ORDER BY account"
        ).all()
        balance = connection.exec_driver_sql(
            "SELECT settled, unsettled, good_faith_violations, restricted_until"
            " FROM account_balances"
        ).all()
    engine.dispose()
    assert [tuple(row) for row in held] == [("A", 70, 6300000, 5, 70), ("B", 0, 0, -3, 0)]
    assert [tuple(row) for row in balance] == [(10, -5, 0, None)]
    assert table_names(database_url) >= SETTLEMENT_TABLES
    downgrade(database_url, "0004")
    assert table_names(database_url) & SETTLEMENT_TABLES == set()
    engine = make_engine(database_url)
    columns = {column["name"] for column in inspect(engine).get_columns("positions")}
    engine.dispose()
    assert "settled_qty" not in columns


def test_upgrade_to_0009_puts_the_open_limit_orders_on_the_book(database_url: str) -> None:
    """Levels start from the orders open at the upgrade: open limits and elected stop limits
    with leaves, summed per price; market orders, waiting stops and closed orders rest not."""
    upgrade(database_url, "0005")
    engine = make_engine(database_url)
    rows = [
        (1, "buy", "limit", 100, "new", 100, 7),
        (2, "buy", "limit", 100, "partially_filled", 30, 8),
        (3, "sell", "stop_limit", 101, "new", 50, 9),
        (4, "sell", "stop_limit", 102, "pending_trigger", 50, 9),
        (5, "buy", "limit", 99, "filled", 0, 9),
        (6, "sell", "market", None, "new", 10, 9),
        (7, "sell", "limit", 103, "canceled", 20, 9),
    ]
    with engine.begin() as connection:
        for order_id, side, kind, price, status, leaves, seq in rows:
            connection.exec_driver_sql(
                "INSERT INTO orders (order_id, account, symbol, side, order_type, tif, qty,"
                " price, client_order_id, status, filled_qty, leaves_qty, filled_notional,"
                " created_seq, created_ts, updated_seq, updated_ts) VALUES"
                f" ({order_id}, 'A', 'XYZ', '{side}', '{kind}', 'gtc', 100,"
                f" {'NULL' if price is None else price}, '', '{status}', 0, {leaves}, 0,"
                f" 1, 1, {seq}, 1)"
            )

    upgrade(database_url)

    with engine.connect() as connection:
        levels = connection.exec_driver_sql(
            "SELECT side, price, qty, updated_seq FROM book_levels ORDER BY side, price"
        ).all()
    engine.dispose()
    assert [tuple(row) for row in levels] == [("buy", 100, 130, 8), ("sell", 101, 50, 9)]
    downgrade(database_url, "0005")
    assert table_names(database_url) & QUOTE_TABLES == set()


def test_schema_module_matches_the_migrations(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)

    engine.dispose()
    assert differences == []


def test_revisions_form_one_chain_from_the_package() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))

    revisions = list(scripts.walk_revisions())

    assert len(scripts.get_heads()) == 1
    chain = [revision.revision for revision in reversed(revisions)]
    assert chain[:3] == ["0001", "0002", "0003"]
    # linear: each revision revises the one before it
    assert [revision.down_revision for revision in reversed(revisions)] == [None, *chain[:-1]]
    assert revisions[-1].down_revision is None
    assert Path(scripts.dir) == MIGRATIONS_DIRECTORY
    # `alembic revision` renders new files from this template: it must ship with the package.
    assert (MIGRATIONS_DIRECTORY / "script.py.mako").is_file()


def test_sqlite_engine_enforces_foreign_keys_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)

    with engine.connect() as connection:
        journal_mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO api_keys (key_id, secret_hash, user_id, scopes, created_ts)"
            " VALUES ('k', 'h', 999, 'read', 1)"
        )

    assert journal_mode == "wal"
    engine.dispose()


def test_sqlite_engine_is_usable_from_another_thread(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:  # a pooled connection made in this thread
        connection.exec_driver_sql("SELECT 1")
    results: list[object] = []

    def count_users() -> None:
        with engine.connect() as connection:
            results.append(connection.execute(select(users.c.id)).all())

    worker = threading.Thread(target=count_users)
    worker.start()
    worker.join()

    assert results == [[]]
    engine.dispose()


def test_a_failed_migration_leaves_nothing_behind_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:  # a table the migration will collide with
        connection.exec_driver_sql("CREATE TABLE api_keys (x INTEGER)")
    engine.dispose()

    with pytest.raises(Exception, match="api_keys"):
        upgrade(url)

    # DDL is transactional: `users`, created before the collision, was rolled back too.
    assert table_names(url) == {"api_keys"}
    assert current_revision(url) is None


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_postgresql_urls_use_psycopg_3(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver
