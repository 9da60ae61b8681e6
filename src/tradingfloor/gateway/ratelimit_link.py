"""One order-entry rate limit per user across gateway processes, without Redis.

Gateway worker processes of one machine share one `MemoryRateLimiter`, held by the process
that supervises them (`LimiterServer`, a Unix socket); each worker asks it (`LimiterClient`,
the same `check` as the other limiters). A user's limit is then the same whichever worker
their connections land on. When the limiter cannot be reached the check fails closed, as with
Redis: `RateLimiterUnavailable` (HTTP 503, code 5034). With `redis_url` set, workers use
Redis directly and this link is not started.
"""

import asyncio
import itertools
from pathlib import Path
from typing import Any

import msgspec

from tradingfloor.gateway.ratelimit import Decision, MemoryRateLimiter, RateLimiterUnavailable
from tradingfloor.service import wire

check_timeout_s = 1.0
_decision = msgspec.msgpack.Decoder(Decision)


class _Answerer(wire.Framed):
    def __init__(self, limiter: MemoryRateLimiter) -> None:
        super().__init__(wire.server_decoder)
        self.limiter = limiter

    def on_message(self, message: Any) -> None:
        if type(message) is not wire.Ask or message.question != "check" or not message.args:
            self.close("not a check")
            return
        user = message.args[0]
        if not isinstance(user, int | str):
            self.close("not a user id")
            return
        decision = self.limiter.decide(user)
        self.send(wire.Told(message.id, msgspec.Raw(wire.encode(decision))))


class LimiterServer:
    def __init__(self, limiter: MemoryRateLimiter, path: Path) -> None:
        self.limiter = limiter
        self.path = path
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await wire.listen(self.path, lambda: _Answerer(self.limiter))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class _Asker(wire.Framed):
    def __init__(self) -> None:
        super().__init__(wire.client_decoder)
        self.waiting: dict[int, asyncio.Future[Any]] = {}

    def on_message(self, message: Any) -> None:
        future = self.waiting.pop(message.id, None)
        if future is not None and not future.done():
            future.set_result(message)

    def on_closed(self) -> None:
        waiting, self.waiting = self.waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(RateLimiterUnavailable(1))


class LimiterClient:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids = itertools.count(1)
        self._asker: _Asker | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> _Asker:
        asker = self._asker
        if asker is not None and asker.transport is not None:
            return asker
        async with self._lock:
            current = self._asker
            if current is not None and current.transport is not None:
                return current
            loop = asyncio.get_running_loop()
            try:
                _, opened = await asyncio.wait_for(
                    loop.create_unix_connection(_Asker, str(self.path)), check_timeout_s
                )
            except (OSError, TimeoutError) as error:
                raise RateLimiterUnavailable(1, error) from error
            self._asker = opened
            return opened

    async def check(self, user_id: int | str) -> Decision:
        asker = await self._connected()
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        asker.waiting[request_id] = future
        asker.send(wire.Ask(request_id, "check", [user_id]))
        try:
            told = await asyncio.wait_for(future, check_timeout_s)
        except TimeoutError as error:
            raise RateLimiterUnavailable(1, error) from error
        return _decision.decode(told.value)

    async def close(self) -> None:
        if self._asker is not None:
            self._asker.close()
