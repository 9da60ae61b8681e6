"""Each role in a process of its own: `python -m tradingfloor.bootstrap.roles ROLE`.

The supervisor (`processes`) starts these with the settings it was given (a TOML file in
`TRADINGFLOOR_ROLE_CONFIG`, its overrides as JSON in `TRADINGFLOOR_ROLE_OVERRIDES`, the
`TRADINGFLOOR_*` variables inherited), so every role reads the same settings. A role tells it
is ready by creating `run/<name>.ready` in the data directory; SIGTERM stops it cleanly.

- `shard`: the node (journal, engine, event log) behind `run/shard.sock`; with `--demo`, the
  simulated market next to it; with `--replay`, a recorded day played as the market.
- `projector`: the shard's event feed into the read models; its status behind
  `run/projector.sock`.
- `marketdata`: the shard's event feed into the market-data hub (conflation per tier, the Redis
  cache), serving the market-data WebSockets behind `run/marketdata.sock`.
- `gateway`: HTTP and WebSocket on the shared port (SO_REUSEPORT: the kernel spreads new
  connections over the workers), on the shard, projector and limiter sockets; it forwards the
  market-data WebSockets to the market-data role.

The sockets are the local transport's; with `transport = "nats"` the same roles talk through
NATS instead (`bootstrap.transport`), and `tradingfloor shard|projector|gateway` runs each one
alone (`bootstrap.role_cli`).
"""

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Re-exported: the supervisor and the tests name the run directory's paths through `roles`.
from tradingfloor.bootstrap.run_paths import limiter_socket as limiter_socket
from tradingfloor.bootstrap.run_paths import marketdata_socket as marketdata_socket
from tradingfloor.bootstrap.run_paths import projector_socket as projector_socket
from tradingfloor.bootstrap.run_paths import ready_mark as ready_mark
from tradingfloor.bootstrap.run_paths import run_dir as run_dir
from tradingfloor.bootstrap.run_paths import shard_socket as shard_socket
from tradingfloor.config import Settings, load_settings

if TYPE_CHECKING:
    from tradingfloor.bootstrap.replay_role import ReplaySource

log = logging.getLogger("tradingfloor.roles")

ROLE_CONFIG_ENV = "TRADINGFLOOR_ROLE_CONFIG"
ROLE_OVERRIDES_ENV = "TRADINGFLOOR_ROLE_OVERRIDES"


def _settings_from_environment() -> Settings:
    config = os.environ.get(ROLE_CONFIG_ENV) or None
    overrides: dict[str, Any] = json.loads(os.environ.get(ROLE_OVERRIDES_ENV) or "{}")
    return load_settings(Path(config) if config else None, **overrides)


def stop_on_signals() -> asyncio.Event:
    """Set on SIGINT or SIGTERM (Ctrl-C, or the supervisor stopping the role)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its supervisor dies (even by SIGKILL), so no
    role outlives `serve`; if the supervisor is already gone, stop now."""
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor stops its roles itself
        return
    if os.getppid() != parent or parent == 1:
        os.kill(os.getpid(), signal.SIGTERM)


async def _until_stopped(stop: asyncio.Event, work: Any) -> Any:
    """`work`'s result, or None when `stop` is set first (a role told to stop while it still
    waits for another at start)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait((task, stopping), return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    return task.result()


async def _transport(settings: Settings, name: str, stop: asyncio.Event) -> Any:
    """The role's transport once started (NATS may not answer yet), or None when told to
    stop first."""
    from tradingfloor.bootstrap.transport import make_transport

    transport = make_transport(settings, name)
    await _until_stopped(stop, transport.start())
    if stop.is_set():
        await transport.close()
        return None
    return transport


def _ready(settings: Settings, name: str) -> None:
    ready_mark(settings, name).touch(mode=0o600)


# ---------------------------------------------------------------------- shard


async def run_shard(
    settings: Settings, demo: bool, seed: int, replay: "ReplaySource | None" = None
) -> None:
    from tradingfloor.bootstrap.engine_settings import risk_settings
    from tradingfloor.bootstrap.platform import count_batch, node_settings, time_matching
    from tradingfloor.bootstrap.setup import start_demo_market
    from tradingfloor.bootstrap.transport import make_journal
    from tradingfloor.service.shard import ShardRole

    stop = stop_on_signals()
    transport = await _transport(settings, "shard", stop)
    if transport is None:
        return
    if settings.shard_standby:  # a candidate: hot standby until it holds the lease
        from tradingfloor.bootstrap.shard_candidate import run_shard_candidate

        await run_shard_candidate(settings, transport, stop)
        return
    journal = make_journal(settings)
    shard = ShardRole(node_settings(settings, risk_settings(settings)), journal=journal)
    await shard.start()
    sequencer = shard.node.sequencer
    assert sequencer is not None
    sequencer.batch_listeners.append(count_batch)
    sequencer.on_applied = time_matching
    fatal: list[BaseException] = []

    def stop_for(error: BaseException) -> None:
        fatal.append(error)
        stop.set()

    server = await transport.serve_shard(shard, stop_for)
    engine = shard.engine
    log.info("shard started", extra={"seq": engine.last_seq, "state_hash": engine.state_hash()})
    print(
        f"recovered to seq {engine.last_seq}; state {engine.state_hash()[:16]}; "
        f"data in {Path(settings.data_dir).resolve()}",
        flush=True,
    )
    market = await start_demo_market(shard, stop, seed) if demo else None
    if replay is not None:
        from tradingfloor.bootstrap.replay_role import start_replay_market

        _recorded, market = await start_replay_market(shard, stop, replay)
    _ready(settings, "shard")
    await stop.wait()
    if market is not None:
        await market
    await server.stop()
    await shard.stop()
    await transport.close()
    log.info("shard stopped", extra={"seq": engine.last_seq})
    print(f"stopped at seq {engine.last_seq}", flush=True)
    if fatal:
        raise SystemExit(f"the shard stopped: {fatal[0]}")


# ---------------------------------------------------------------------- projector


async def run_projector(settings: Settings) -> None:
    from tradingfloor import observability
    from tradingfloor.domain.shards import ShardMap
    from tradingfloor.service.projection import ProjectionRole

    stop = stop_on_signals()
    transport = await _transport(settings, "projector", stop)
    if transport is None:
        return
    shard = transport.own_shard_port()
    index = ShardMap.of_settings(settings).index(settings.shard_name)
    role = ProjectionRole(
        settings.database_url,
        shard.follow,
        settings.projector_retry_max_s,
        on_failure=observability.projection_failures.inc,
        shard=(index, settings.shard_name),
    )
    await _until_stopped(stop, role.start())  # the database may not answer yet
    if stop.is_set():
        await role.stop()
        await transport.close()
        return
    server = await transport.serve_projection(role)
    _ready(settings, "projector")
    await stop.wait()
    await server.stop()
    await role.stop()
    await transport.close()


# ---------------------------------------------------------------------- gateway


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening-to-be socket on (host, port) that other processes may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


async def run_gateway(
    settings: Settings, worker: int, workers: int, on_ready: Callable[[int], None] | None = None
) -> None:
    from tradingfloor.bootstrap.platform import make_backend
    from tradingfloor.bootstrap.transport import check_gateway_settings
    from tradingfloor.gateway.app import create_app
    from tradingfloor.gateway.ratelimit_link import LimiterClient
    from tradingfloor.gateway.server import build_server
    from tradingfloor.marketdata.hub import MarketDataSettings

    check_gateway_settings(settings)
    stop = stop_on_signals()
    # Each worker takes its share of the connection cap: the platform's stays the setting.
    share = max(1, settings.connections_max // workers)
    settings = settings.model_copy(update={"connections_max": share})
    transport = await _transport(settings, f"gateway-{worker}", stop)
    if transport is None:
        return
    shard = transport.shard_port()
    projection = await transport.projection_port()
    limiter = None if settings.redis_url else LimiterClient(limiter_socket(settings))
    backend = make_backend(
        settings,
        shard,
        projection,
        time.time_ns,
        MarketDataSettings(),
        limiter,
        market_data_upstream(settings),
    )
    await backend.start()
    tokens = await _until_stopped(stop, _last_tokens_once_up(shard))
    if tokens is not None:
        await _until_stopped(stop, backend.catch_up(tokens, timeout_s=600.0))
    if not stop.is_set():
        server = build_server(create_app(backend), settings)
        sock = reuse_port_socket(settings.host, settings.port)
        await _serve_until_stopped(server, [sock], stop, settings, f"gateway-{worker}", on_ready)
    await backend.stop()
    await transport.close()


def market_data_upstream(settings: Settings) -> Any:
    """Where a gateway forwards the market-data WebSockets: `marketdata_url`, else, with the
    local transport, serve's market-data process; None (served by the gateway itself) for a
    gateway on NATS without a market-data role."""
    from tradingfloor.gateway.stream_proxy import Upstream

    if settings.marketdata_url:
        return Upstream(settings.marketdata_url)
    if settings.transport == "local":
        return Upstream("ws://localhost", str(marketdata_socket(settings)))
    return None


async def _serve_until_stopped(
    server: Any,
    sockets: list[socket.socket],
    stop: asyncio.Event,
    settings: Settings,
    name: str,
    on_ready: Callable[[int], None] | None,
) -> None:
    """Serve on `sockets` until `stop` (or the server ends); ready once it listens."""
    serving = asyncio.create_task(server.serve(sockets=sockets))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if not serving.done():
        _ready(settings, name)
        ports = [sock.getsockname()[1] for sock in sockets if sock.family != socket.AF_UNIX]
        if on_ready is not None and ports:
            on_ready(ports[0])  # the port (port 0: the one chosen)
        await asyncio.wait(
            (serving, asyncio.create_task(stop.wait())), return_when=asyncio.FIRST_COMPLETED
        )
        server.should_exit = True
    await serving


# ---------------------------------------------------------------------- market data


async def run_marketdata(
    settings: Settings, local: bool, on_ready: Callable[[int], None] | None = None
) -> None:
    """The market-data role: the event feed into its hub, whose WebSockets it serves on
    `run/marketdata.sock` (`local`: serve's process, for its gateways) or on
    host:marketdata_port (`tradingfloor marketdata`)."""
    from tradingfloor.bootstrap.platform import market_data_hub, shard_feeds
    from tradingfloor.gateway.marketdata_app import create_marketdata_app
    from tradingfloor.gateway.server import build_server
    from tradingfloor.identity import AuthService
    from tradingfloor.marketdata.feed import MarketFeeds
    from tradingfloor.marketdata.hub import MarketDataSettings
    from tradingfloor.marketdata.view import MarketDataView
    from tradingfloor.store.database import make_engine

    stop = stop_on_signals()
    transport = await _transport(settings, "marketdata", stop)
    if transport is None:
        return
    shard = transport.shard_port()
    marketdata_settings = MarketDataSettings()
    market = MarketDataView(marketdata_settings.trades_kept_per_symbol)
    hub = market_data_hub(settings, market, marketdata_settings)
    feed = MarketFeeds(shard_feeds(shard), market, hub)
    feed.start(1)
    tokens = await _until_stopped(stop, _last_tokens_once_up(shard))
    if tokens is not None:
        await _until_stopped(stop, feed.catch_up(tokens, timeout_s=600.0))
    store = make_engine(settings.database_url)
    if not stop.is_set():
        # The role's connections are the gateways' forwarded clients (and direct ones).
        capped = settings.model_copy(
            update={"connections_max": marketdata_settings.clients_max + 100}
        )
        server = build_server(create_marketdata_app(feed, AuthService(store, settings)), capped)
        if local:  # serve's: its gateways' socket, and a port of its own if asked
            sockets = [_marketdata_socket(settings)]
            if settings.serve_marketdata_port is not None:
                port = settings.serve_marketdata_port
                sockets.append(reuse_port_socket(settings.host, port))
        else:
            sockets = [reuse_port_socket(settings.host, settings.marketdata_port)]
        await _serve_until_stopped(server, sockets, stop, settings, "marketdata", on_ready)
    await feed.stop()
    await hub.stop()
    store.dispose()
    await transport.close()


def _marketdata_socket(settings: Settings) -> socket.socket:
    """The market-data role's Unix socket (owner-only), a stale one replaced."""
    path = marketdata_socket(settings)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    return sock


async def _last_tokens_once_up(shard: Any) -> list[int]:
    """Each shard's last seq token, once all answer (the roles start together; a shard
    recovers first)."""
    from tradingfloor.service.shard_client import ShardUnavailable

    while True:
        try:
            tokens: list[int] = await shard.last_tokens()
            return tokens
        except ShardUnavailable:
            await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- entry point


def main(argv: list[str]) -> int:
    from tradingfloor.gateway import logs

    if len(argv) < 2 or argv[1] not in ("shard", "projector", "marketdata", "gateway"):
        print(
            "usage: roles shard [--demo SEED | --replay MESSAGES ORDERBOOK SPEED LIMIT] | "
            "projector | marketdata | gateway WORKER WORKERS"
        )
        return 2
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; Windows lacks it
        pass
    logs.configure()
    _die_with_parent()
    settings = _settings_from_environment()
    role = argv[1]
    if role == "shard":
        demo = len(argv) > 3 and argv[2] == "--demo"
        replay = None
        if len(argv) > 2 and argv[2] == "--replay":
            from tradingfloor.bootstrap.replay_role import ReplaySource

            replay = ReplaySource.of_argv(argv[3:])
        asyncio.run(run_shard(settings, demo, int(argv[3]) if demo else 1, replay))
    elif role == "projector":
        asyncio.run(run_projector(settings))
    elif role == "marketdata":
        asyncio.run(run_marketdata(settings, local=True))
    else:
        asyncio.run(run_gateway(settings, int(argv[2]), int(argv[3])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
