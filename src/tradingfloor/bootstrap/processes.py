"""`serve` as processes: the shard, the projector, market data, the settlement role with its
clearinghouse simulator, the audit, surveillance and reporting roles, and N gateway workers,
supervised.

Start-up: the database is migrated once; the order-entry rate limiter (without Redis) is held
here and served to the workers on `run/limits.sock`; the shard starts and recovers; then the
first admin or the demo's logins are made through it; then the projector, the market-data role
(its WebSockets on `run/marketdata.sock`, which the gateways forward theirs to) and the gateway
workers, which all listen on the same port (SO_REUSEPORT). `serve` prints the address once every
worker is ready.

Supervision: a role that dies is started again after a wait that doubles from 0.5 s up to
30 s (back to 0.5 s once it has run for a minute). The other roles ride it out: while the shard
is down, commands are refused (503) and the feed waits; while the projector is down, reads that
must wait for it are refused (503 with Retry-After) and it catches up from its own last seq when
it is back; while market data are down, market-data WebSockets are closed with 1012 and
refused with 1013 until it is back (clients reconnect and get fresh snapshots); a dead
gateway's connections are lost, the other workers keep serving.

Ctrl-C (or SIGTERM) stops the gateways first (no new commands), then surveillance, the
settlement role and the clearinghouse, the audit and reporting roles, market data, the
projector, and the shard (which snapshots), each given `stop_wait_s` before it is killed.
While the settlement role or the clearinghouse is down, trading goes on; the end of day
waits for them (it never settles on a guess). While surveillance, audit or reporting is
down, trading goes on too; each takes what it missed from the feed when back (reports of
that time are late, and marked so).
"""

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradingfloor.bootstrap import roles
from tradingfloor.config import Settings
from tradingfloor.observability import MULTIPROCESS_DIR_ENV

if TYPE_CHECKING:
    from tradingfloor.bootstrap.replay_role import ReplaySource

log = logging.getLogger("tradingfloor.supervisor")

stop_wait_s = 30.0
"""How long a role may take to stop cleanly before it is killed."""
ready_wait_s = 600.0
"""How long a role may take to become ready (a long journal to replay, a big event log)."""
restart_wait_first_s = 0.5
restart_wait_max_s = 30.0
healthy_after_s = 60.0
"""A role that has run this long is restarted after the shortest wait if it dies."""


ROLES_MODULE = "tradingfloor.bootstrap.roles"
AUDIT_MODULE = "tradingfloor.bootstrap.audit_role"
"""The audit role (`bootstrap.audit_role`)."""
SETTLEMENT_MODULE = "tradingfloor.bootstrap.settlement_role"
"""The settlement role and the clearinghouse simulator (`bootstrap.settlement_role`)."""
SURVEILLANCE_MODULE = "tradingfloor.bootstrap.surveillance_role"
REPORTING_MODULE = "tradingfloor.bootstrap.reporting_role"
"""The reporting role: trade reports and the CAT-style order-event file."""
DESK_MODULE = "tradingfloor.bootstrap.desk_role"
"""The fractional desk role: squares the desk's inventory on the book."""


@dataclass
class Child:
    name: str
    argv: list[str]
    module: str = ROLES_MODULE
    """What `python -m` runs with `argv`."""
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    wait_s: float = restart_wait_first_s
    restart_at: float = 0.0
    stopping: bool = False


@dataclass
class Supervisor:
    settings: Settings
    config: Path | None
    overrides: dict[str, Any]
    workers: int
    demo: bool = False
    seed: int = 1
    replay: "ReplaySource | None" = None
    """A recorded day to play as the market (`serve --replay`), next to the shard."""
    first_admin: bool = True
    """Make the first admin of a platform without users (tests make their own)."""
    children: dict[str, Child] = field(default_factory=dict)
    port: int = 0
    marketdata_port: int | None = None
    """The market-data role's own port (`serve_marketdata_port`), once reserved."""
    serving: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once every role is ready and the port is served."""

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env[roles.ROLE_CONFIG_ENV] = str(self.config) if self.config else ""
        overrides = {name: str(value) for name, value in self.overrides.items()}
        overrides["port"] = str(self.port)
        if self.marketdata_port is not None:
            overrides["serve_marketdata_port"] = str(self.marketdata_port)
        env[roles.ROLE_OVERRIDES_ENV] = json.dumps(overrides)
        env[MULTIPROCESS_DIR_ENV] = str(self._metrics_dir())
        return env

    def _metrics_dir(self) -> Path:
        return roles.run_dir(self.settings) / "metrics"

    async def _spawn(self, child: Child) -> None:
        roles.ready_mark(self.settings, child.name).unlink(missing_ok=True)
        child.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", child.module, *child.argv,
            env=self._environment(),
        )  # fmt: skip
        child.started_at = time.monotonic()
        log.info("started %s", child.name, extra={"pid": child.process.pid})

    async def _start(self, name: str, argv: list[str], module: str = ROLES_MODULE) -> Child:
        child = Child(name, argv, module)
        self.children[name] = child
        await self._spawn(child)
        return child

    async def _ready(self, *names: str) -> None:
        """Wait until each named role is ready; raises when one exits first."""
        deadline = time.monotonic() + ready_wait_s
        pending = set(names)
        while pending:
            for name in list(pending):
                child = self.children[name]
                if roles.ready_mark(self.settings, name).exists():
                    pending.discard(name)
                elif child.process is not None and child.process.returncode is not None:
                    raise RuntimeError(f"{name} exited ({child.process.returncode}) at start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {ready_wait_s:.0f} s: {sorted(pending)}")
            await asyncio.sleep(0.05)

    async def run(self, stop: asyncio.Event) -> None:
        from tradingfloor.store.database import upgrade

        settings = self.settings
        run = roles.run_dir(settings)
        run.mkdir(parents=True, exist_ok=True)
        os.chmod(run, 0o700)
        await asyncio.to_thread(upgrade, settings.database_url)
        metrics = self._metrics_dir()
        shutil.rmtree(metrics, ignore_errors=True)  # a previous run's processes' values
        metrics.mkdir(mode=0o700)
        reserved = roles.reuse_port_socket(settings.host, settings.port)  # port 0: one for all
        self.port = reserved.getsockname()[1]
        direct = None
        if settings.serve_marketdata_port is not None:
            direct = roles.reuse_port_socket(settings.host, settings.serve_marketdata_port)
            self.marketdata_port = direct.getsockname()[1]
        limiter = await self._limiter()
        try:
            # Started together: the others wait for the shard to answer (it recovers first).
            shard = ["shard", "--demo", str(self.seed)] if self.demo else ["shard"]
            if self.replay is not None:
                shard = ["shard", "--replay", *self.replay.argv()]
            await self._start("shard", shard)
            await self._start("projector", ["projector"])
            await self._start("marketdata", ["marketdata"])
            await self._start_settlement()
            if settings.audit_enabled:
                await self._start("audit", ["audit"], AUDIT_MODULE)
            if settings.surveillance_enabled:  # trading does not wait for it either
                await self._start("surveillance", [], SURVEILLANCE_MODULE)
            if settings.reporting_enabled:  # trading does not wait for it
                await self._start("reporting", [], REPORTING_MODULE)
            if settings.fractional_desk_account and settings.fractional_desk_squaring:
                await self._start("desk", [], DESK_MODULE)
            for worker in range(self.workers):
                await self._start(f"gateway-{worker}", ["gateway", str(worker), str(self.workers)])
            await self._ready("shard")
            await self._set_up()
            gateways = (f"gateway-{i}" for i in range(self.workers))
            await self._ready("projector", "marketdata", *gateways)
            reserved.close()  # the workers hold the port now
            print(f"listening on http://{settings.host}:{self.port} (docs: /docs)", flush=True)
            if direct is not None:
                direct.close()
                url = f"ws://{settings.host}:{self.marketdata_port}/v1/market-data"
                print(f"market data also on {url}", flush=True)
            self.serving.set()
            await self._supervise(stop)
        finally:
            reserved.close()
            if direct is not None:
                direct.close()
            await self._stop_all()
            if limiter is not None:
                await limiter.stop()

    async def _start_settlement(self) -> None:
        """The settlement role (it drives each day's end at its close) and, unless an
        external clearinghouse is named, the simulator. Trading needs neither: serve does not
        wait for them (the role waits for the clearinghouse, and says so in its status)."""
        from tradingfloor.bootstrap.settlement_role import embedded_clearinghouse

        if not self.settings.settlement_enabled:
            return
        if embedded_clearinghouse(self.settings):
            await self._start("clearinghouse", ["clearinghouse"], SETTLEMENT_MODULE)
        await self._start("settlement", ["settlement"], SETTLEMENT_MODULE)

    async def _limiter(self) -> Any:
        if self.settings.redis_url:
            return None
        from tradingfloor.gateway.ratelimit import MemoryRateLimiter, RateLimit
        from tradingfloor.gateway.ratelimit_link import LimiterServer

        settings = self.settings
        memory = MemoryRateLimiter(
            RateLimit.for_orders(settings), time.time_ns, users_max=settings.rate_limit_users_max
        )
        server = LimiterServer(memory, roles.limiter_socket(settings))
        await server.start()
        return server

    async def _set_up(self) -> None:
        from tradingfloor.bootstrap.setup import demo_logins, first_admin
        from tradingfloor.identity import AuthService
        from tradingfloor.service.shard_client import ShardClient
        from tradingfloor.store.database import make_engine

        store = make_engine(self.settings.database_url)
        shard = ShardClient(roles.shard_socket(self.settings))
        try:
            auth = AuthService(store, self.settings)
            if self.demo or self.replay is not None:
                data = Path(self.settings.data_dir)
                await demo_logins(shard, auth, data)
            elif self.first_admin:
                await first_admin(auth)
        finally:
            shard.close()
            store.dispose()

    async def _supervise(self, stop: asyncio.Event) -> None:
        metrics = self._metrics_dir()
        await supervise(
            list(self.children.values()),
            self._spawn,
            stop,
            on_exit=lambda child, pid: _forget_metrics(pid, metrics),
        )

    async def _stop_all(self) -> None:
        """Gateways, then surveillance, settlement and the clearinghouse, audit, reporting,
        market data, the projector, and the shard."""
        names = list(self.children)
        order = [name for name in names if name.startswith("gateway")]
        order += [
            name
            for name in (
                "surveillance",
                "settlement",
                "clearinghouse",
                "audit",
                "reporting",
                "marketdata",
                "projector",
                "shard",
            )
            if name in self.children
        ]
        gateways = [self.children[name] for name in order if name.startswith("gateway")]
        await asyncio.gather(*(self._stop(child) for child in gateways))
        for name in order:
            if not name.startswith("gateway"):
                await self._stop(self.children[name])

    async def _stop(self, child: Child) -> None:
        await stop_child(child, stop_wait_s)


async def supervise(
    children: list[Child],
    spawn: Callable[[Child], Awaitable[None]],
    stop: asyncio.Event,
    on_exit: Callable[[Child, int], None] | None = None,
) -> None:
    """Until `stop`: start again each child that exited (`spawn`), after a wait that doubles
    while it keeps dying (see the module); `on_exit` is told of each exit (its pid)."""
    while not stop.is_set():
        now = time.monotonic()
        for child in children:
            process = child.process
            if process is None or process.returncode is None or child.stopping:
                continue
            if child.restart_at == 0.0:
                ran_s = now - child.started_at
                child.wait_s = (
                    restart_wait_first_s
                    if ran_s >= healthy_after_s
                    else min(child.wait_s * 2, restart_wait_max_s)
                )
                child.restart_at = now + child.wait_s
                log.warning(
                    "%s exited (%s): restarting in %.1f s",
                    child.name,
                    process.returncode,
                    child.wait_s,
                )
                if on_exit is not None:
                    on_exit(child, process.pid)
            elif now >= child.restart_at:
                child.restart_at = 0.0
                child.restarts += 1
                await spawn(child)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def stop_child(child: Child, wait_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within `wait_s`; it restarts no more."""
    child.stopping = True
    process = child.process
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), wait_s)
    except TimeoutError:
        log.error("%s did not stop in %.0f s: killed", child.name, wait_s)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _forget_metrics(pid: int, directory: Path) -> None:
    """A dead process's live gauges (open connections) stop counting."""
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def default_workers() -> int:
    """Gateway workers when not told: one per core."""
    return max(1, os.cpu_count() or 1)
