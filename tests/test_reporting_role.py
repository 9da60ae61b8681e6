"""The reporting role on a hand-built feed: both daily files and the table, and a crash
mid-way (lines written, the place not saved) followed by a restart: nothing repeated,
nothing missed."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import tradingfloor.compliance.reporting as reporting
from report_feed import PRINCIPAL, FeedShard, in_batches, morning, ts_of
from tradingfloor.compliance.cat_check import check_cat_files
from tradingfloor.compliance.cat_events import CatEvents
from tradingfloor.compliance.daily_files import ReportFilesDamaged, load_place
from tradingfloor.compliance.reporting import ReportingRole, SqlReportSink
from tradingfloor.compliance.trade_reports import TradeReporter
from tradingfloor.risk.calendar import calendar_for
from tradingfloor.store import make_engine, trade_reports, upgrade

WAIT_S = 30.0
DAY = "2026-12-03"


def make_role(directory: Path, shard: FeedShard, sink: Any = None) -> ReportingRole:
    reporter = TradeReporter("TFLR", calendar_for(), 10_000, PRINCIPAL)
    return ReportingRole(
        {"main": shard},
        directory,
        reporter,
        CatEvents("TFLR", PRINCIPAL),
        sink,
        clock=lambda: ts_of(14),  # 11 s after seq 3's trades, 9 s after seq 5's
    )


async def run_to_end(role: ReportingRole) -> None:
    await role.start()
    try:
        await asyncio.wait_for(role.caught_up(WAIT_S), WAIT_S)
    finally:
        await role.stop()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url


async def test_the_role_writes_both_files_and_the_table(tmp_path: Path, database: str) -> None:
    sink = SqlReportSink(database)
    directory = tmp_path / "reports"

    await run_to_end(make_role(directory, FeedShard(in_batches(morning(), 3)), sink))

    trades = lines(directory / "trades" / f"{DAY}.jsonl")
    assert [trade["trade_id"] for trade in trades] == ["main-3-1", "main-3-2", "main-5-1"]
    assert [trade["late"] for trade in trades] == [True, True, False]
    assert [trade["modifiers"] for trade in trades] == [["Z"], ["Z"], []]
    cat = check_cat_files([directory / "cat" / f"{DAY}.jsonl"])
    assert cat.problems == [] and cat.records == 12 and list(cat.open_orders) == ["7"]
    assert load_place(directory).positions == {"main": 10}
    with make_engine(database).connect() as connection:
        stored = connection.execute(select(trade_reports.c.trade_id).order_by("id")).scalars()
        assert list(stored) == ["main-3-1", "main-3-2", "main-5-1"]


async def test_a_crash_after_the_lines_before_the_place_repeats_nothing(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "reports"
    shard = FeedShard(in_batches(morning(), 3))
    saves = []
    save_place = reporting.save_place

    def crash_on_the_second(where: Path, place: Any) -> None:
        saves.append(dict(place.positions))
        if len(saves) == 2:
            raise OSError("the machine stopped here")
        save_place(where, place)

    monkeypatch.setattr(reporting, "save_place", crash_on_the_second)
    sink = SqlReportSink(database)
    crashed = make_role(directory, shard, sink)
    await crashed.start()
    await asyncio.wait_for(crashed.wait_failure(), WAIT_S)
    await crashed.stop()
    assert isinstance(crashed.failure, OSError)
    assert load_place(directory).positions == {"main": 3}
    assert len(lines(directory / "trades" / f"{DAY}.jsonl")) == 3  # 5-1 written, not saved
    monkeypatch.setattr(reporting, "save_place", save_place)

    await run_to_end(make_role(directory, shard, sink))

    trades = lines(directory / "trades" / f"{DAY}.jsonl")
    assert [trade["trade_id"] for trade in trades] == ["main-3-1", "main-3-2", "main-5-1"]
    cat = check_cat_files([directory / "cat" / f"{DAY}.jsonl"])
    assert cat.problems == [] and cat.records == 12
    with make_engine(database).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(trade_reports)) == 3


async def test_a_torn_line_past_the_place_is_cut_and_written_again(tmp_path: Path) -> None:
    directory = tmp_path / "reports"
    shard = FeedShard(in_batches(morning(), 4))
    await run_to_end(make_role(directory, shard))
    trades = directory / "trades" / f"{DAY}.jsonl"
    whole = trades.read_bytes()
    with open(trades, "ab") as out:
        out.write(b'{"trade_id": "main-')  # a write the crash cut short

    await run_to_end(make_role(directory, shard))

    assert trades.read_bytes() == whole


async def test_a_file_shorter_than_its_place_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "reports"
    shard = FeedShard(in_batches(morning(), 4))
    await run_to_end(make_role(directory, shard))
    cat = directory / "cat" / f"{DAY}.jsonl"
    cat.write_bytes(cat.read_bytes()[:-10])

    with pytest.raises(ReportFilesDamaged, match="were written before the last stop"):
        await make_role(directory, shard).start()
