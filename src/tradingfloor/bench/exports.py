"""`tradingfloor bench exports`: `tradingfloor export fills` of a large read model.

A SQLite read model in a temporary directory gets `fills` fills of one trading day (rows
written straight into the `fills` table, spread over a thousand accounts and a hundred
symbols: what the projector would have written). Then the real command, in a process of its
own, exports every fill of the day as CSV and as Parquet; each run's time, rows per second,
file size and peak memory (the process's maximum resident set, from `wait4`) are printed.
Run it at two sizes to see that memory stays flat: the export streams in chunks.
"""

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tradingfloor.compliance.trade_dates import midnight_ts, parse_date
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.store.database import make_engine, upgrade
from tradingfloor.store.readmodels import fills as fills_table

DAY = "2026-11-23"
insert_rows_per_batch = 50_000


@dataclass(frozen=True)
class ExportRun:
    format: str
    rows: int
    seconds: float
    file_bytes: int
    peak_rss_bytes: int

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0.0
        return (
            f"{self.format:8} {self.rows:>10,} rows  {self.seconds:7.2f} s  {rate:>10,.0f} rows/s"
            f"  {self.file_bytes / 1e6:8.1f} MB  peak RSS {self.peak_rss_bytes / 1e6:6.0f} MB"
        )


def fill_the_day(data: Path, count: int) -> None:
    """`count` fills of `DAY` in the read model under `data`."""
    url = f"sqlite:///{data / 'tradingfloor.db'}"
    upgrade(url)
    engine = make_engine(url)
    start_ts = midnight_ts(parse_date(DAY, "day")) + 14 * 3600 * 1_000_000_000
    columns = [column.name for column in fills_table.c if column.name != "fill_id"]
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO fills ({', '.join(columns)}) VALUES ({marks})"
    try:
        with engine.begin() as connection:
            for first in range(0, count, insert_rows_per_batch):
                rows = [
                    (n, start_ts + n * 1_000, f"S{n % 100:03d}", n // 2, n // 2 + 1,
                     f"A{n % 1_000:04d}", "buy" if n % 2 else "sell",
                     100 * PRICE_SCALE + n % 997, 1 + n % 500, n % 7, "maker", 0)
                    for n in range(first, min(first + insert_rows_per_batch, count))
                ]  # fmt: skip
                connection.exec_driver_sql(sql, rows)
    finally:
        engine.dispose()


def export_run(data: Path, format: str, rows: int) -> ExportRun:
    """`tradingfloor export fills` of the day, in a process of its own."""
    out = data / f"fills.{format}"
    command = [sys.executable, "-m", "tradingfloor", "export", "fills", "--from", DAY, "--to",
               DAY, "--format", format, "--out", str(out), "--data", str(data)]  # fmt: skip
    environment = dict(os.environ)
    environment.pop("TRADINGFLOOR_DATABASE_URL", None)  # the read model is the one under data
    started = time.perf_counter()
    # Its few lines of stderr fit the pipe's buffer: read once it has ended.
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    told = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} ended with {process.returncode}: {told}")
    return ExportRun(format, rows, seconds, out.stat().st_size, usage.ru_maxrss * 1024)


def bench_exports(counts: list[int]) -> list[ExportRun]:
    """CSV and Parquet exports of a day of each of `counts` fills."""
    runs = []
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="tf-bench-exports-") as directory:
            data = Path(directory)
            fill_the_day(data, count)
            runs += [export_run(data, format, count) for format in ("csv", "parquet")]
    return runs
