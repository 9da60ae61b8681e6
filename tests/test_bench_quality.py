"""`bench quality` and `bench exports` at a small size: their flows are what they say, and
the figures are of runs that did their work (rows exported, reports made)."""

from tradingfloor.bench.exports import bench_exports
from tradingfloor.bench.quality import bench_quality


def test_a_small_flow_is_projected_and_reported() -> None:
    figures = bench_quality(commands=8_000, seed=2)
    assert figures.commands == 8_000
    assert figures.orders > 1_000 and figures.fills > 0
    assert [rule for rule, _, _ in figures.reports] == ["605", "606"]
    rows = dict((rule, rows) for rule, rows, _ in figures.reports)
    assert rows["606"] == 4 and rows["605"] > 0
    assert any(line.startswith("projector:") for line in figures.lines())


def test_a_small_day_is_exported_in_both_formats() -> None:
    runs = bench_exports([2_000])
    assert [(run.format, run.rows) for run in runs] == [("csv", 2_000), ("parquet", 2_000)]
    csv_run, parquet_run = runs
    # A header and 2,000 lines of 16 columns: more than 60 bytes a line.
    assert csv_run.file_bytes > 2_000 * 60
    assert 0 < parquet_run.file_bytes < csv_run.file_bytes
    assert all(run.peak_rss_bytes > 0 for run in runs)
