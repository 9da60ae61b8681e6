"""The event feed into market data: each batch of applied commands, in seq order, into the
market-data view (quotes, depth, the tape), the hub (subscribers, bars) and any other live
listeners, in the process that holds them (a gateway, or the market-data role's own)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from tradingfloor.marketdata.hub import MarketDataHub
from tradingfloor.marketdata.view import Applied, MarketDataView

Batch = Sequence[Sequence[Any]]
"""(seq, ts, events) per command, as the event feed carries them."""


class MarketFeed:
    """Follows the feed from a seq and applies it; `fed_seq` is the newest seq applied."""

    def __init__(
        self,
        follow: Callable[[int], AsyncIterator[Batch]],
        market: MarketDataView,
        hub: MarketDataHub,
        listeners: list[Callable[[Any], None]] | None = None,
    ) -> None:
        self.follow, self.market, self.hub = follow, market, hub
        self.listeners = listeners if listeners is not None else []
        self.fed_seq = 0
        self._task: asyncio.Task[None] | None = None

    def start(self, from_seq: int = 1) -> None:
        """Follow from `from_seq` (1: rebuild the view from the whole event log)."""
        self.fed_seq = from_seq - 1
        self._task = asyncio.create_task(self._run(from_seq), name="market-feed")

    async def _run(self, from_seq: int) -> None:
        async for batch in self.follow(from_seq):
            applied = [Applied._make(item) for item in batch]
            self.market.on_batch(applied)
            self.hub.on_batch(applied)
            for listener in self.listeners:
                listener(batch)
            self.fed_seq = applied[-1].seq

    async def catch_up(self, seq: int, timeout_s: float) -> None:
        """Before serving: wait until the feed has reached `seq` (or `timeout_s` has passed);
        the trades fed by then are history to the hub (`MarketDataHub.caught_up`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.fed_seq < seq and loop.time() < deadline:
            await asyncio.sleep(0.001)
        self.hub.caught_up()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
