"""Every shard's event feed, followed by a role that keeps its own place in each.

A role that reads the feeds (the audit trail, surveillance, trade reports) says where it
stands in each shard's feed (`positions`: the last seq it has taken, 0 for none) and gets
every later batch once, in order per shard, one batch at a time across all shards (the
handler never runs twice at once, so it may write one file for all of them). A shard that is
away is followed again from the role's place after a wait that doubles up to
`retry_wait_s_max`: no gap and no repeat, whatever the transport does. A handler that fails
stops the follower (`failure`), since skipping a batch would leave a gap.

`caught_up()` returns once every feed has been read up to the seq its shard had when asked,
for a start that should reflect the whole journal before it serves.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

from tradingfloor.service.ports import EventBatch, ShardPort

log = logging.getLogger("tradingfloor.feeds")

retry_wait_s_first = 0.05
retry_wait_s_max = 5.0
"""The longest wait before a feed that failed is followed again."""
caught_up_wait_s = 600.0
"""How long `caught_up` waits for the feeds to reach their shards' newest command."""

Handler = Callable[[str, EventBatch], Awaitable[None]]
"""Told (shard name, batch) for every batch of every feed."""


class FeedFollower:
    def __init__(
        self,
        shards: Mapping[str, ShardPort],
        handler: Handler,
        positions: Mapping[str, int] | None = None,
    ) -> None:
        if not shards:
            raise ValueError("a feed follower needs at least one shard")
        self.shards = dict(shards)
        self.handler = handler
        self.positions = {name: (positions or {}).get(name, 0) for name in self.shards}
        """The last seq handled, per shard."""
        self.failure: BaseException | None = None
        """The handler's failure, which stopped the follower."""
        self.done = asyncio.Event()
        """Set when the handler failed (and every feed stopped)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._fed = asyncio.Condition()

    def start(self) -> None:
        for name in self.shards:
            self._tasks.append(asyncio.create_task(self._follow(name), name=f"feed {name}"))

    async def stop(self) -> None:
        running = [task for task in self._tasks if not task.done()]
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def caught_up(self, wait_s: float = caught_up_wait_s) -> None:
        """Return once each feed is handled up to its shard's seq at the time of asking
        (raises `TimeoutError` after `wait_s`, or the handler's failure)."""
        for name, port in self.shards.items():
            last = await self._retry_last_seq(name, port)
            async with self._fed:
                await asyncio.wait_for(
                    self._fed.wait_for(partial(self._reached, name, last)),
                    wait_s,
                )
            if self.failure is not None:
                raise self.failure

    def _reached(self, name: str, seq: int) -> bool:
        return self.positions[name] >= seq or self.failure is not None

    async def _retry_last_seq(self, name: str, port: ShardPort) -> int:
        wait_s = retry_wait_s_first
        while True:
            try:
                return await port.last_seq()
            except Exception as error:
                log.warning("shard %s does not answer: %r; asking again", name, error)
                await asyncio.sleep(wait_s)
                wait_s = min(wait_s * 2, retry_wait_s_max)

    async def _follow(self, name: str) -> None:
        port = self.shards[name]
        wait_s = retry_wait_s_first
        while True:
            try:
                async for batch in port.follow(self.positions[name] + 1):
                    await self._handle(name, batch)
                    wait_s = retry_wait_s_first
            except _HandlerFailed:
                return
            except Exception as error:  # the shard is away: follow again from our place
                log.warning("feed of shard %s: %r; following again", name, error)
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, retry_wait_s_max)

    async def _handle(self, name: str, batch: EventBatch) -> None:
        fresh = [item for item in batch if item[0] > self.positions[name]]
        if not fresh:
            return
        if fresh[0][0] != self.positions[name] + 1:  # never skip a command: read it again
            raise RuntimeError(
                f"shard {name}'s feed went from seq {self.positions[name]} to {fresh[0][0]}"
            )
        async with self._lock:
            if self.failure is not None:
                raise _HandlerFailed
            try:
                await self.handler(name, fresh)
            except Exception as error:
                self.failure = error
                log.error("the handler of shard %s's feed failed: %r", name, error)
                self.done.set()
                for task in self._tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
                async with self._fed:
                    self._fed.notify_all()
                raise _HandlerFailed from error
            self.positions[name] = fresh[-1][0]
        async with self._fed:
            self._fed.notify_all()


class _HandlerFailed(Exception):
    pass
