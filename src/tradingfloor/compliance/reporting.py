"""The reporting role: every shard's feed into trade reports and the CAT-style order-event
file, under `data_dir/reports/` (`trades/YYYY-MM-DD.jsonl`, `cat/YYYY-MM-DD.jsonl`, and the
place it has written up to, `place.json`), and the trade reports into SQL for the admin
stream.

At each start the role reads every feed from seq 1 (as the settlement role does): the CAT
file needs each order's terms and what is left of it, which only the order's earlier events
say. Seqs up to the saved place only rebuild that; lines are made for the seqs after it. A
batch's lines are written and fsynced, its reports stored in SQL (skipped when stored
already), and then the place saved (`daily_files`): no gap and no repeat after a crash.

A report's time is when the role made it: reports of a feed read long after its trades (the
role was down) are late, and say so.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec

from tradingfloor.compliance.cat_events import CatEvents
from tradingfloor.compliance.daily_files import DailyFiles, load_place, restore, save_place
from tradingfloor.compliance.report_time import trade_date
from tradingfloor.compliance.trade_reports import TradeReport, TradeReporter
from tradingfloor.service.feed_follower import FeedFollower
from tradingfloor.service.ports import EventBatch, ShardPort
from tradingfloor.store.trade_reports import NewTradeReport

log = logging.getLogger("tradingfloor.reporting")

TRADES = "trades"
CAT = "cat"
OUTPUTS = (TRADES, CAT)
_encoder = msgspec.json.Encoder(decimal_format="number")


class ReportSink(Protocol):
    """Where trade reports go besides the file (the SQL table)."""

    def store(self, reports: Sequence[NewTradeReport]) -> None: ...

    def close(self) -> None: ...


class ReportingRole:
    def __init__(
        self,
        shards: Mapping[str, ShardPort],
        directory: Path,
        reporter: TradeReporter,
        cat: CatEvents,
        sink: ReportSink | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.shards = dict(shards)
        self.directory = directory
        self.reporter = reporter
        self.cat = cat
        self.sink = sink
        self.clock = clock
        self.reports_written = 0
        self.records_written = 0
        self.follower: FeedFollower | None = None
        self._files: DailyFiles | None = None
        self._written: dict[str, int] = {}

    async def start(self) -> None:
        """Cut the files back to the saved place and follow every feed from seq 1."""
        self.directory.mkdir(parents=True, exist_ok=True)
        place = await asyncio.to_thread(load_place, self.directory)
        await asyncio.to_thread(restore, self.directory, OUTPUTS, place)
        self._written = dict(place.positions)
        self._files = DailyFiles(self.directory, place)
        self.follower = FeedFollower(self.shards, self._handle)
        self.follower.start()

    async def caught_up(self, wait_s: float) -> None:
        """Return once every feed is written up to its shard's seq at the time of asking."""
        if self.follower is None:
            raise RuntimeError("the reporting role is not started")
        await self.follower.caught_up(wait_s)

    @property
    def failure(self) -> BaseException | None:
        return None if self.follower is None else self.follower.failure

    async def wait_failure(self) -> None:
        """Return once writing has failed (the role stopped; `failure` says why)."""
        if self.follower is None:
            raise RuntimeError("the reporting role is not started")
        await self.follower.done.wait()

    async def stop(self) -> None:
        if self.follower is not None:
            await self.follower.stop()
        if self.sink is not None:
            self.sink.close()

    async def _handle(self, shard: str, batch: EventBatch) -> None:
        files = self._files
        if files is None:
            raise RuntimeError("the reporting role is not started")
        written = self._written.get(shard, 0)
        reports: list[TradeReport] = []
        ts_report = self.clock()
        for seq, ts, events in batch:
            records = self.cat.records(shard, seq, ts, events)
            if seq <= written:  # written before the last stop: its state only
                continue
            for record in records:
                files.add(CAT, trade_date(ts), _encoder.encode(record) + b"\n")
            reports.extend(self.reporter.reports(shard, seq, events, ts_report))
            self.records_written += len(records)
        for report in reports:
            files.add(TRADES, report.trade_date, _encoder.encode(report) + b"\n")
        last = batch[-1][0]
        if last <= written:
            return
        self._written[shard] = last
        files.place.positions[shard] = last
        if files.pending or reports:
            await asyncio.to_thread(self._commit, files, reports)

    def _commit(self, files: DailyFiles, reports: list[TradeReport]) -> None:
        files.write()
        if self.sink is not None and reports:
            self.sink.store([stored(report) for report in reports])
        save_place(self.directory, files.place)
        self.reports_written += len(reports)


def stored(report: TradeReport) -> NewTradeReport:
    return NewTradeReport(
        report.trade_id,
        report.trade_date,
        report.symbol,
        report.ts_execution,
        report.ts_report,
        report.late,
        _encoder.encode(report).decode(),
    )


class SqlReportSink:
    """The trade reports table of `database_url`. With SQLite, each write takes the write
    lock at its BEGIN (`BEGIN IMMEDIATE`): its read of the ids stored already and its insert
    see one state, however the projector writes beside it."""

    def __init__(self, database_url: str) -> None:
        from tradingfloor.store.database import SQLITE_BEGIN_OPTION, make_engine

        self._engine: Any = make_engine(database_url)
        self.engine: Any = self._engine.execution_options(
            **{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"}
        )

    def store(self, reports: Sequence[NewTradeReport]) -> None:
        from tradingfloor.store.trade_reports import insert_trade_reports

        with self.engine.begin() as connection:
            insert_trade_reports(connection, reports)

    def close(self) -> None:
        self._engine.dispose()
