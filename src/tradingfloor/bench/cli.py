"""`tradingfloor bench ...`: runs that print figures. They assert nothing."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")
console = Console()


@bench_app.command("matching")
def matching(
    ops: Annotated[int, typer.Option(help="Operations in the standard workload.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of the standard workload.")] = 1,
    workload: Annotated[
        Path | None, typer.Option(help="JSON lines of conformance steps to run instead.")
    ] = None,
    write_workload: Annotated[
        Path | None, typer.Option(help="Also write the workload as JSON lines here.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Throughput and per-command latency of the engine, events included."""
    from tradingfloor.bench import matching as bench

    with console.status("building the workload"):
        load = bench.file_workload(workload) if workload else bench.standard_workload(ops, seed)
    if write_workload:
        bench.write_workload(load, write_workload)
    with console.status(f"running {load.description}"):
        result = bench.run(load)
    if json_out:
        print(bench.result_json(result).decode())
        return
    table = Table(title=f"bench matching: {load.description}")
    for column in ("ops/s", "p50 µs", "p99 µs", "p99.9 µs", "traded qty", "trades", "events"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result.ops_per_second:,.0f}",
        f"{result.percentile_us(0.50):.2f}",
        f"{result.percentile_us(0.99):.2f}",
        f"{result.percentile_us(0.999):.2f}",
        f"{result.traded_qty:,}",
        f"{result.trades:,}",
        f"{result.events:,}",
    )
    console.print(table)
    console.print(
        f"{result.ops:,} ops in {result.seconds:.3f} s; {result.live_orders:,} orders live at "
        f"the end; latencies include ~{bench.clock_overhead_ns()} ns of clock reading"
    )
