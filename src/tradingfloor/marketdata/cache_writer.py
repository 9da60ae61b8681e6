"""The hub's writes to the market-data cache: the latest quote and book per symbol.

Written from the pro tier's flush in a task of its own, at most one in flight: a flush never
waits for Redis. While a write is in flight the next states pile up per symbol (the latest
wins) for the write after it; entries a failed write could not store are kept the same way, so
the cache is whole again as soon as Redis is back. Every symbol is due again each half TTL
(`refresh_due`), so that quiet symbols stay cached.
"""

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Redis client is imported only where a cache is configured
    from tradingfloor.marketdata.cache import RedisMarketDataCache

log = logging.getLogger("tradingfloor.marketdata")


class CacheWriter:
    """The pending cache entries and the one write in flight (see the module)."""

    def __init__(self, cache: "RedisMarketDataCache", ttl_ms: int) -> None:
        self.cache = cache
        self.refresh_s = ttl_ms / 2_000
        self.pending: dict[str, tuple[bytes, bytes]] = {}
        """Per symbol: the encoded quote and book not written yet."""
        self.task: asyncio.Task[None] | None = None
        self.broken = False
        """The last write raised (a bug, not an outage): said once until a write works."""
        self._refreshed = 0.0

    def offer(self, symbol: str, quote: bytes, book: bytes) -> None:
        self.pending[symbol] = (quote, book)

    def refresh_due(self, monotonic: float) -> bool:
        """Whether every symbol is due to be rewritten now (each half TTL)."""
        if monotonic - self._refreshed < self.refresh_s:
            return False
        self._refreshed = monotonic
        return True

    def write(self) -> None:
        """Start a write of what is pending, unless one is in flight (it takes the rest next
        time: the latest state per symbol wins)."""
        if not self.pending:
            return
        if self.task is not None and not self.task.done():
            return
        pending, self.pending = self.pending, {}
        self.task = asyncio.create_task(self._write(pending))

    async def _write(self, entries: dict[str, tuple[bytes, bytes]]) -> None:
        try:
            written = await self.cache.write(entries)
        except Exception:  # a bug of the cache (an outage returns False): say it once
            if not self.broken:
                log.exception("market data cache write failed")
            self.broken = True
            return
        self.broken = False
        if not written:  # Redis is down: keep them for the next write, unless newer came
            for symbol, entry in entries.items():
                self.pending.setdefault(symbol, entry)

    async def close(self) -> None:
        """Wait for the write in flight, then close the cache."""
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await self.cache.close()
