"""The trade reports table: every execution's report as the reporting role made it, for the
admin stream (`GET /v1/admin/trade-reports`, its WebSocket) to read.

The role writes each report once it is in the day's file (`compliance.reporting`); a report
written again after a restart (its line was past the role's saved place) is skipped by its
`trade_id`, so the table holds one row per execution. `id` grows with each row: a reader
continues after the last id it has seen (`since_id`). `body` is the report as JSON, the
other columns what a reader filters or pages on.
"""

from collections.abc import Sequence

import msgspec
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    String,
    Table,
    Text,
    insert,
    select,
)

from tradingfloor.store.readmodels import ROW_ID
from tradingfloor.store.schema import metadata

TRADE_ID_LENGTH_MAX = 80
DATE_LENGTH = 10
rows_per_insert_max = 1_000
"""Rows of one INSERT: a batch of the feed holds fewer reports than this, mostly."""

trade_reports = Table(
    "trade_reports",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("trade_id", String(TRADE_ID_LENGTH_MAX), nullable=False, unique=True),
    Column("trade_date", String(DATE_LENGTH), nullable=False),
    Column("symbol", String, nullable=False),
    Column("ts_execution", BigInteger, nullable=False),
    Column("ts_report", BigInteger, nullable=False),
    Column("late", Boolean, nullable=False),
    Column("body", Text, nullable=False),
)


class TradeReportRow(msgspec.Struct, frozen=True):
    """A stored report: its row id and the report as the role wrote it (JSON text)."""

    id: int
    trade_id: str
    body: str


class NewTradeReport(msgspec.Struct, frozen=True):
    """A report to store: the columns and the report as JSON text."""

    trade_id: str
    trade_date: str
    symbol: str
    ts_execution: int
    ts_report: int
    late: bool
    body: str


def insert_trade_reports(connection: Connection, reports: Sequence[NewTradeReport]) -> int:
    """Store the reports not stored yet (by `trade_id`), in their order; how many were new."""
    added = 0
    for start in range(0, len(reports), rows_per_insert_max):
        chunk = reports[start : start + rows_per_insert_max]
        ids = [report.trade_id for report in chunk]
        known = set(
            connection.scalars(
                select(trade_reports.c.trade_id).where(trade_reports.c.trade_id.in_(ids))
            )
        )
        fresh = [
            msgspec.structs.asdict(report) for report in chunk if report.trade_id not in known
        ]
        if fresh:
            connection.execute(insert(trade_reports), fresh)
        added += len(fresh)
    return added


def list_trade_reports(connection: Connection, since_id: int, limit: int) -> list[TradeReportRow]:
    """Reports after row `since_id`, oldest first, at most `limit`."""
    query = (
        select(trade_reports.c.id, trade_reports.c.trade_id, trade_reports.c.body)
        .where(trade_reports.c.id > since_id)
        .order_by(trade_reports.c.id)
        .limit(limit)
    )
    return [TradeReportRow(row.id, row.trade_id, row.body) for row in connection.execute(query)]
