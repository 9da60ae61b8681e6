"""The latest quote and book per symbol in Redis, for processes that have no engine.

Written by the hub on its pro-tier flush (every 0.1 s) for the symbols that changed, and for
every symbol each half TTL; each key expires after `ttl_ms`, so a reader never gets a state
older than that from a publisher that stopped. Keys: `{prefix}quote:{symbol}` and
`{prefix}book:{symbol}`, values the JSON bodies of the WebSocket `quote` and `depth` messages.

The cache is best effort and must never hold market data up: connecting and each command give
up after `timeout_ms`, and after a failure writes are skipped at once for the outage's
`retry_s` before Redis is tried again (`tradingfloor.outage.Outage`: logged once per outage,
each failure counted). `write` says whether the entries were written; the hub keeps the ones
that were not for the next write.
"""

from collections.abc import Mapping
from typing import Any

import msgspec

from tradingfloor.outage import Outage, Unavailable, redis_client

DEFAULT_TIMEOUT_MS = 250


class RedisMarketDataCache:
    def __init__(
        self,
        url: str,
        prefix: str,
        ttl_ms: int,
        *,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        outage: Outage | None = None,
    ) -> None:
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive")
        self.redis: Any = redis_client(url, timeout_ms)
        self.prefix, self.ttl_ms = prefix, ttl_ms
        self.outage = outage or Outage("Redis (market data cache)", 1.0)

    async def write(self, entries: Mapping[str, tuple[bytes, bytes]]) -> bool:
        """Set the quote and book of each symbol, with the TTL, in one round trip; False when
        Redis is down (nothing was written, or not all of it)."""
        pipeline = self.redis.pipeline(transaction=False)
        for symbol, (quote, book) in entries.items():
            pipeline.set(f"{self.prefix}quote:{symbol}", quote, px=self.ttl_ms)
            pipeline.set(f"{self.prefix}book:{symbol}", book, px=self.ttl_ms)
        try:
            await self.outage.call(pipeline.execute)
        except Unavailable:
            return False
        return True

    async def quote(self, symbol: str) -> dict[str, Any] | None:
        return await self._read(f"{self.prefix}quote:{symbol}")

    async def book(self, symbol: str) -> dict[str, Any] | None:
        return await self._read(f"{self.prefix}book:{symbol}")

    async def _read(self, key: str) -> dict[str, Any] | None:
        value = await self.redis.get(key)
        if value is None:
            return None
        body: dict[str, Any] = msgspec.json.decode(value)
        return body

    async def close(self) -> None:
        await self.redis.aclose()
