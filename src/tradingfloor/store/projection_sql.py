"""The projector's SQL: each read-model table's SELECT, INSERT and UPDATE as the driver's own.

Rows reach the driver as tuples, untouched by SQLAlchemy, whose processing of each row's
parameters costs more than SQLite's writing the row. SQLite takes a batch's rows in one prepared
`executemany`; PostgreSQL by COPY, and its updates as one `UPDATE ... FROM unnest(arrays)` per
table. The SQL text depends only on the dialect, so it is built once per dialect.
"""

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.store.readmodels import account_balances, activities, fills, orders, positions

Row = dict[str, Any]

SURROGATE_KEYS = frozenset({"fill_id", "activity_id", "quote_id"})
FILL_COLUMNS = (
    "seq",
    "ts",
    "symbol",
    "trade_id",
    "order_id",
    "account",
    "side",
    "price",
    "qty",
    "fee",
    "liquidity",
    "leaves_after",
)
"""The order of a fill row's tuple: fills and activities are only ever inserted, so the
projector builds their rows as tuples, ready for the driver."""
ACTIVITY_COLUMNS = (
    "seq",
    "ts",
    "account",
    "kind",
    "symbol",
    "qty",
    "price",
    "amount",
    "order_id",
    "trade_id",
    "description",
)
ORDER_MUTABLE = (
    "qty",
    "price",
    "stop_price",
    "status",
    "filled_qty",
    "leaves_qty",
    "filled_notional",
    "cancel_reason",
    "replaced_by",
    "updated_seq",
    "updated_ts",
    "order_class",
    "parent_order_id",
    "fraction",
    "filled_fraction",
    "fraction_price",
    "notional",
)
POSITION_MUTABLE = ("qty", "cost", "realized", "updated_seq", "settled_qty", "fraction")
BALANCE_MUTABLE = (
    "status",
    "settled",
    "unsettled",
    "deposited",
    "withdrawn",
    "fees",
    "updated_seq",
    "good_faith_violations",
    "restricted_until",
)


class TableSql:
    """One table's SELECT and INSERT as the driver's own SQL.

    Rows reach the driver as tuples, untouched by SQLAlchemy, whose processing of each row's
    parameters costs more than SQLite's writing the row. SQLite takes them in one prepared
    `executemany`; PostgreSQL by COPY, several times faster there than a statement per row.
    """

    def __init__(self, dialect: Dialect, table: Table) -> None:
        marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}
        if dialect.paramstyle not in marks:
            raise NotImplementedError(f"read models need SQLite or PostgreSQL, not {dialect.name}")
        self.mark = mark = marks[dialect.paramstyle]
        self.quote = quote = dialect.identifier_preparer.quote
        self.postgresql = dialect.name == "postgresql"
        # Casts name the base type: a cast to varchar(n) would truncate instead of failing.
        self.casts = {
            column.name: column.type.compile(dialect).split("(")[0] for column in table.c
        }
        self.name = name = quote(table.name)
        self.all_columns = tuple(column.name for column in table.c)
        selected = ", ".join(quote(column) for column in self.all_columns)
        self.select = f"SELECT {selected} FROM {name}"
        self.columns = tuple(
            column.name for column in table.c if column.name not in SURROGATE_KEYS
        )
        listed = ", ".join(quote(column) for column in self.columns)
        marks_listed = ", ".join(mark for _ in self.columns)
        self.insert = f"INSERT INTO {name} ({listed}) VALUES ({marks_listed})"
        self.copy = f"COPY {name} ({listed}) FROM STDIN"
        self.insert_values: Callable[[Row], tuple[Any, ...]] = itemgetter(*self.columns)

    def select_where_in(self, column: str, count: int) -> str:
        marks = ", ".join(self.mark for _ in range(count))
        return f"{self.select} WHERE {self.quote(column)} IN ({marks})"

    def insert_rows(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        if not self.postgresql:
            connection.exec_driver_sql(self.insert, rows)
            return
        # psycopg's own connection, inside the transaction SQLAlchemy began.
        driver: Any = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(self.copy) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)


class MutableTableSql(TableSql):
    """And an UPDATE of the `mutable` columns of the rows with the given `keys`: on
    PostgreSQL one statement for all rows, their values passed as one array per column."""

    def __init__(
        self, dialect: Dialect, table: Table, keys: tuple[str, ...], mutable: tuple[str, ...]
    ) -> None:
        super().__init__(dialect, table)
        quote, mark, name = self.quote, self.mark, self.name
        self.update_values: Callable[[Row], tuple[Any, ...]] = itemgetter(*mutable, *keys)
        positions = [self.all_columns.index(column) for column in (*mutable, *keys)]
        self.update_values_of_tuple: Callable[[tuple[Any, ...]], tuple[Any, ...]] = itemgetter(
            *positions
        )
        """The same, of a row given as a tuple in the table's column order."""
        condition = " AND ".join(f"{quote(column)} = {mark}" for column in keys)
        self.delete = f"DELETE FROM {name} WHERE {condition}"
        if not self.postgresql:
            assignments = ", ".join(f"{quote(column)} = {mark}" for column in mutable)
            self.update = f"UPDATE {name} SET {assignments} WHERE {condition}"
            return
        listed = mutable + keys
        assigned = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in mutable)
        arrays = ", ".join(f"{mark}::{self.casts[column]}[]" for column in listed)
        named = ", ".join(quote(column) for column in listed)
        matched = " AND ".join(f"t.{quote(column)} = v.{quote(column)}" for column in keys)
        self.update = (
            f"UPDATE {name} AS t SET {assigned} FROM unnest({arrays}) AS v ({named})"
            f" WHERE {matched}"
        )

    def delete_rows(self, connection: Connection, keys: list[tuple[Any, ...]]) -> None:
        """Delete the rows with these keys (rare: a position that moved to a new symbol)."""
        connection.exec_driver_sql(self.delete, keys)

    def update_rows(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        if self.postgresql:
            arrays = tuple(list(column) for column in zip(*rows, strict=True))
            connection.exec_driver_sql(self.update, arrays)
        else:
            connection.exec_driver_sql(self.update, rows)


class Statements:
    def __init__(self, dialect: Dialect) -> None:
        self.orders = MutableTableSql(dialect, orders, ("order_id",), ORDER_MUTABLE)
        self.positions = MutableTableSql(
            dialect, positions, ("account", "symbol"), POSITION_MUTABLE
        )
        self.balances = MutableTableSql(
            dialect, account_balances, ("account", "shard"), BALANCE_MUTABLE
        )
        self.fills = TableSql(dialect, fills)
        self.activities = TableSql(dialect, activities)
        if self.fills.columns != FILL_COLUMNS or self.activities.columns != ACTIVITY_COLUMNS:
            raise InvariantViolation("the projector's row tuples no longer match the tables")


_statements: dict[tuple[str, str], Statements] = {}
"""Per (dialect, paramstyle): SQL text, which no restart or other process can make stale."""


def statements_for(dialect: Dialect) -> Statements:
    key = (dialect.name, dialect.paramstyle)
    found = _statements.get(key)
    if found is None:
        found = _statements[key] = Statements(dialect)
    return found
