"""The rows of an export: orders or fills of a time range, in chunks, oldest first.

An export may hold millions of rows: the query is read through a server-side cursor
(PostgreSQL) or SQLite's own stepping, `chunk_rows` at a time, so memory stays bounded by one
chunk whatever the range. Rows come in the table's column order, as the driver gives them.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Table, func, select

from tradingfloor.store.readmodels import fills, orders

Chunk = Sequence[tuple[Any, ...]]


def _where(table: Table, ts_column: str, after_ts: int, before_ts: int,
           accounts: Sequence[str] | None) -> list[Any]:  # fmt: skip
    column = table.c[ts_column]
    conditions = [column >= after_ts, column < before_ts]
    if accounts is not None:
        conditions.append(table.c.account.in_(list(accounts)))
    return conditions


def _ranged(
    table: Table, ts_column: str, after_ts: int, before_ts: int, accounts: Sequence[str] | None
) -> Select[Any]:
    key = table.primary_key.columns.values()[0]
    conditions = _where(table, ts_column, after_ts, before_ts, accounts)
    return select(table).where(*conditions).order_by(key)


def count_rows(
    connection: Connection,
    kind: str,
    after_ts: int,
    before_ts: int,
    accounts: Sequence[str] | None = None,
) -> int:
    """How many rows `chunks` gives for the same arguments (for a limit, a progress bar)."""
    table, ts_column = SOURCES[kind]
    conditions = _where(table, ts_column, after_ts, before_ts, accounts)
    query = select(func.count()).select_from(table).where(*conditions)
    return int(connection.execute(query).scalar() or 0)


def chunks(
    connection: Connection,
    kind: str,
    after_ts: int,
    before_ts: int,
    accounts: Sequence[str] | None = None,
    chunk_rows: int = 10_000,
) -> Iterator[Chunk]:
    """The rows of `kind` ("orders" by `created_ts`, "fills" by `ts`) in
    `[after_ts, before_ts)`, of `accounts` (None: every account), by their key."""
    table, ts_column = SOURCES[kind]
    query = _ranged(table, ts_column, after_ts, before_ts, accounts)
    result = connection.execution_options(yield_per=chunk_rows).execute(query)
    yield from result.partitions(chunk_rows)  # each row a tuple (SQLAlchemy's `Row`)


SOURCES: dict[str, tuple[Table, str]] = {"orders": (orders, "created_ts"), "fills": (fills, "ts")}
"""Each kind's table and the time column its range is on."""
