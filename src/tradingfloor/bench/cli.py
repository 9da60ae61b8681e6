"""`tradingfloor bench ...`: runs that print figures. They assert nothing."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")
console = Console()


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
    table = Table(title=f"bench matching: {load.description}")
    columns = ("engine", "ops/s", "p50 µs", "p99 µs", "p99.9 µs", "traded qty", "trades", "events")
    for column in columns:
        table.add_column(column, justify="right")
    for label, result in results.items():
        table.add_row(
            label,
            f"{result.ops_per_second:,.0f}",
            f"{result.percentile_us(0.50):.2f}",
            f"{result.percentile_us(0.99):.2f}",
            f"{result.percentile_us(0.999):.2f}",
            f"{result.traded_qty:,}",
            f"{result.trades:,}",
            f"{result.events:,}",
        )
    console.print(table)
    plain, risky = results["matching only"], results["risk and ledger on"]
    console.print(
        f"{plain.ops:,} ops per pass; {plain.live_orders:,} orders live at the end; "
        f"with risk and ledger: {risky.ops_per_second / plain.ops_per_second:.0%} of the "
        f"matching-only throughput; latencies include ~{bench.clock_overhead_ns()} ns of "
        "clock reading"
    )
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
    import shutil
    import tempfile

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from tradingfloor.bench import journal as bench
    from tradingfloor.bench.matching import percentile, standard_workload

    base = directory or Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tradingfloor-bench-journal-", dir=base))
    levels = [(n, True) for n in callers] + [(max(callers), False)]
    progress = Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        refresh_per_second=4,
        disable=json_out,
    )
    try:
        with progress:
            task = progress.add_task("building the workload", total=None)
            workload = standard_workload(before_snapshot + replay_ops, seed)
            progress.update(task, total=1, completed=1)
            probe_before = bench.probe_fdatasync(work)
            appends = []
            for count, fsync in levels:
                label = (
                    f"{count} caller{'s' if count > 1 else ''}, fsync {'on' if fsync else 'off'}"
                )
                task = progress.add_task(label, total=commands)
                figures = bench.run_appends(
                    work / f"appends-{count}-{'fsync' if fsync else 'nofsync'}",
                    workload,
                    count,
                    fsync,
                    commands,
                    seconds_min,
                    seconds_max,
                    _tracker(progress, task),
                )
                progress.update(task, total=figures.commands, completed=figures.commands)
                appends.append(figures)
            probe_after = bench.probe_fdatasync(work)
            replays = _replays(bench, workload, work, replay_ops, before_snapshot, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if json_out:
        print(bench.figures_json(appends, replays, probe_before + probe_after).decode())
        return
    console.print(
        f"fdatasync of an 11 KB append in {base}, before/after the append runs: p50 "
        f"{percentile(probe_before, 0.5) / 1e3:.0f}/{percentile(probe_after, 0.5) / 1e3:.0f} µs,"
        f" p99 {percentile(probe_before, 0.99) / 1e3:.0f}/"
        f"{percentile(probe_after, 0.99) / 1e3:.0f} µs",
        highlight=False,
    )
    _print_journal_figures(appends, replays)


def _replays(
    bench: Any,
    workload: Any,
    work: Path,
    replay_ops: int,
    before_snapshot: int,
    progress: Any,
) -> list[Any]:
    """Write the two journals (and the snapshot), then time replay and recovery."""
    from tradingfloor.journal.snapshots import SnapshotStore

    snapshot_seq = 1 + before_snapshot
    last = 1 + before_snapshot + replay_ops
    task = progress.add_task("engine state at the snapshot, hashes", total=None)
    all_entries = bench.entries(workload, last)
    state, hashes = bench.shadow(all_entries, snapshot_seq, {replay_ops, last})
    progress.update(task, total=1, completed=1)
    task = progress.add_task("writing the replay journal", total=replay_ops)
    bench.write_journal(
        work / "replay" / "journal",
        bench.entries(workload, replay_ops),
        _tracker(progress, task),
    )
    progress.update(task, completed=replay_ops)
    task = progress.add_task("writing the recovery journal", total=last)
    bench.write_journal(
        work / "recovery" / "journal",
        bench.entries(workload, last),
        _tracker(progress, task),
    )
    SnapshotStore(work / "recovery" / "snapshots").write(snapshot_seq, state)
    progress.update(task, completed=last)
    task = progress.add_task("replaying and recovering", total=3)
    fresh = bench.in_fresh_process
    replays = [fresh(bench.time_recover, work / "replay", hashes[replay_ops])]
    progress.update(task, completed=1)
    replays.append(
        fresh(bench.time_read_and_apply, work / "replay" / "journal", hashes[replay_ops])
    )
    progress.update(task, completed=2)
    replays.append(fresh(bench.time_recover, work / "recovery", hashes[last]))
    progress.update(task, completed=3)
    return replays


def _tracker(progress: Any, task: Any) -> Callable[[int], None]:
    def advance(done: int) -> None:
        progress.update(task, completed=done)

    return advance


def _print_journal_figures(appends: list[Any], replays: list[Any]) -> None:
    table = Table(title="bench journal: durable appends through Sequencer + FileJournal")
    for column in ("callers", "fsync", "commands", "appends/s", "p50 µs", "p99 µs", "batch"):
        table.add_column(column, justify="right")
    for a in appends:
        table.add_row(
            f"{a.callers}",
            "per batch" if a.fsync else "off",
            f"{a.commands:,}",
            f"{a.per_second:,.0f}",
            f"{a.percentile_us(0.50):,.0f}",
            f"{a.percentile_us(0.99):,.0f}",
            f"{a.mean_batch:.1f}",
        )
    console.print(table)
    durable = [a for a in appends if a.fsync and a.callers == appends[-1].callers]
    if durable:
        ratio = durable[0].per_second / appends[-1].per_second
        verdict = "met" if ratio >= 0.80 else "MISSED"
        console.print(
            f"durable / no-fsync at {appends[-1].callers} callers: {ratio:.0%} "
            f"(target ≥ 80%: {verdict})"
        )
    table = Table(title="bench journal: replay and recovery (fresh process, warm page cache)")
    table.add_column("what", no_wrap=True)
    for column in ("commands", "s", "cpu s", "commands/s", "hash"):
        table.add_column(column, justify="right")
    for r in replays:
        table.add_row(
            r.what,
            f"{r.commands:,}",
            f"{r.seconds:.3f}",
            f"{r.cpu_seconds:.3f}",
            f"{r.per_second:,.0f}",
            "ok" if r.state_hash_ok else "WRONG",
        )
    console.print(table)
    console.print("hash ok: the replayed engine's state hash equals the live engine's")
    recovery = replays[-1]
    verdict = "met" if recovery.seconds <= 3.0 else "MISSED"
    console.print(f"recovery: {recovery.seconds:.2f} s (target ≤ 3 s: {verdict})")


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
    table = Table(title=f"bench api: {connections} connections, {result.seconds:.1f} s, fsync on")
    for column in ("orders/s", "ack p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "answers"):
        table.add_column(column, justify="right")
    table.add_row(*_ack_cells(result, (0.50, 0.95, 0.99, 0.999)), _counts(result.statuses))
    console.print(table)
    states = ", ".join(f"{state} {count:,}" for state, count in result.order_states.most_common())
    refused = ", ".join(f"code {code}: {count:,}" for code, count in result.refusals.most_common())
    console.print(f"{result.orders:,} orders answered; order states: {states}")
    if refused:
        console.print(f"refused: {refused}")
    if result.cpu is not None:
        run = (f"{connections}", result.cpu, result.orders)
        _print_cpu([run], "bench api", bench.CLIENT, result.idle_cpu)


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
    import shutil

    from tradingfloor.bench import wrk as bench

    if shutil.which("wrk") is None:
        console.print(
            "wrk is not installed: `apt-get install wrk` (Debian, Ubuntu), `brew install wrk` "
            "(macOS), or build it from https://github.com/wg/wrk",
            highlight=False,
        )
        raise typer.Exit(2)
    try:
        counts = [int(count) for count in connections.split(",")]
    except ValueError:
        raise typer.BadParameter(
            "numbers separated by commas", param_hint="--connections"
        ) from None
    if not counts or min(counts) < 1:
        raise typer.BadParameter("at least one connection per run", param_hint="--connections")
    runs_s = warmup_seconds + seconds * len(counts)
    with console.status(f"serving; wrk for {runs_s} s in all"):
        figures = bench.run(counts, seconds, script or bench.SCRIPT, threads, warmup_seconds)
    _print_wrk(figures, seconds, show_output)


def _print_wrk(figures: Any, seconds: int, show_output: bool) -> None:
    runs = figures.runs
    table = Table(title=f"bench wrk: POST /v1/orders, 1-share IOC, {seconds} s a run, fsync on")
    columns = ["connections", "orders", "orders/s", "ack p50 ms", "p90 ms", "p99 ms", "p99.9 ms"]
    columns += ["non-2xx", "socket errors"]
    for column in columns:
        table.add_column(column, justify="right")
    for run in runs:
        percentiles = [f"{latency_us / 1e3:.2f}" for latency_us in run.latencies_us.values()]
        errors = ", ".join(
            f"{name} {count:,}" for name, count in run.socket_errors.items() if count
        )
        table.add_row(
            f"{run.connections}",
            f"{run.requests:,}",
            f"{run.orders_per_second:,.0f}",
            *percentiles,
            f"{run.non_2xx:,}",
            errors or "0",
        )
    console.print(table)
    cpu_runs = [(f"{run.connections}", run.cpu, run.requests) for run in runs]
    _print_cpu(cpu_runs, "bench wrk", "wrk", figures.idle)
    if show_output:
        for run in runs:
            console.print(run.output, highlight=False, markup=False)


def _print_cpu(runs: list[tuple[str, Any, int]], title: str, load: str, idle: Any | None) -> None:
    """CPU per order of each role of each run (`bench.cpu.CpuReport`), also less what the
    server uses with no orders (`idle`), and what the machine's other processes used."""
    table = Table(title=f"{title}: CPU per order by process (user + system, from /proc)")
    columns = ["connections", "role", "processes", "CPU s", "cores", "µs per order"]
    columns += ["above idle"] if idle is not None else []
    for column in columns:
        table.add_column(column, justify="right")
    for label, cpu, orders in runs:
        for role, figures in cpu.roles.items():
            cells = [label, role, f"{len(figures.pids)}", f"{figures.cpu_s:.2f}"]
            cells += [f"{cpu.cores(role):.2f}", f"{cpu.per_order_us(role, orders):.0f}"]
            if idle is not None:
                above = cpu.per_order_above_idle_us(role, orders, idle)
                cells.append("" if above is None else f"{above:.0f}")
            table.add_row(*cells)
        cores = cpu.others_s / cpu.wall_s if cpu.wall_s else 0.0
        table.add_row(label, "other processes", "", f"{cpu.others_s:.2f}", f"{cores:.2f}")
    console.print(table)
    notes = [
        f"cores: CPU s over the run's wall time; {load} is the load generator",
        "other processes: the rest of the machine, which shares the cores",
    ]
    if idle is not None:
        at_rest = ", ".join(f"{role} {idle.cores(role):.2f}" for role in idle.roles)
        notes.append(
            f"above idle: less the CPU the server uses with no orders (cores: {at_rest}; "
            f"the demo's simulated market and timers, over {idle.wall_s:.0f} s before the runs)"
        )
    console.print("; ".join(notes), highlight=False)


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
    table = Table(
        title=f"bench signin: {connections} order connections, "
        f"{flood_connections} flood connections, fsync on"
    )
    for column in ("flood", "orders/s", "ack p50 ms", "p99 ms", "p99.9 ms", "flood answers/s"):
        table.add_column(column, justify="right")
    for run in runs:
        acks = run.acks
        flood = ", ".join(
            f"{status}: {count / acks.seconds:,.0f}"
            for status, count in sorted(run.flood_answers.items())
        )
        if run.sources_used > 1:
            flood += f" ({run.sources_used} sources)"
        table.add_row(run.label, *_ack_cells(acks), flood or "-")
    console.print(table)


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
    table = Table(title=f"bench slowclients: {connections} users' connections, fsync on")
    for column in ("slow clients", "orders/s", "ack p50 ms", "p99 ms", "p99.9 ms", "answers"):
        table.add_column(column, justify="right")
    for label, figures in (("none", result.alone), (f"{slow:,}", result.attacked)):
        table.add_row(label, *_ack_cells(figures), _counts(figures.statuses))
    console.print(table)
    for label, figures in (("alone", result.alone), ("under attack", result.attacked)):
        refused = ", ".join(f"code {code}: {n:,}" for code, n in figures.refusals.most_common())
        if refused:
            console.print(f"orders refused {label}: {refused}", highlight=False)
    held = result.slow
    answers = ", ".join(f"{status}: {count:,}" for status, count in sorted(held.answers.items()))
    console.print(
        f"slow clients: {held.connections_opened:,} connections opened in all, "
        f"{held.held_mean:,.0f} open on average while measuring (at least {held.held_min:,}); "
        f"cut by the server with answers {answers or 'none'}, "
        f"{held.closed_without_answer:,} without; {held.connect_failures:,} failed to connect; "
        f"the attacker's process used {held.cpu_seconds:.1f} s of CPU",
        highlight=False,
    )


def _ack_cells(result: Any, fractions: tuple[float, ...] = (0.50, 0.99, 0.999)) -> list[str]:
    """Orders/s and ack percentiles (ms) of a `bench.api.ApiBenchResult`, as table cells."""
    percentiles = [f"{result.percentile_ms(fraction):.2f}" for fraction in fractions]
    return [f"{result.orders_per_second:,.0f}", *percentiles]


def _counts(counts: Any) -> str:
    return ", ".join(f"{key}: {count:,}" for key, count in sorted(counts.items()))


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
    table = Table(
        title=f"bench marketdata: {clients:,} clients "
        f"({'direct to the market-data role' if direct else 'through the gateways'}), "
        f"{result.seconds:.1f} s, "
        f"{result.orders_sent / result.seconds:,.0f} orders/s sent on top of the demo"
    )
    columns = ["tier", "clients", "msgs", "msg/s", "gaps", "ev p50", "ev p99"]
    columns += ["dl p50", "dl p99", "dl p99.9"]
    for column in columns:
        table.add_column(column, justify="right")
    for tier, figures in result.tiers.items():
        event, delivery = figures.event_lag_ns, figures.delivery_lag_ns
        table.add_row(
            tier,
            f"{figures.clients:,}",
            f"{figures.messages:,}",
            f"{figures.messages / result.seconds:,.0f}",
            f"{figures.gaps:,}",
            f"{figures.percentile_ms(event, 0.50):.1f}",
            f"{figures.percentile_ms(event, 0.99):.1f}",
            f"{figures.percentile_ms(delivery, 0.50):.2f}",
            f"{figures.percentile_ms(delivery, 0.99):.2f}",
            f"{figures.percentile_ms(delivery, 0.999):.2f}",
        )
    console.print(table)
    dropped = ", ".join(f"code {code}: {count:,}" for code, count in result.dropped.items())
    console.print(
        f"clients dropped: {sum(result.dropped.values()):,}{f' ({dropped})' if dropped else ''}; "
        f"failed to connect: {result.connect_failures:,}. Lags in ms. ev: event lag, from the "
        "newest event's engine time to receipt, including the conflation wait (up to 100 ms "
        "pro, 1 s retail); dl: delivery lag, from the flush that built the message to receipt.",
        highlight=False,
    )
