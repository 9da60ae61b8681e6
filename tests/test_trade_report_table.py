"""The trade reports table on SQLite and a real PostgreSQL: a report stored twice is one row,
rows page in order by id."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from postgres_db import scratch_database
from tradingfloor.compliance.reporting import SqlReportSink
from tradingfloor.store import make_engine, upgrade
from tradingfloor.store.trade_reports import NewTradeReport, list_trade_reports


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        yield url
        return
    with scratch_database() as url:
        upgrade(url)
        yield url


def report(trade_id: str, ts: int) -> NewTradeReport:
    body = f'{{"trade_id": "{trade_id}"}}'
    return NewTradeReport(trade_id, "2026-12-03", "AAPL", ts, ts + 1_000, False, body)


def test_each_report_is_stored_once_and_paged_in_order(database_url: str) -> None:
    sink = SqlReportSink(database_url)
    sink.store([report("main-3-1", 1), report("main-3-2", 1)])
    sink.store([report("main-3-2", 1), report("main-5-1", 2)])  # again after a restart
    sink.close()
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            first = list_trade_reports(connection, 0, 2)
            rest = list_trade_reports(connection, first[-1].id, 2)
    finally:
        engine.dispose()

    assert [row.trade_id for row in first + rest] == ["main-3-1", "main-3-2", "main-5-1"]
    assert rest[0].body == '{"trade_id": "main-5-1"}'
    assert first[0].id < first[1].id < rest[0].id
