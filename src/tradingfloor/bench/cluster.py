"""`tradingfloor bench cluster`: order entry on a local cluster of 1 symbol shard, then 2.

For each shard count K the bench writes a settings file into a temporary directory and runs
`tradingfloor cluster up` on it, as an operator would: a private NATS server on a free port,
K shards (file journal, fsync on), a projector per shard (SQLite), the cash allocator (K >= 2),
the market-data role and two gateways on one port. It lists M symbols, M being the largest
K asked for, one on each shard when K = M and all on the one shard when K = 1, so that every
run sends the same load; for each symbol it makes a buyer and a seller as `bench wrk` makes
its traders, funds them and rests a large bid and ask. wrk then sends `orders.lua`'s 1-share
IOC orders spread evenly over the M markets, and `cluster down` stops everything.

The admin is made in the cluster's database before `up` (which then makes none), with an API
key made directly, so no password is printed or typed. A buyer's cash lands on its account's
home shard; a bid on another shard is refused for buying power until the cash allocator has
moved the cash there, so the resting bids are placed again until accepted (bounded).

A `CpuMeter` samples the processes `cluster status --json` names, by role, and wrk: the CPU
one order costs each role. Gateways, shards and wrk share this machine's cores: the figures
say how much CPU each role needs per order, which is what the capacity model is built from.
The bench drives the cluster through its commands alone, as an operator does (the bench
imports no part of the composition root).
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from tradingfloor.bench.api import raise_open_files
from tradingfloor.bench.cpu import IDLE_S, CpuMeter, CpuReport, Roles, descendants, sample
from tradingfloor.bench.wrk import (
    SCRIPT,
    Market,
    WrkRun,
    markets_environment,
    prepare_market,
    rest_liquidity,
    wrk_once,
)
from tradingfloor.config import load_settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SYMBOL_PREFIX = "CLB"
"""The bench's symbols are CLB1, CLB2, ...: names of their own, so that the market-data cache
in a Redis shared with other platforms never mixes their quotes with these."""
SHARD_PREFIX = "s"
GATEWAYS = 2
CLUSTER_COMMAND_WAIT_S = 300.0
"""The longest `cluster up` or `cluster down` may take (about ten processes, each importing
the platform, on a machine of two cores) before the bench gives up."""
REFUSED_WAIT_S = 60.0
"""The longest a resting bid is placed again while refused for buying power, waiting for the
cash allocator to bring the buyer's cash to the symbol's shard."""


class ClusterFailed(RuntimeError):
    """`cluster up` or `cluster down` did not do its work."""


@dataclass(frozen=True)
class ClusterRun:
    """One shard count's run: wrk's figures and the CPU of each role, the processes each role
    ran, and the roles' CPU with no orders before it."""

    shards: int
    markets: int
    run: WrkRun
    processes: dict[str, int]
    idle: CpuReport | None


@dataclass(frozen=True)
class ClusterBench:
    runs: list[ClusterRun]
    connections: int
    seconds: int
    load_average: tuple[float, float, float]
    """The machine's load average (1, 5, 15 minutes) just before the first cluster started:
    how busy other work kept the cores."""

    def ratio(self, shards: int, baseline: int = 1) -> float | None:
        """orders/s with `shards` over orders/s with `baseline`, when both were run."""
        rates = {run.shards: run.run.orders_per_second for run in self.runs}
        if shards not in rates or not rates.get(baseline):
            return None
        return rates[shards] / rates[baseline]


def symbols(markets: int) -> list[str]:
    return [f"{SYMBOL_PREFIX}{index}" for index in range(1, markets + 1)]


def write_config(root: Path, shards: int, markets: int, redis_url: str, connections: int) -> Path:
    """The cluster's settings file in `root`: K shards, symbol i on shard i mod K."""
    names = [f"{SHARD_PREFIX}{index}" for index in range(shards)]
    placed = ", ".join(
        f'{symbol} = "{names[index % shards]}"' for index, symbol in enumerate(symbols(markets))
    )
    lines = [
        'transport = "nats"',
        'cluster_nats = "private"',
        "cluster_nats_port = 0",
        "cluster_standbys = 0",
        f"cluster_gateways = {GATEWAYS}",
        f"shards = {json.dumps(names)}",
        f'shard_name = "{names[0]}"',
        f"symbol_shards = {{ {placed} }}",
        'journal = "file"',
        "fsync = true",
        f'redis_url = "{redis_url}"',
        'host = "127.0.0.1"',
        "port = 0",
        "marketdata_port = 0",
        f'data_dir = "{root / "data"}"',
        # Two traders send all the orders: no per-user rate limit to meet.
        "orders_per_second_max = 10000000",
        "orders_burst_max = 10000000",
        # Every wrk connection comes from 127.0.0.1.
        f"connections_per_source_max = {connections + 64}",
    ]
    config = root / "tradingfloor.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def make_admin(config: Path) -> dict[str, tuple[str, str, str]]:
    """The admin in the cluster's database before `up`, with an API key of every scope made
    directly; as `bench wrk`'s logins: {"admin": (account, key id, secret)}."""
    from tradingfloor.identity import AuthService, Scope
    from tradingfloor.store.database import make_engine, upgrade

    settings = load_settings(config)
    upgrade(settings.database_url)
    store = make_engine(settings.database_url)
    try:
        auth = AuthService(store, settings)
        password = uuid.uuid4().hex  # never used: the admin signs with its API key
        user = auth.create_user("root", password, "admin", "root")
        scopes = [Scope.READ, Scope.TRADE, Scope.ADMIN, Scope.KEYS]
        key = auth.create_api_key(user.id, scopes, "bench cluster")
    finally:
        store.dispose()
    return {"admin": ("root", key.key_id, key.secret)}


def cluster_command(action: str, config: Path, *options: str) -> str:
    """`tradingfloor cluster <action> --config <config> [options]`, its output; `ClusterFailed`
    with its output when it fails or takes longer than `CLUSTER_COMMAND_WAIT_S`."""
    command = [sys.executable, "-m", "tradingfloor", "cluster", action, "--config", str(config)]
    try:
        done = subprocess.run(
            [*command, *options],
            capture_output=True,
            text=True,
            timeout=CLUSTER_COMMAND_WAIT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        took = f"cluster {action} took over {CLUSTER_COMMAND_WAIT_S:.0f} s"
        raise ClusterFailed(took) from error
    if done.returncode != 0:
        output = done.stdout + done.stderr
        raise ClusterFailed(f"cluster {action} exited {done.returncode}:\n{output}")
    return done.stdout


@dataclass(frozen=True)
class Started:
    """The cluster as `cluster status --json` tells it once up: where the gateways listen and
    each process (its role, pid and start time, so that a pid the kernel gives to another
    process later is never taken for ours)."""

    http_url: str
    processes: list[tuple[str, int, int]]
    """(role, pid, start time in clock ticks since boot)."""

    def roles(self) -> Roles:
        """The processes still running by role (and any children, under the same role)."""
        roles: dict[str, list[int]] = {}
        for role, pid, ticks in self.processes:
            if self._running(pid, ticks):
                roles.setdefault(role, []).extend([pid, *descendants(pid)])
        return roles

    def role_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for role, _, _ in self.processes:
            counts[role] = counts.get(role, 0) + 1
        return counts

    def kill_survivors(self) -> None:
        """SIGKILL the processes of this cluster that still run (after a failed `down`)."""
        for _, pid, ticks in self.processes:
            if self._running(pid, ticks):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    @staticmethod
    def _running(pid: int, ticks: int) -> bool:
        taken = sample(pid)
        return taken is not None and taken.started_ticks == ticks


def started(config: Path) -> Started:
    """What `cluster status --json` says of the cluster of `config`, once every process is up."""
    status = msgspec.json.decode(cluster_command("status", config, "--json"))
    processes = []
    for row in status["processes"]:
        taken = sample(row["pid"])
        if taken is None:
            raise ClusterFailed(f"{row['name']} (pid {row['pid']}) is not running")
        processes.append((row["role"], row["pid"], taken.started_ticks))
    return Started(status["http_url"], processes)


@contextlib.contextmanager
def cluster_up(config: Path) -> Iterator[Started]:
    """`cluster up` on `config`, the cluster while it runs, then `cluster down` (and its
    processes killed if any survived)."""
    cluster = None
    try:
        cluster_command("up", config)
        cluster = started(config)
        yield cluster
    finally:
        try:
            cluster_command("down", config)
        finally:
            if cluster is not None:
                cluster.kill_survivors()


async def _markets(port: int, logins: dict[str, tuple[str, str, str]], count: int) -> list[Market]:
    """Each symbol listed, its buyer and seller made and funded, its bid and ask resting."""
    markets = []
    for symbol in symbols(count):
        markets.append(await prepare_market(port, logins, symbol, symbol.lower()))
    for market in markets:
        await rest_liquidity(port, market, REFUSED_WAIT_S)
    return markets


def run_shards(
    shards: int,
    markets: int,
    seconds: int,
    connections: int,
    redis_url: str,
    warmup_s: int = 2,
    idle_s: float = IDLE_S,
    script: Path = SCRIPT,
    threads: int = 2,
) -> ClusterRun:
    """Up a cluster of `shards` shards, set up `markets` markets, measure the roles idle,
    warm up, run wrk once, then down."""
    with tempfile.TemporaryDirectory(prefix=f"tf-bench-cluster-{shards}-") as directory:
        config = write_config(Path(directory), shards, markets, redis_url, connections)
        logins = make_admin(config)
        with cluster_up(config) as cluster:
            port = urlsplit(cluster.http_url).port or 0
            prepared = asyncio.run(_markets(port, logins, markets))
            environment = markets_environment(prepared)
            idle = None
            if idle_s:
                with CpuMeter(cluster.roles) as meter:
                    time.sleep(idle_s)
                idle = meter.report
            if warmup_s:
                wrk_once(port, environment, cluster.roles, connections,
                         warmup_s, script, threads)  # fmt: skip
            run = wrk_once(
                port, environment, cluster.roles, connections, seconds,
                script, threads,
            )  # fmt: skip
    return ClusterRun(shards, markets, run, cluster.role_counts(), idle)


def run(
    shard_counts: list[int],
    seconds: int = 10,
    connections: int = 64,
    redis_url: str = DEFAULT_REDIS_URL,
    warmup_s: int = 2,
    idle_s: float = IDLE_S,
    script: Path = SCRIPT,
    threads: int = 2,
) -> ClusterBench:
    """One cluster per shard count, in turn, each with M = max(shard_counts) markets."""
    raise_open_files(connections + 256)  # wrk inherits it
    markets = max(shard_counts)
    load_average = os.getloadavg()
    runs = [
        run_shards(shards, markets, seconds, connections, redis_url, warmup_s, idle_s, script,
                   threads)
        for shards in shard_counts
    ]  # fmt: skip
    return ClusterBench(runs, connections, seconds, load_average)
