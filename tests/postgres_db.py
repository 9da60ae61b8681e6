"""Scratch PostgreSQL databases for tests: `tf_test_<random>`, dropped (WITH FORCE) afterwards.

The server is TRADINGFLOOR_TEST_POSTGRES_URL (default: user postgres, trust auth, database
`test` on 127.0.0.1:5432); its maintenance database `postgres` is used to create and drop.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from conftest import require_tcp_service, skip_or_fail
from tradingfloor.store.database import normalize_url

POSTGRES_URL = os.environ.get(
    "TRADINGFLOOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def scratch_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped on exit; a skip (or failure in CI) without
    a server."""
    require_tcp_service("PostgreSQL", POSTGRES_URL, 5432)
    server = normalize_url(POSTGRES_URL)
    name = f"tf_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        server.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as error:
        admin.dispose()
        skip_or_fail(f"cannot create a PostgreSQL database at {POSTGRES_URL}: {error}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
