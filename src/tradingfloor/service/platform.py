"""The whole platform in one process: node, store, auth, rate limits, read models, demo.

`Platform.start()` recovers the node from its journal (file journal under `data_dir/node`),
migrates the database, catches the read models up from the event log, and from then on feeds
every applied batch to the projector on a worker thread. The gateway answers an order after the
node has made it durable; a client's reads wait until the read models have reached the last
sequence number that client was answered with (read your writes).
"""

import asyncio
import logging
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
from tradingfloor.gateway.auth import AuthService
from tradingfloor.gateway.ratelimit import MemoryRateLimiter, RedisRateLimiter, make_rate_limiter
from tradingfloor.marketdata.hub import MarketDataHub, MarketDataSettings
from tradingfloor.service.node import Node, NodeSettings
from tradingfloor.service.sequencer import Result

log = logging.getLogger("tradingfloor.platform")

projection_batch_max = 2_000
"""Commands projected in one database transaction at most."""
tape_trades_max = 1_000
"""Recent trades kept per symbol for `GET /v1/trades/{symbol}`."""
read_wait_s_max = 5.0
"""How long a read waits for the read models to reach the caller's last answer."""


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
    projection_failure: BaseException | None = None
    tape: dict[str, deque[TradeExecuted]] = field(default_factory=dict)
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
        self.limiter = make_rate_limiter(settings, self.clock)
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
        async with self._projected:
            await asyncio.wait_for(
                self._projected.wait_for(lambda: self.projected_seq >= wanted), read_wait_s_max
            )

    async def _catch_up(self) -> None:
        """Project what the event log holds beyond the read models (after a restart)."""
        batch: list[tuple[int, int, list[Event]]] = []
        start = self.projector.last_seq() + 1
        for seq, ts, events in self.node.events.read(start):
            batch.append((seq, ts, events))
            if len(batch) >= projection_batch_max:
                await asyncio.to_thread(self.projector.apply, batch)
                batch = []
        if batch:
            await asyncio.to_thread(self.projector.apply, batch)
        self.projected_seq = self.projector.last_seq()

    def _market_data_hub(self) -> MarketDataHub:
        """Quotes, trades, depth and bars for subscribers; with `redis_url`, the latest
        quote and book per symbol are also cached in Redis."""
        cache = None
        market = self.marketdata_settings
        if self.settings.redis_url:
            from tradingfloor.marketdata.cache import RedisMarketDataCache

            cache = RedisMarketDataCache(
                self.settings.redis_url, market.cache_prefix, market.cache_ttl_ms
            )
        return MarketDataHub(
            lambda symbol: self.engine.books.get(symbol),
            market,
            symbols=lambda: self.engine.books.keys(),
            cache=cache,
        )

    def _on_batch(self, results: list[Result]) -> None:
        self._pending.append(results)
        self._wakeup.set()
        self.marketdata.on_batch(results)
        metrics.journal_batch.observe(len(results))
        tape = self.tape
        for result in results:
            for event in result.events:
                if isinstance(event, TradeExecuted):
                    symbol = event.symbol
                    trades = tape.get(symbol)
                    if trades is None:
                        trades = tape[symbol] = deque(maxlen=tape_trades_max)
                    trades.append(event)
                    metrics.fills.labels(symbol).inc()

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
        book = self.engine.books[symbol]
        return views.quote(
            symbol, book.best_bid(), book.best_ask(), book.last_price, self.engine.last_seq
        )

    def book_depth(self, symbol: str, levels: int) -> dict[str, Any]:
        depth = self.engine.books[symbol].depth(levels)
        return views.depth(symbol, depth, self.engine.last_seq)

    def recent_trades(self, symbol: str, limit: int) -> list[dict[str, Any]]:
        trades = list(self.tape.get(symbol, ()))[-limit:]
        return [views.trade(event) for event in reversed(trades)]

    def problems(self) -> list[str]:
        found = []
        sequencer = self.node.sequencer
        if sequencer is None or sequencer.failure is not None or sequencer.done.is_set():
            found.append("the sequencer is not running")
        found.extend(self.node.problems())  # a full disk: the journal or the event log
        if self.projection_failure is not None:
            found.append(f"read models stopped: {self.projection_failure}")
        return found

    async def _project(self) -> None:
        """Feed applied batches to the projector, off the event loop, in order."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch: list[tuple[int, int, list[Event]]] = []
                while self._pending and len(batch) < projection_batch_max:
                    batch.extend((r.seq, r.ts, r.events) for r in self._pending.popleft())
                try:
                    await asyncio.to_thread(self.projector.apply, batch)
                except Exception as error:  # the read models stop; the node goes on
                    self.projection_failure = error
                    log.exception("read model projection failed", extra={"seq": batch[0][0]})
                    return
                async with self._projected:
                    self.projected_seq = batch[-1][0]
                    self._projected.notify_all()
            if self._stopping:
                return

    async def stop(self) -> None:
        """Stop taking commands, finish projecting what was applied, close everything."""
        await self.node.stop()
        if hasattr(self, "marketdata"):
            await self.marketdata.stop()
        self._stopping = True
        self._wakeup.set()
        if self._projector_task is not None:
            await self._projector_task
        self.store.dispose()
