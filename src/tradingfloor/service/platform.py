"""The whole platform in one process: node, store, auth, rate limits, read models, demo.

`Platform.start()` recovers the node from its journal (file journal under `data_dir/node`),
migrates the database, catches the read models up from the event log, and from then on feeds
every applied batch to the projector on a worker thread. The gateway answers an order after the
node has made it durable; a client's reads wait until the read models have reached the last
sequence number that client was answered with (read your writes).

The database may fail (a dropped connection, a restart, an outage) while the node goes on. A
failed projection is retried, after 0.1 s, then a wait that doubles up to
`projector_retry_max_s`, for as long as it takes: nothing stops the read models for good. A
retry drops the batches queued in memory and projects from the node's event log what the read
models lack (after their own `last_seq`, up to the log's end at that moment), then goes back to
the batches queued since, which follow it with no gap and no repeat. Each failed attempt is
logged once with its number and counted (`tradingfloor_projection_failures_total`); while the
projection fails, `/readyz` says not ready and a read that would have to wait for it is
refused at once (`ReadModelsUnavailable`, HTTP 503) rather than left to time out.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradingfloor.config import Settings
from tradingfloor.domain.commands import CancelOrder, Command, PlaceOrder
from tradingfloor.domain.events import Event, TradeExecuted
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.gateway import metrics, views
from tradingfloor.gateway.ratelimit import MemoryRateLimiter, RedisRateLimiter, make_rate_limiter
from tradingfloor.identity import AuthService
from tradingfloor.marketdata.hub import MarketDataHub, MarketDataSettings
from tradingfloor.marketdata.view import Applied, MarketDataView
from tradingfloor.service.node import Node, NodeSettings
from tradingfloor.service.sequencer import Result

log = logging.getLogger("tradingfloor.platform")

projection_batch_max = 2_000
"""Commands projected in one database transaction at most."""
read_wait_s_max = 5.0
"""How long a read waits for the read models to reach the caller's last answer."""
projection_retry_first_s = 0.1
"""The wait after a projection's first failure; it doubles up to `projector_retry_max_s`."""


class ReadModelsUnavailable(Exception):
    """The read models cannot answer now (their projection is failing): retry after
    `retry_after_s`."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(f"read models unavailable: {reason}")
        self.retry_after_s = retry_after_s


@dataclass
class Platform:
    settings: Settings
    risk: RiskSettings = field(default_factory=RiskSettings)
    clock: Callable[[], int] = time.time_ns
    """The edges' clock (token expiry, TOTP, rate limits); the engine's time is the
    sequencer's."""
    node: Node = field(init=False)
    auth: AuthService = field(init=False)
    limiter: MemoryRateLimiter | RedisRateLimiter = field(init=False)
    projected_seq: int = 0
    last_answer: dict[str, int] = field(default_factory=dict)
    """Per account: the highest seq it was answered with (read your writes)."""
    started_ts: int = 0
    _pending: deque[list[Result]] = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _projected: asyncio.Condition = field(default_factory=asyncio.Condition)
    _projector_task: asyncio.Task[None] | None = None
    _stopping: bool = False
    _stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    projection_failure: BaseException | None = None
    """The last error of a projection that is failing now (None once it works again)."""
    projection_attempts_failed: int = 0
    """Failed attempts in a row of the current projection failure."""
    _projection_retry_at: float = 0.0
    """When the failing projection is tried again (time.monotonic)."""
    market_view: MarketDataView = field(default_factory=MarketDataView)
    """Symbols, books, quotes and trades from the events alone (the gateway's market data)."""
    marketdata_settings: MarketDataSettings = field(default_factory=MarketDataSettings)
    marketdata: MarketDataHub = field(init=False)

    async def start(self) -> None:
        from tradingfloor.store.database import make_engine, upgrade
        from tradingfloor.store.projector import Projector

        settings = self.settings
        data = Path(settings.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(upgrade, settings.database_url)
        self.store = make_engine(settings.database_url)
        self.auth = AuthService(self.store, settings, clock=self.clock)
        self.limiter = make_rate_limiter(
            settings, self.clock, metrics.redis_failures.labels("rate_limits").inc
        )
        self.projector = Projector(self.store)
        self.node = Node(
            NodeSettings(
                data / "node",
                fsync=settings.fsync,
                risk=self.risk,
                journal_retry_max_s=settings.journal_retry_max_s,
            ),
        )
        await self.node.start()
        await self.node.configure_risk()
        await self._catch_up()
        sequencer = self.node.sequencer
        if sequencer is None:
            raise RuntimeError("node started without a sequencer")
        self.marketdata = self._market_data_hub()
        self._catch_up_market_data()
        self.marketdata.start()
        sequencer.batch_listeners.append(self._on_batch)
        sequencer.on_applied = self._on_applied
        self._projector_task = asyncio.create_task(self._project())
        self.started_ts = time.time_ns()

    @property
    def engine(self) -> Engine:
        sequencer = self.node.sequencer
        if sequencer is None:
            raise RuntimeError("platform is not started")
        return sequencer.engine

    async def submit(self, command: Command, account: str | None = None) -> Result:
        """Sequence, journal and apply one command; remember the answer's seq for `account`."""
        result = await self.node.submit(command)
        if account is not None and result.seq > self.last_answer.get(account, 0):
            self.last_answer[account] = result.seq
        return result

    async def caught_up(self, account: str | None) -> None:
        """Wait until the read models reflect every command applied before this read began
        (so at least every answer `account` was given: read your writes, and others' fills)."""
        wanted = self.engine.last_seq
        if account is not None:
            wanted = max(wanted, self.last_answer.get(account, 0))
        if self.projected_seq >= wanted:
            return
        self._refuse_reads_while_failing()
        async with self._projected:
            await asyncio.wait_for(
                self._projected.wait_for(
                    lambda: self.projected_seq >= wanted or self.projection_failure is not None
                ),
                read_wait_s_max,
            )
        if self.projected_seq < wanted:
            self._refuse_reads_while_failing()

    def _refuse_reads_while_failing(self) -> None:
        failure = self.projection_failure
        if failure is None:
            return
        retry_after_s = max(1, math.ceil(self._projection_retry_at - time.monotonic()))
        raise ReadModelsUnavailable(f"projection failing: {failure!r}", retry_after_s)

    async def _catch_up(self) -> None:
        """Project what the event log holds beyond the read models (after a restart)."""
        start = await asyncio.to_thread(self.projector.last_seq)
        await self._project_log(start + 1, self.node.events.last_seq)
        self.projected_seq = max(self.projected_seq, start)

    async def _project_log(self, start: int, end: int) -> None:
        """Project the event log's commands from seq `start` to `end`, a batch at a time."""
        batch: list[tuple[int, int, list[Event]]] = []
        for command in self.node.events.read(start):
            if command[0] > end:
                break
            batch.append(command)
            if len(batch) >= projection_batch_max:
                await self._apply(batch)
                batch = []
        if batch:
            await self._apply(batch)

    async def _apply(self, batch: list[tuple[int, int, list[Event]]]) -> None:
        await asyncio.to_thread(self.projector.apply, batch)
        async with self._projected:
            self.projected_seq = max(self.projected_seq, batch[-1][0])
            self._projected.notify_all()

    def _market_data_hub(self) -> MarketDataHub:
        """Quotes, trades, depth and bars for subscribers; with `redis_url`, the latest
        quote and book per symbol are also cached in Redis."""
        cache = None
        market = self.marketdata_settings
        if self.settings.redis_url:
            from tradingfloor.marketdata.cache import RedisMarketDataCache
            from tradingfloor.outage import Outage

            outage = Outage(
                "Redis (market data cache)",
                self.settings.redis_retry_s,
                on_failure=metrics.redis_failures.labels("marketdata_cache").inc,
            )
            cache = RedisMarketDataCache(
                self.settings.redis_url,
                market.cache_prefix,
                market.cache_ttl_ms,
                timeout_ms=self.settings.redis_timeout_ms,
                outage=outage,
            )
        view = self.market_view
        return MarketDataHub(view.book, market, symbols=view.symbols, cache=cache)

    def _catch_up_market_data(self) -> None:
        """Build the market-data view, and the hub's trades and bars, from the whole event log:
        market data is a projection of the events alone. In one synchronous stretch, so that no
        batch is applied between the log's end and `_on_batch` taking over from it."""
        for seq, ts, events in self.node.events.read(1):
            self._feed_market_data([Applied(seq, ts, events)])
        if self.market_view.last_seq != self.engine.last_seq:  # the log holds some in memory
            raise RuntimeError(
                f"market data caught up to seq {self.market_view.last_seq} of "
                f"{self.engine.last_seq}: the event log is behind; make room, restart"
            )

    def _feed_market_data(self, batch: list[Applied] | list[Result]) -> None:
        self.market_view.on_batch(batch)
        self.marketdata.on_batch(batch)

    def _on_batch(self, results: list[Result]) -> None:
        self._pending.append(results)
        self._wakeup.set()
        self._feed_market_data(results)
        metrics.journal_batch.observe(len(results))
        for result in results:
            for event in result.events:
                if isinstance(event, TradeExecuted):
                    metrics.fills.labels(event.symbol).inc()

    def _on_applied(self, command: Command, ns: int) -> None:
        symbol = getattr(command, "symbol", None)
        if type(command) is PlaceOrder or type(command) is CancelOrder:
            metrics.matching_seconds.labels(symbol).observe(ns / 1e9)

    # ------------------------------------------------------------------ reads for the gateway

    def account_exists(self, account: str) -> bool:
        risk = self.engine.risk
        return risk is not None and account in risk.ledger.accounts

    def live_symbol_of(self, order_id: int) -> str | None:
        for symbol, book in self.engine.books.items():
            if book.is_live(order_id):
                return symbol
        return None

    async def read_model(self, account: str | None, query: Callable[..., Any], *args: Any) -> Any:
        """Run a read-model query after the caller's last answer is projected."""
        await self.caught_up(account)

        def run() -> Any:
            with self.store.connect() as connection:
                return query(connection, *args)

        return await asyncio.to_thread(run)

    async def order_view(self, order_id: int, account: str) -> dict[str, Any] | None:
        from tradingfloor.store import queries

        row = await self.read_model(account, queries.get_order, order_id)
        if row is None or row.account != account:
            return None
        fills = await self.read_model(account, queries.list_fills, account, order_id, None, 1_000)
        return views.order(row, fills)

    async def order_by_client_id(
        self, account: str, client_order_id: str
    ) -> dict[str, Any] | None:
        from tradingfloor.store import queries

        row = await self.read_model(
            account, queries.get_order_by_client_id, account, client_order_id
        )
        if row is None:
            return None
        fills = await self.read_model(
            account, queries.list_fills, account, row.order_id, None, 1_000
        )
        return views.order(row, fills)

    async def list_orders(
        self,
        account: str,
        status: str,
        symbol: str | None,
        after_ts: int | None,
        until_ts: int | None,
        limit: int,
        after_order_id: int | None,
        direction: str,
    ) -> tuple[list[dict[str, Any]], str | None]:
        from tradingfloor.store import queries

        rows = await self.read_model(
            account,
            queries.list_orders,
            account,
            None if status == "all" else status,
            symbol,
            after_ts,
            until_ts,
            limit + 1,
            after_order_id,
            direction,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_token = str(rows[-1].order_id) if more and rows else None
        return [views.order(row, []) for row in rows], next_token

    async def activities(
        self,
        account: str,
        kinds: list[str] | None,
        after_seq: int,
        until_seq: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        from tradingfloor.store import queries

        rows = await self.read_model(
            account,
            queries.list_activities,
            account,
            set(kinds) if kinds else None,
            after_seq or None,
            until_seq,
            limit,
        )
        return [views.activity(row) for row in rows]

    def positions(self, account: str) -> list[dict[str, Any]]:
        risk = self.engine.risk
        if risk is None:
            return []
        return [views.position(view) for view in risk.positions(account) if view.qty]

    def account_summary(self, account: str) -> dict[str, Any] | None:
        risk = self.engine.risk
        if risk is None:
            return None
        summary = risk.summary(account, max(self.engine.last_ts, time.time_ns()))
        return None if summary is None else views.account(summary)

    def quote(self, symbol: str) -> dict[str, Any]:
        quote = self.market_view.quote(symbol)
        return views.quote(symbol, quote.bid, quote.ask, quote.last_price, quote.seq)

    def book_depth(self, symbol: str, levels: int) -> dict[str, Any]:
        view = self.market_view
        return views.depth(symbol, view.depth(symbol, levels), view.last_seq)

    def recent_trades(self, symbol: str, limit: int) -> list[dict[str, Any]]:
        return [views.trade(event) for event in self.market_view.recent_trades(symbol, limit)]

    def problems(self) -> list[str]:
        found = []
        sequencer = self.node.sequencer
        if sequencer is None or sequencer.failure is not None or sequencer.done.is_set():
            found.append("the sequencer is not running")
        found.extend(self.node.problems())  # a full disk: the journal or the event log
        failure = self.projection_failure
        if failure is not None:
            found.append(
                f"read models failing at seq {self.projected_seq + 1} "
                f"({self.projection_attempts_failed} attempts, retrying every "
                f"{self._projection_retry_s(self.projection_attempts_failed):.1f} s): "
                f"{failure!r}"
            )
        return found

    async def _project(self) -> None:
        """Feed applied batches to the projector, off the event loop, in order; after a
        failure, retry with backoff from the read models' own last seq (see the module)."""
        failing = False
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                if failing:
                    await self._resume_from_event_log()
                await self._project_pending()
            except Exception as error:  # retried: the read models never stop for good
                failing = True
                delay_s = await self._projection_failed(error)
                if self._stopping:
                    log.warning(
                        "read models left at seq %d: the next start catches them up",
                        self.projected_seq,
                    )
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), delay_s)
                self._wakeup.set()
                continue
            if failing:
                failing = False
                self._projection_recovered()
            if self._stopping:  # the node stopped first: nothing more will come
                return

    async def _project_pending(self) -> None:
        while self._pending:
            batch: list[tuple[int, int, list[Event]]] = []
            while self._pending and len(batch) < projection_batch_max:
                batch.extend((r.seq, r.ts, r.events) for r in self._pending.popleft())
            await self._apply(batch)

    async def _resume_from_event_log(self) -> None:
        """Drop what is queued in memory and project from the event log what the read models
        lack, up to the log's end now: the batches queued from now on continue it (the event
        log is appended before this platform's batch listener runs, in the same call)."""
        self._pending.clear()
        end = self.node.events.last_seq
        start = await asyncio.to_thread(self.projector.last_seq)
        async with self._projected:
            self.projected_seq = max(self.projected_seq, start)
        await self._project_log(start + 1, end)

    def _projection_retry_s(self, attempts_failed: int) -> float:
        """The wait after `attempts_failed` failed attempts in a row: doubling, capped."""
        exponent = min(attempts_failed - 1, 32)  # no float overflow however long it fails
        return float(
            min(projection_retry_first_s * 2**exponent, self.settings.projector_retry_max_s)
        )

    async def _projection_failed(self, error: Exception) -> float:
        """Record, log and count one failed attempt; wake the readers waiting for it (they
        are refused); returns how long to wait before the next attempt."""
        self._pending.clear()  # the event log has them: the retry reads them from there
        self.projection_attempts_failed += 1
        attempt = self.projection_attempts_failed
        delay_s = self._projection_retry_s(attempt)
        self._projection_retry_at = time.monotonic() + delay_s
        self.projection_failure = error
        metrics.projection_failures.inc()
        capped = delay_s >= self.settings.projector_retry_max_s
        message = "read model projection failed at seq %d (attempt %d), retrying in %.1f s%s"
        arguments = (
            self.projected_seq + 1,
            attempt,
            delay_s,
            " (the longest wait: it keeps failing)" if capped else "",
        )
        if attempt == 1:
            log.exception(message, *arguments)
        else:
            log.warning(message + ": %r", *arguments, error)
        async with self._projected:
            self._projected.notify_all()
        return delay_s

    def _projection_recovered(self) -> None:
        log.warning(
            "read models projecting again at seq %d after %d failed attempts",
            self.projected_seq,
            self.projection_attempts_failed,
        )
        self.projection_failure = None
        self.projection_attempts_failed = 0

    async def stop(self) -> None:
        """Stop taking commands, finish projecting what was applied, close everything."""
        await self.node.stop()
        if hasattr(self, "marketdata"):
            await self.marketdata.stop()
        self._stopping = True
        self._stop_requested.set()
        self._wakeup.set()
        if self._projector_task is not None:
            await self._projector_task
        if isinstance(self.limiter, RedisRateLimiter):
            await self.limiter.close()
        self.store.dispose()
