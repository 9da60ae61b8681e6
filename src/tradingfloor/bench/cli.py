"""`tradingfloor bench ...`: runs that print figures. They assert nothing.

The commands: their options, what runs and the spinner while it does; what each prints is in
`report`. A benchmark's module is imported only when its command runs.
"""

from pathlib import Path
from typing import Annotated

import typer

from tradingfloor.bench import report
from tradingfloor.bench.report import console

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")


@bench_app.callback()
def topology(
    single_process: Annotated[
        bool,
        typer.Option("--single-process", help="Served benchmarks: every role in one process."),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Served benchmarks: gateway worker processes."),
    ] = None,
) -> None:
    """Benchmarks that print figures. A served benchmark (api, wrk, marketdata, signin,
    slowclients) runs `tradingfloor serve` as processes, as it runs by default, unless told."""
    from tradingfloor.bench import api

    api.serve_options[:] = ["--single-process"] if single_process else []
    if workers is not None:
        api.serve_options += ["--workers", str(workers)]


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
    profile: Annotated[
        bool, typer.Option(help="Also profile one pass and print where the time goes.")
    ] = False,
) -> None:
    """Throughput and per-command latency of the engine, events included."""
    from tradingfloor.bench import matching as bench

    with console.status("building the workload"):
        load = bench.file_workload(workload) if workload else bench.standard_workload(ops, seed)
    if write_workload:
        bench.write_workload(load, write_workload)
    results = {}
    for risk in (False, True):
        label = "risk and ledger on" if risk else "matching only"
        with console.status(f"running {load.description}, {label}"):
            results[label] = bench.run(load, risk)
    if json_out:
        print(bench.results_json(results).decode())
        return
    report.print_matching(load.description, results)
    if profile:
        console.print("where the time goes (cProfile, one more pass; its own cost inflates all):")
        print(bench.profile(load, risk=True))


@bench_app.command("journal")
def journal(
    callers: Annotated[
        list[int], typer.Option(help="Concurrent callers per level (repeat the option).")
    ] = [1, 16, 256],  # noqa: B006 (typer reads the default, nothing mutates it)
    commands: Annotated[int, typer.Option(help="Commands per level, at least.")] = 20_000,
    seconds_min: Annotated[float, typer.Option(help="Seconds per level, at least.")] = 2.0,
    seconds_max: Annotated[float, typer.Option(help="Seconds per level, at most.")] = 30.0,
    replay_ops: Annotated[
        int, typer.Option(help="Commands in the replayed journal and after the snapshot.")
    ] = 1_000_000,
    before_snapshot: Annotated[
        int, typer.Option(help="Commands journaled before the recovery snapshot.")
    ] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the standard workload.")] = 1,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where the temporary data goes (default: the temp dir)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Durable appends/s with group commit, replay speed and recovery time of the journal."""
    import tempfile

    from tradingfloor.bench import journal as bench
    from tradingfloor.bench.journal_runs import run_all

    base = directory or Path(tempfile.gettempdir())
    runs = run_all(
        base,
        callers=callers,
        commands=commands,
        seconds_min=seconds_min,
        seconds_max=seconds_max,
        replay_ops=replay_ops,
        before_snapshot=before_snapshot,
        seed=seed,
        quiet=json_out,
    )
    if json_out:
        probes = runs.probe_before + runs.probe_after
        print(bench.figures_json(runs.appends, runs.replays, probes).decode())
        return
    report.print_journal(base, runs)


@bench_app.command("jetstream")
def jetstream(
    url: Annotated[str, typer.Option(help="NATS server with JetStream.")] = (
        "nats://127.0.0.1:4222"
    ),
    seconds: Annotated[float, typer.Option(help="Seconds per concurrency level.")] = 5.0,
    replay: Annotated[int, typer.Option(help="Commands to write, then replay.")] = 100_000,
) -> None:
    """Durable appends/s and replay speed of the JetStream journal (streams are deleted after)."""
    import asyncio

    from tradingfloor.bench import jetstream as bench

    asyncio.run(bench.run(url, seconds, replay))


@bench_app.command("failover")
def failover(
    trials: Annotated[int, typer.Option(min=1, help="Primaries killed, one by one.")] = 20,
    url: Annotated[str, typer.Option(help="NATS server with JetStream.")] = (
        "nats://127.0.0.1:4222"
    ),
    submitters: Annotated[int, typer.Option(min=1, help="Concurrent callers sending orders.")] = 4,
    orders_per_second: Annotated[
        int, typer.Option(min=1, help="Orders sent per second, at most, by all callers.")
    ] = 500,
    lease_ttl_ms: Annotated[int, typer.Option(min=1, help="The shards' lease TTL.")] = 1_000,
    lease_renew_ms: Annotated[
        int, typer.Option(min=1, help="How often the primary renews its lease.")
    ] = 200,
) -> None:
    """Hot standby: time from kill -9 of a shard's primary to the first order its standby
    acknowledges, p50 and max, and what was lost (streams and buckets are deleted after)."""
    import asyncio
    import tempfile

    from tradingfloor.bench import failover as bench

    def progress(trial: int, seconds: float | None) -> None:
        if seconds is None:
            console.print(f"trial {trial}: taken over before the kill (not timed)")
        else:
            console.print(f"trial {trial}: taken over in {seconds * 1000:.0f} ms")

    with tempfile.TemporaryDirectory(prefix="tf-failover-") as root:
        result = asyncio.run(
            bench.run(
                url,
                Path(root),
                trials,
                submitters,
                progress,
                orders_per_second,
                (lease_renew_ms, lease_ttl_ms),
            )
        )
    bench.print_report(result)


@bench_app.command("ledger")
def ledger(
    commands: Annotated[int, typer.Option(help="Random commands after the setup.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of the random market.")] = 1,
) -> None:
    """A long random multi-account market with the ledger's invariants checked after every
    command; prints how many checks passed (it stops at the first that fails)."""
    from rich.progress import Progress

    from tradingfloor.bench.ledger import long_run

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("random commands, checked one by one", total=commands)
        result = long_run(commands, seed, lambda done: progress.advance(task, done))
    console.print(
        f"{result.commands:,} commands (seed {seed}) in {result.seconds:.1f} s: "
        f"{result.events:,} events, {result.trades:,} trades; {result.checks:,} invariant "
        "checks passed (after every command; every balance against the double-entry postings "
        "of all events since seq 1 every 1,000 commands and at the end)"
    )


@bench_app.command("api")
def api(
    connections: Annotated[int, typer.Option(help="Keep-alive connections, one order each.")] = 64,
    seconds: Annotated[float, typer.Option(help="How long to send orders.")] = 10.0,
) -> None:
    """Orders/s, ack latency and CPU per order of `tradingfloor serve` (fsync on) over HTTP,
    from a separate process."""
    from tradingfloor.bench import api as bench

    with console.status(f"serving and sending orders for {seconds:.0f} s"):
        result = bench.run(connections, seconds)
    report.print_api(connections, result, bench.CLIENT)


@bench_app.command("wrk")
def wrk(
    connections: Annotated[
        str, typer.Option(help="Keep-alive connections of each run, comma-separated.")
    ] = "64,256",
    seconds: Annotated[int, typer.Option(min=1, max=600, help="Seconds of each run.")] = 10,
    threads: Annotated[int, typer.Option(min=1, max=64, help="wrk's threads.")] = 2,
    warmup_seconds: Annotated[
        int, typer.Option(min=0, max=600, help="An unreported run first, at the first count.")
    ] = 2,
    script: Annotated[
        Path | None, typer.Option(help="wrk's Lua script (default: the packaged orders.lua).")
    ] = None,
    show_output: Annotated[bool, typer.Option(help="Also print wrk's own output.")] = False,
) -> None:
    """Orders/s, ack latency and CPU per order of `tradingfloor serve` (fsync on) under wrk:
    1-share IOC limit orders on POST /v1/orders that each fill one share."""
    from tradingfloor.bench import wrk as bench

    _require_wrk()
    counts = _counts_option(connections, "--connections")
    runs_s = warmup_seconds + seconds * len(counts)
    with console.status(f"serving; wrk for {runs_s} s in all"):
        figures = bench.run(counts, seconds, script or bench.SCRIPT, threads, warmup_seconds)
    report.print_wrk(figures, seconds, show_output)


@bench_app.command("cluster")
def cluster(
    shards: Annotated[
        str, typer.Option(help="Symbol shards of each cluster, comma-separated, in turn.")
    ] = "1,2",
    seconds: Annotated[int, typer.Option(min=1, max=600, help="Seconds of each run.")] = 10,
    connections: Annotated[
        int, typer.Option(min=1, max=10_000, help="wrk's keep-alive connections.")
    ] = 64,
    redis_url: Annotated[
        str, typer.Option(help="The Redis the gateways share their rate limits through.")
    ] = "redis://127.0.0.1:6379/0",
    warmup_seconds: Annotated[
        int, typer.Option(min=0, max=600, help="An unreported wrk run first, in each cluster.")
    ] = 2,
    show_output: Annotated[bool, typer.Option(help="Also print wrk's own output.")] = False,
) -> None:
    """Orders/s, ack latency and CPU per order of each role of a local cluster (`cluster up`:
    private NATS, file journals with fsync, two gateways) of 1 shard, then 2, under wrk with
    the same orders spread over as many symbols as the most shards."""
    from tradingfloor.bench import cluster as bench

    _require_wrk()
    counts = _counts_option(shards, "--shards")
    with console.status(f"clusters of {shards} shards in turn; wrk for {seconds} s in each"):
        figures = bench.run(counts, seconds, connections, redis_url, warmup_seconds)
    report.print_cluster(figures, show_output)


@bench_app.command("signin")
def signin(
    connections: Annotated[int, typer.Option(help="Order connections, one order each.")] = 8,
    seconds: Annotated[float, typer.Option(help="How long each run sends orders.")] = 10.0,
    flood_connections: Annotated[int, typer.Option(help="Connections of the sign-in flood.")] = 32,
) -> None:
    """Other users' order acks while sign-ins are flooded with wrong passwords, from one
    source address and from sources that rotate when blocked (a separate process)."""
    from tradingfloor.bench import signin as bench

    with console.status(f"serving; three runs of {seconds:.0f} s"):
        runs = bench.run(connections, seconds, flood_connections)
    report.print_signin(connections, flood_connections, runs)


@bench_app.command("slowclients")
def slowclients(
    slow: Annotated[
        int, typer.Option(min=1, max=10_000, help="Slow connections held by the attacker.")
    ] = 2_000,
    connections: Annotated[
        int, typer.Option(min=1, max=1_000, help="Other users' keep-alive connections.")
    ] = 16,
    seconds: Annotated[
        float, typer.Option(min=1, max=120, help="How long each measurement lasts.")
    ] = 10.0,
    trickle_s: Annotated[
        float, typer.Option(min=0.05, max=60, help="About how often a slow client sends a byte.")
    ] = 1.0,
) -> None:
    """Order-ack latency and orders/s of other users of `tradingfloor serve` while slow clients
    (slowloris) hold connections from another process, and the same without them."""
    from tradingfloor.bench import slowclients as bench

    with console.status(f"serving; measuring alone, then under {slow:,} slow connections"):
        result = bench.run(slow, connections, seconds, trickle_s)
    report.print_slowclients(slow, connections, result)


@bench_app.command("marketdata")
def marketdata(
    clients: Annotated[int, typer.Option(help="WebSocket clients to open.")] = 1_000,
    pro_fraction: Annotated[float, typer.Option(help="Share of them on the pro tier.")] = 0.9,
    seconds: Annotated[float, typer.Option(help="How long to measure.")] = 20.0,
    orders_per_second: Annotated[
        float, typer.Option(help="Orders sent over HTTP on top of the demo market.")
    ] = 100.0,
    client_processes: Annotated[
        int, typer.Option(min=1, help="Processes the clients are spread over.")
    ] = 2,
    direct: Annotated[
        bool,
        typer.Option(
            help="Clients connect to the market-data role's own port (serve --marketdata-port) "
            "rather than through the gateways."
        ),
    ] = False,
) -> None:
    """Lag of WebSocket quotes and trades from `tradingfloor serve --demo` (separate process)
    to many subscribers: from the event's engine time and from the flush that sent it."""
    from tradingfloor.bench import marketdata as bench

    with console.status(f"serving, connecting {clients:,} clients, measuring {seconds:.0f} s"):
        result = bench.run(
            clients, pro_fraction, seconds, orders_per_second, client_processes, direct
        )
    report.print_marketdata(clients, result, direct)


def _counts_option(text: str, option: str) -> list[int]:
    """Whole numbers >= 1 separated by commas, else a usage error naming `option`."""
    try:
        counts = [int(count) for count in text.split(",")]
    except ValueError:
        raise typer.BadParameter("numbers separated by commas", param_hint=option) from None
    if not counts or min(counts) < 1:
        raise typer.BadParameter("numbers of at least 1", param_hint=option)
    return counts


def _require_wrk() -> None:
    """Exit 2, saying how to install it, when wrk is not on PATH."""
    import shutil

    if shutil.which("wrk") is None:
        console.print(
            "wrk is not installed: `apt-get install wrk` (Debian, Ubuntu), `brew install wrk` "
            "(macOS), or build it from https://github.com/wg/wrk",
            highlight=False,
        )
        raise typer.Exit(2)


@bench_app.command("settlement")
def settlement(
    fills: Annotated[int, typer.Option(min=1, help="Fills in the trading day.")] = 1_000_000,
    accounts: Annotated[int, typer.Option(min=2, help="Accounts trading.")] = 100_000,
    symbols: Annotated[int, typer.Option(min=1, help="Symbols traded.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the trading day.")] = 1,
) -> None:
    """A day of fills netted, submitted to the clearinghouse, confirmed, settled at T+2 and
    reconciled by the settlement role: seconds per step and peak memory."""
    from tradingfloor.bench.settlement import bench_settlement

    with console.status(f"a trading day of {fills:,} fills, then its end of day and T+2"):
        result = bench_settlement(fills, accounts, symbols, seed)
    for line in result.lines():
        console.print(line, highlight=False, soft_wrap=True)


@bench_app.command("surveillance")
def surveillance(
    seed: Annotated[int, typer.Option(help="Seed of the market and of the plants.")] = 1,
    traders: Annotated[int, typer.Option(min=1, max=100, help="Noise traders.")] = 6,
    minutes: Annotated[
        int, typer.Option(min=6, max=390, help="Simulated minutes up to the close.")
    ] = 30,
) -> None:
    """The surveillance detectors on a seeded simulated market with planted wash trades,
    spoofing, marking the close and order-entry abuse: recall and precision per pattern."""
    from tradingfloor.bench.surveillance import bench_surveillance

    with console.status(f"{minutes} simulated minutes of trading, then the detectors"):
        result = bench_surveillance(seed, traders, minutes)
    for line in result.lines():
        console.print(line, highlight=False, soft_wrap=True)


@bench_app.command("exports")
def exports(
    fills: Annotated[
        str, typer.Option(help="Fills in the day, comma-separated for several runs.")
    ] = "100000,1000000",
) -> None:
    """`tradingfloor export fills` of a day of fills as CSV and Parquet: rows per second,
    file size and the exporting process's peak memory."""
    from tradingfloor.bench.exports import bench_exports

    counts = _counts_option(fills, "--fills")
    with console.status(f"exports of {', '.join(f'{count:,}' for count in counts)} fills"):
        runs = bench_exports(counts)
    for run in runs:
        console.print(run.line(), highlight=False, soft_wrap=True)


@bench_app.command("quality")
def quality(
    commands: Annotated[int, typer.Option(min=1_000, help="Commands in the flow.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the flow.")] = 1,
) -> None:
    """The projector on a flow of limit orders and cancels (arrival quotes and price levels
    included), then the month's Rule 605 and 606 reports from its read model."""
    from tradingfloor.bench.quality import bench_quality

    with console.status(f"a flow of {commands:,} commands, projected, then reported"):
        figures = bench_quality(commands, seed)
    for line in figures.lines():
        console.print(line, highlight=False, soft_wrap=True)
