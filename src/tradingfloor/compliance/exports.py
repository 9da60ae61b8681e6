"""Exports of the read models as files: the kinds of export, their columns and their rows.

Each kind is an `ExportKind` in `EXPORT_KINDS`: its columns (name, type, meaning) and its row
source, which gives the rows of a time range in chunks (bounded memory). Writing them as CSV
or Parquet is `export_writer`'s. A kind is added by `register(ExportKind(...))`: the columns and
a function of (connection, query) to chunks of tuples in the columns' order.

Money stays exact: prices and amounts are integers in price units (1/10,000 dollar), each with
a decimal text twin in dollars (`price_usd`), never a float. Times are integer nanoseconds
since the epoch; `trade_date` is the New York calendar day of the row's time.
"""

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from tradingfloor.compliance import audit_export
from tradingfloor.compliance.trade_dates import TradeDates
from tradingfloor.domain.prices import format_price
from tradingfloor.store import export_queries

if TYPE_CHECKING:
    import pyarrow  # type: ignore[import-untyped]

INT = "int"
TEXT = "text"


@dataclass(frozen=True)
class ExportColumn:
    name: str
    type: str
    """`INT` (64-bit integer) or `TEXT`; either may be empty (null)."""
    meaning: str


@dataclass(frozen=True)
class ExportQuery:
    after_ts: int
    """Included."""
    before_ts: int
    """Excluded."""
    accounts: Sequence[str] | None = None
    """None: every account."""
    chunk_rows: int = 10_000
    audit_dir: Path | None = None
    """The audit trail's directory (the `audit` kind reads its files, not the database)."""


Chunk = list[tuple[Any, ...]]
RowSource = Callable[[Connection, ExportQuery], Iterator[Chunk]]
RowCount = Callable[[Connection, ExportQuery], int]


@dataclass(frozen=True)
class ExportKind:
    name: str
    columns: tuple[ExportColumn, ...]
    rows: RowSource
    """The rows of a query, in chunks, each row a tuple in `columns`' order."""
    count: RowCount
    """How many rows `rows` gives (a limit is checked, a progress bar sized, before)."""

    def arrow_schema(self) -> "pyarrow.Schema":
        import pyarrow

        types = {INT: pyarrow.int64(), TEXT: pyarrow.string()}
        return pyarrow.schema([(column.name, types[column.type]) for column in self.columns])


EXPORT_KINDS: dict[str, ExportKind] = {}
"""Every kind of export, by name."""


def register(kind: ExportKind) -> ExportKind:
    """Add `kind` to `EXPORT_KINDS` (a name is registered once)."""
    if kind.name in EXPORT_KINDS:
        raise ValueError(f"export kind {kind.name!r} is registered already")
    EXPORT_KINDS[kind.name] = kind
    return kind


@functools.lru_cache(maxsize=65_536)
def _dollars(units: int | None) -> str | None:
    """Cached: an export repeats a few prices and fees over and over."""
    return None if units is None else format_price(units)


def _table_rows(
    name: str, shape: Callable[[TradeDates, tuple[Any, ...]], tuple[Any, ...]]
) -> RowSource:
    """A row source over read-model table `name`, each row shaped by `shape`."""

    def rows(connection: Connection, query: ExportQuery) -> Iterator[Chunk]:
        dates = TradeDates()
        for chunk in export_queries.chunks(
            connection, name, query.after_ts, query.before_ts, query.accounts, query.chunk_rows
        ):
            yield [shape(dates, row) for row in chunk]

    return rows


def _table_count(name: str) -> RowCount:
    def count(connection: Connection, query: ExportQuery) -> int:
        return export_queries.count_rows(
            connection, name, query.after_ts, query.before_ts, query.accounts
        )

    return count


ORDER_COLUMNS = (
    ExportColumn("trade_date", TEXT, "New York date of created_ts (YYYY-MM-DD)"),
    ExportColumn("order_id", INT, "the platform's order id"),
    ExportColumn("account", TEXT, "the order's account"),
    ExportColumn("symbol", TEXT, "the instrument"),
    ExportColumn("side", TEXT, "buy or sell (empty for a rejected order)"),
    ExportColumn("order_type", TEXT, "limit, market, stop, stop_limit or trailing_stop"),
    ExportColumn("tif", TEXT, "day, gtc, ioc or fok"),
    ExportColumn("qty", INT, "shares ordered"),
    ExportColumn("price", INT, "limit price, price units (1/10,000 dollar)"),
    ExportColumn("price_usd", TEXT, "the same in dollars, exact decimal text"),
    ExportColumn("stop_price", INT, "stop price, price units"),
    ExportColumn("stop_price_usd", TEXT, "the same in dollars"),
    ExportColumn("client_order_id", TEXT, "the client's id of the order"),
    ExportColumn("status", TEXT, "new, partially_filled, filled, canceled, expired, ..."),
    ExportColumn("filled_qty", INT, "shares filled"),
    ExportColumn("leaves_qty", INT, "shares still open"),
    ExportColumn("filled_notional", INT, "sum of qty x price of the fills, price units"),
    ExportColumn("filled_notional_usd", TEXT, "the same in dollars"),
    ExportColumn("reject_code", INT, "why it was rejected (the API's error code)"),
    ExportColumn("cancel_reason", TEXT, "why it was canceled"),
    ExportColumn("replaced_by", INT, "the order that replaced it"),
    ExportColumn("replaces", INT, "the order it replaced"),
    ExportColumn("created_seq", INT, "the command that made it"),
    ExportColumn("created_ts", INT, "when, ns since the epoch"),
    ExportColumn("updated_seq", INT, "the command that last changed it"),
    ExportColumn("updated_ts", INT, "when, ns since the epoch"),
    ExportColumn("order_class", TEXT, "simple, bracket, oco or oto"),
    ExportColumn("parent_order_id", INT, "for a leg: its bracket, oco or oto order"),
    ExportColumn("fraction", INT, "nano-shares (1e-9 share) asked beyond qty"),
    ExportColumn("filled_fraction", INT, "of them, filled by the fractional desk"),
    ExportColumn("fraction_price", INT, "the desk's price for them (price units)"),
    ExportColumn("notional", INT, "a notional order's cash asked (price units)"),
)


def _order_row(dates: TradeDates, row: tuple[Any, ...]) -> tuple[Any, ...]:
    (order_id, account, symbol, side, order_type, tif, qty, price, stop_price, client_order_id,
     status, filled_qty, leaves_qty, filled_notional, reject_code, cancel_reason, replaced_by,
     replaces, created_seq, created_ts, updated_seq, updated_ts, order_class,
     parent_order_id, fraction, filled_fraction, fraction_price, notional) = row  # fmt: skip
    return (
        dates.of(created_ts), order_id, account, symbol, side, order_type, tif, qty,
        price, _dollars(price), stop_price, _dollars(stop_price), client_order_id, status,
        filled_qty, leaves_qty, filled_notional, _dollars(filled_notional), reject_code,
        cancel_reason, replaced_by, replaces, created_seq, created_ts, updated_seq, updated_ts,
        order_class, parent_order_id, fraction, filled_fraction, fraction_price, notional,
    )  # fmt: skip


FILL_COLUMNS = (
    ExportColumn("trade_date", TEXT, "New York date of ts (YYYY-MM-DD)"),
    ExportColumn("fill_id", INT, "the row's id"),
    ExportColumn("seq", INT, "the command that made the trade"),
    ExportColumn("ts", INT, "when, ns since the epoch"),
    ExportColumn("symbol", TEXT, "the instrument"),
    ExportColumn("trade_id", INT, "the trade (counted per symbol; two fills share it)"),
    ExportColumn("order_id", INT, "the account's order"),
    ExportColumn("account", TEXT, "the account"),
    ExportColumn("side", TEXT, "buy or sell"),
    ExportColumn("price", INT, "price units (1/10,000 dollar)"),
    ExportColumn("price_usd", TEXT, "the same in dollars, exact decimal text"),
    ExportColumn("qty", INT, "shares"),
    ExportColumn("fee", INT, "the account's fee for the fill, price units"),
    ExportColumn("fee_usd", TEXT, "the same in dollars"),
    ExportColumn("liquidity", TEXT, "maker or taker"),
    ExportColumn("leaves_after", INT, "shares of the order open after the fill"),
)


def _fill_row(dates: TradeDates, row: tuple[Any, ...]) -> tuple[Any, ...]:
    (fill_id, seq, ts, symbol, trade_id, order_id, account, side, price, qty, fee, liquidity,
     leaves_after) = row  # fmt: skip
    return (
        dates.of(ts), fill_id, seq, ts, symbol, trade_id, order_id, account, side, price,
        _dollars(price), qty, fee, _dollars(fee), liquidity, leaves_after,
    )  # fmt: skip


ORDERS = register(
    ExportKind("orders", ORDER_COLUMNS, _table_rows("orders", _order_row), _table_count("orders"))
)
FILLS = register(
    ExportKind("fills", FILL_COLUMNS, _table_rows("fills", _fill_row), _table_count("fills"))
)


AUDIT_COLUMNS = (
    ExportColumn("trade_date", TEXT, "New York date of ts (YYYY-MM-DD)"),
    ExportColumn("n", INT, "the record's number in the trail"),
    ExportColumn("hash", TEXT, "the record's hash (SHA-256 of its body, hex)"),
    ExportColumn("ts", INT, "when: the command's seq time, or the access event's"),
    ExportColumn("kind", TEXT, "command or access"),
    ExportColumn("shard", TEXT, "the shard whose journal holds the command"),
    ExportColumn("seq", INT, "the command's seq in that journal"),
    ExportColumn("event_id", INT, "the access event's id"),
    ExportColumn("user", TEXT, "the user id who sent the command, or of the access event"),
    ExportColumn("key_id", TEXT, "the API key that signed the request"),
    ExportColumn("source", TEXT, "the client's address"),
    ExportColumn("gateway", TEXT, "the gateway process that took the request"),
    ExportColumn("role", TEXT, "the role that sent the command itself"),
    ExportColumn("action", TEXT, "the command's type, or the access event's kind"),
    ExportColumn("account", TEXT, "the account the command names"),
    ExportColumn("symbol", TEXT, "the symbol the command names"),
    ExportColumn("detail", TEXT, "the command and its events (or the access detail), JSON"),
)


def _audit_rows(connection: Connection, query: ExportQuery) -> Iterator[Chunk]:
    """The trail's records of the range (the database is not read)."""
    dates = TradeDates()
    rows = audit_export.records_between(
        query.audit_dir, query.after_ts, query.before_ts, query.accounts
    )
    while chunk := list(itertools.islice(rows, query.chunk_rows)):
        yield [(dates.of(row[2]), *row) for row in chunk]


def _audit_count(connection: Connection, query: ExportQuery) -> int:
    rows = audit_export.records_between(
        query.audit_dir, query.after_ts, query.before_ts, query.accounts
    )
    return sum(1 for _ in rows)


AUDIT = register(ExportKind("audit", AUDIT_COLUMNS, _audit_rows, _audit_count))
