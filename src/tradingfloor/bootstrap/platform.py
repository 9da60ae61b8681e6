"""The platform's roles in one process (`serve --single-process`, tests): shard, projector,
and a gateway backend with its market data, wired through the same ports as across
processes, with the roles themselves as the ports.

`Platform.start()` recovers the shard from its journal (file journal under `data_dir/node`),
migrates the database, starts the projector on the shard's event feed, and the gateway's
backend (its market-data view rebuilt from the event feed); `stop()` stops taking commands,
lets the projector finish what was applied and closes everything.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradingfloor import observability as metrics
from tradingfloor.config import Settings
from tradingfloor.domain.commands import CancelOrder, Command, PlaceOrder
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.domain.shards import ShardMap
from tradingfloor.engine import Engine
from tradingfloor.gateway.backend import Backend, ReadModelsUnavailable
from tradingfloor.gateway.ratelimit import make_rate_limiter
from tradingfloor.gateway.stream_proxy import Upstream
from tradingfloor.identity import AuthService
from tradingfloor.marketdata.hub import MarketDataHub, MarketDataSettings
from tradingfloor.marketdata.view import MarketDataView
from tradingfloor.service.node import Node, NodeSettings
from tradingfloor.service.projection import ProjectionRole
from tradingfloor.service.sequencer import Result
from tradingfloor.service.shard import ShardRole

if TYPE_CHECKING:
    from tradingfloor.marketdata.cache import RedisMarketDataCache

__all__ = ["Platform", "ReadModelsUnavailable", "node_settings"]

start_projection_wait_s = 600.0
"""At a start, how long the projector may take to catch up with the event log (reads would
wait for it anyway; tests and `serve` start from read models that are whole)."""
stop_projection_wait_s = 10.0
"""At a stop, how long the projector may take to project what was applied."""


def node_settings(settings: Settings, risk: RiskSettings | None) -> NodeSettings:
    return NodeSettings(
        Path(settings.data_dir) / "node",
        fsync=settings.fsync,
        risk=risk,
        journal_retry_max_s=settings.journal_retry_max_s,
        shard_index=ShardMap.of_settings(settings).index(settings.shard_name),
    )


@dataclass
class Platform:
    settings: Settings
    risk: RiskSettings = field(default_factory=RiskSettings)
    clock: Callable[[], int] = time.time_ns
    """The edges' clock (token expiry, TOTP, rate limits); the engine's time is the
    sequencer's."""
    marketdata_settings: MarketDataSettings = field(default_factory=MarketDataSettings)
    shard: ShardRole = field(init=False)
    projection: ProjectionRole = field(init=False)
    backend: Backend = field(init=False)
    started_ts: int = 0

    async def start(self) -> None:
        from tradingfloor.store.database import upgrade

        settings = self.settings
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(upgrade, settings.database_url)
        self.shard = ShardRole(node_settings(settings, self.risk))
        await self.shard.start()
        sequencer = self.node.sequencer
        assert sequencer is not None
        sequencer.batch_listeners.append(count_batch)
        sequencer.on_applied = time_matching
        self.projection = ProjectionRole(
            settings.database_url,
            self.shard.follow,
            settings.projector_retry_max_s,
            on_failure=metrics.projection_failures.inc,
        )
        await self.projection.start()
        await self.projection.drain(self.engine.last_seq, start_projection_wait_s)
        self.backend = make_backend(
            settings, self.shard, self.projection, self.clock, self.marketdata_settings
        )
        await self.backend.start()
        await self.backend.catch_up([self.engine.last_seq])
        self.started_ts = time.time_ns()

    @property
    def node(self) -> Node:
        return self.shard.node

    @property
    def engine(self) -> Engine:
        return self.shard.engine

    @property
    def auth(self) -> AuthService:
        return self.backend.auth

    async def submit(self, command: Command, account: str | None = None) -> Result:
        return await self.backend.submit(command, account)

    async def account_exists(self, account: str) -> bool:
        return await self.backend.account_exists(account)

    async def stop(self) -> None:
        """Stop taking commands, finish projecting what was applied, close everything."""
        await self.shard.stop()
        await self.projection.drain(self.engine.last_seq, stop_projection_wait_s)
        await self.backend.stop()
        await self.projection.stop()


def make_backend(
    settings: Settings,
    shard: object,
    projection: object,
    clock: Callable[[], int],
    marketdata_settings: MarketDataSettings,
    limiter: object | None = None,
    market_data_upstream: Upstream | None = None,
) -> Backend:
    """A gateway's backend on these ports: its own sign-in, limiter and market data. With
    `market_data_upstream` (the market-data role), its WebSockets are forwarded there and its
    hub only keeps the tape and bars for REST: no tier flushes, no Redis cache."""
    market = MarketDataView(marketdata_settings.trades_kept_per_symbol)
    if limiter is None:
        limiter = make_rate_limiter(
            settings, clock, metrics.redis_failures.labels("rate_limits").inc
        )
    if market_data_upstream is None:
        hub = market_data_hub(settings, market, marketdata_settings, clock)
    else:
        hub = _hub_on(market, marketdata_settings, clock)
    from tradingfloor.store.database import make_engine

    auth = AuthService(make_engine(settings.database_url), settings, clock=clock)
    return Backend(
        settings,
        shard,  # type: ignore[arg-type]
        projection,  # type: ignore[arg-type]
        auth,
        limiter,
        hub,
        market,
        clock,
        market_data_upstream=market_data_upstream,
        shard_feeds=shard_feeds(shard),
        feed_listeners=_route_learning(shard),
    )


def _route_learning(shard: object) -> list[Any]:
    """A router learns where moved symbols are from the feeds the gateway follows."""
    from tradingfloor.service.shard_router import ShardRouter

    return [shard.learn] if isinstance(shard, ShardRouter) else []


def shard_feeds(shard: object) -> list[Any]:
    """The event feed of every shard a shard port reaches, in the map's order."""
    from tradingfloor.service.shard_router import ShardRouter

    if isinstance(shard, ShardRouter):
        return [port.follow for port in shard.ports.values()]
    return [shard.follow]  # type: ignore[attr-defined]


def market_data_hub(
    settings: Settings,
    market: "MarketDataView",
    marketdata_settings: MarketDataSettings,
    clock: Callable[[], int] = time.time_ns,
) -> MarketDataHub:
    """Quotes (with the halt in force at `clock`'s time), trades, depth and bars for
    subscribers, from the market-data view; with `redis_url`, the latest quote and book per
    symbol are also cached in Redis."""
    cache = None
    if settings.redis_url:
        from tradingfloor.marketdata.cache import RedisMarketDataCache
        from tradingfloor.outage import Outage

        outage = Outage(
            "Redis (market data cache)",
            settings.redis_retry_s,
            on_failure=metrics.redis_failures.labels("marketdata_cache").inc,
        )
        cache = RedisMarketDataCache(
            settings.redis_url,
            marketdata_settings.cache_prefix,
            marketdata_settings.cache_ttl_ms,
            timeout_ms=settings.redis_timeout_ms,
            outage=outage,
        )
    hub = _hub_on(market, marketdata_settings, clock, cache)
    hub.start()
    return hub


def _hub_on(
    market: "MarketDataView",
    marketdata_settings: MarketDataSettings,
    clock: Callable[[], int],
    cache: "RedisMarketDataCache | None" = None,
) -> MarketDataHub:
    """A hub reading the view's books, symbols and halts."""
    return MarketDataHub(
        market.book,
        marketdata_settings,
        symbols=market.symbols,
        halt_of=market.halt,
        cache=cache,
        clock=clock,
    )


def count_batch(results: list[Result]) -> None:
    from tradingfloor.domain.events import TradeExecuted

    metrics.journal_batch.observe(len(results))
    for result in results:
        for event in result.events:
            if type(event) is TradeExecuted:
                metrics.fills.labels(event.symbol).inc()


def time_matching(command: Command, ns: int) -> None:
    if type(command) is PlaceOrder or type(command) is CancelOrder:
        metrics.matching_seconds.labels(command.symbol).observe(ns / 1e9)
