"""The tables and lines `tradingfloor bench ...` prints, one function per benchmark.

Each takes what its benchmark returns (`matching.BenchResult`, `journal_runs.JournalRuns`,
`api.ApiBenchResult`, `wrk.WrkBench`, `cluster.ClusterBench`, `signin.FloodRun`,
`slowclients.SlowClientsResult`, `marketdata.MarketDataBenchResult`) and prints it on
`console`; `bench api`, `bench wrk` and `bench cluster` share the table of CPU per order by
process (`cpu.CpuReport`). Tests read these tables.
"""

import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def print_matching(description: str, results: dict[str, Any]) -> None:
    """`bench matching`: a row per engine (matching only, risk and ledger on)."""
    from tradingfloor.bench.matching import clock_overhead_ns

    table = Table(title=f"bench matching: {description}")
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
        f"matching-only throughput; latencies include ~{clock_overhead_ns()} ns of "
        "clock reading"
    )


def print_journal(base: Path, runs: Any) -> None:
    """`bench journal`: the fdatasync probe of `base`, the appends, replay and recovery."""
    from tradingfloor.bench.matching import percentile

    probe_before, probe_after = runs.probe_before, runs.probe_after
    console.print(
        f"fdatasync of an 11 KB append in {base}, before/after the append runs: p50 "
        f"{percentile(probe_before, 0.5) / 1e3:.0f}/{percentile(probe_after, 0.5) / 1e3:.0f} µs,"
        f" p99 {percentile(probe_before, 0.99) / 1e3:.0f}/"
        f"{percentile(probe_after, 0.99) / 1e3:.0f} µs",
        highlight=False,
    )
    _print_journal_figures(runs.appends, runs.replays)


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


def print_api(connections: int, result: Any, client: str) -> None:
    """`bench api`: orders/s, ack latency, answers and order states; CPU when measured."""
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
        _print_cpu([run], "bench api", client, result.idle_cpu)


def print_wrk(figures: Any, seconds: int, show_output: bool) -> None:
    """`bench wrk`: a row per run, then the CPU of each."""
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


def print_cluster(bench: Any, show_output: bool) -> None:
    """`bench cluster`: a row per shard count, the CPU per order of each role, the ratio."""
    table = Table(
        title=f"bench cluster: POST /v1/orders, 1-share IOC over {bench.runs[0].markets} "
        f"symbols, {bench.connections} connections, {bench.seconds} s a run, fsync on"
    )
    columns = ["shards", "orders", "orders/s", "ack p50 ms", "p90 ms", "p99 ms", "p99.9 ms"]
    columns += ["non-2xx", "socket errors"]
    for column in columns:
        table.add_column(column, justify="right")
    for shard_run in bench.runs:
        run = shard_run.run
        percentiles = [f"{latency_us / 1e3:.2f}" for latency_us in run.latencies_us.values()]
        errors = ", ".join(f"{name} {n:,}" for name, n in run.socket_errors.items() if n)
        table.add_row(
            f"{shard_run.shards}",
            f"{run.requests:,}",
            f"{run.orders_per_second:,.0f}",
            *percentiles,
            f"{run.non_2xx:,}",
            errors or "0",
        )
    console.print(table)
    for shard_run in bench.runs:
        if shard_run.run.non_2xx:
            console.print(
                f"[bold red]NOT EVERY ORDER WAS ANSWERED 2xx with {shard_run.shards} shard(s): "
                f"{shard_run.run.non_2xx:,} non-2xx answers; the figures are not valid[/]"
            )
            for line in shard_run.run.threads:
                console.print(f"  {line}", highlight=False, markup=False)
    for shard_run in bench.runs:  # each cluster with its own idle figures
        cpu_run = (f"{shard_run.shards}", shard_run.run.cpu, shard_run.run.requests)
        _print_cpu(
            [cpu_run], "bench cluster", "wrk", shard_run.idle, "shards", "timers and heartbeats"
        )
    ratio = bench.ratio(2)
    if ratio is not None:
        console.print(f"orders/s with 2 shards / with 1 shard: {ratio:.2f}", highlight=False)
    one, five, fifteen = bench.load_average
    console.print(
        "The gateways, the shards, every other role and wrk share this machine's "
        f"{os.cpu_count()} cores: the CPU per order of each role is the figure that carries "
        f"over to other machines, not orders/s. Load average before the runs: {one:.2f}, "
        f"{five:.2f}, {fifteen:.2f}.",
        highlight=False,
    )
    if show_output:
        for shard_run in bench.runs:
            console.print(shard_run.run.output, highlight=False, markup=False)


def _print_cpu(
    runs: list[tuple[str, Any, int]],
    title: str,
    load: str,
    idle: Any | None,
    label: str = "connections",
    at_rest_is: str = "the demo's simulated market and timers",
) -> None:
    """CPU per order of each role of each run (`bench.cpu.CpuReport`), also less what the
    server uses with no orders (`idle`), and what the machine's other processes used; each
    run's rows are under `label` (its first column)."""
    table = Table(title=f"{title}: CPU per order by process (user + system, from /proc)")
    columns = [label, "role", "processes", "CPU s", "cores", "µs per order"]
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
            f"{at_rest_is}, over {idle.wall_s:.0f} s before the runs)"
        )
    console.print("; ".join(notes), highlight=False)


def print_signin(connections: int, flood_connections: int, runs: list[Any]) -> None:
    """`bench signin`: other users' order acks with no flood, then under each flood."""
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


def print_slowclients(slow: int, connections: int, result: Any) -> None:
    """`bench slowclients`: other users' orders alone and under attack, then the attacker's
    connections."""
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


def print_marketdata(clients: int, result: Any, direct: bool) -> None:
    """`bench marketdata`: a row per tier (lags in ms), then the dropped clients."""
    way = "direct to the market-data role" if direct else "through the gateways"
    table = Table(
        title=f"bench marketdata: {clients:,} clients ({way}), {result.seconds:.1f} s, "
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
