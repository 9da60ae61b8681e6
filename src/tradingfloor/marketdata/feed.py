"""The event feed into market data: each batch of applied commands, in seq order, into the
market-data view (quotes, depth, the tape), the hub (subscribers, bars) and any other live
listeners, in the process that holds them (a gateway, or the market-data role's own).

On a platform of several symbol shards there is one `MarketFeed` per shard into the same
view and hub (`MarketFeeds`), each applying its shard's batches with seq tokens
(`domain.shards.seq_token`), so the view checks each shard's order on its own."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN, split_token
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
        shard_index: int = 0,
    ) -> None:
        """`shard_index`: the shard whose feed this is (its seqs become seq tokens)."""
        self.follow, self.market, self.hub = follow, market, hub
        self.listeners = listeners if listeners is not None else []
        self.token_base = shard_index * ORDER_ID_SHARD_SPAN
        self.fed_seq = 0
        """The newest seq of the shard applied (a seq, not a token)."""
        self._task: asyncio.Task[None] | None = None

    def start(self, from_seq: int = 1) -> None:
        """Follow from `from_seq` (1: rebuild the view from the whole event log)."""
        self.fed_seq = from_seq - 1
        self._task = asyncio.create_task(self._run(from_seq), name="market-feed")

    async def _run(self, from_seq: int) -> None:
        base = self.token_base
        async for batch in self.follow(from_seq):
            if base:
                applied = [Applied(base + seq, ts, events) for seq, ts, events in batch]
            else:
                applied = [Applied._make(item) for item in batch]
            self.market.on_batch(applied)
            self.hub.on_batch(applied)
            for listener in self.listeners:
                listener(batch)
            self.fed_seq = applied[-1].seq - base

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class MarketFeeds:
    """A `MarketFeed` per shard (the map's order) into one view and hub."""

    def __init__(
        self,
        follows: Sequence[Callable[[int], AsyncIterator[Batch]]],
        market: MarketDataView,
        hub: MarketDataHub,
        listeners: list[Callable[[Any], None]] | None = None,
    ) -> None:
        self.feeds = [
            MarketFeed(follow, market, hub, listeners, index)
            for index, follow in enumerate(follows)
        ]
        self.market, self.hub = market, hub

    @property
    def fed_seq(self) -> int:
        """The first shard's newest seq applied (on one shard: the feed's)."""
        return self.feeds[0].fed_seq

    def start(self, from_seq: int = 1) -> None:
        for feed in self.feeds:
            feed.start(from_seq)

    async def catch_up(self, tokens: Sequence[int], timeout_s: float) -> None:
        """Before serving: wait until each shard's feed has reached its token in `tokens`
        (`ShardPort.last_tokens`), or `timeout_s` has passed; the trades fed by then are
        history to the hub (`MarketDataHub.caught_up`)."""
        await self.reach(tokens, timeout_s)
        if tokens:
            self.hub.caught_up()

    async def reach(self, tokens: Sequence[int], timeout_s: float) -> bool:
        """Wait until each shard's feed has reached its token in `tokens`: False if one has
        not within `timeout_s` (a read of the view then would not see what it should)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        for token in tokens:
            index, seq = split_token(token)
            if index >= len(self.feeds):
                continue
            feed = self.feeds[index]
            while feed.fed_seq < seq:
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(0.001)
        return True

    async def stop(self) -> None:
        for feed in self.feeds:
            await feed.stop()
