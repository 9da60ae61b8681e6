"""`ShardPort` over the local transport: what a gateway or projector process holds.

Requests share one connection, answered by id in any order. When the shard cannot be
reached (not started yet, restarting, gone), a request fails at once with `ShardUnavailable`
(HTTP 503, code 5031) and the next one tries to connect again, at most once per
`reconnect_s`: nothing waits on a dead socket. A command whose answer was lost with its
connection may have been applied: its client learns the outcome from the event feed or the
read models (and a client order id makes its retry safe).

`follow` keeps its own connection and reconnects by itself from the seq after the last one it
gave: the feed has no gap and no repeat across a restart of the shard.
"""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import msgspec

from tradingfloor.domain.commands import Command
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import Origin
from tradingfloor.engine.pipeline import AccountSummary, PositionView
from tradingfloor.service import wire
from tradingfloor.service.ports import EventBatch, LiveOrder
from tradingfloor.service.sequencer import Result, SequencerStopped

log = logging.getLogger("tradingfloor.shard_client")

reconnect_s = 0.2
"""The shortest time between two attempts to reach the shard."""
connect_timeout_s = 2.0
feed_batches_buffered_max = 64
"""Feed batches received but not yet taken, past which the feed stops reading the socket."""


class ShardUnavailable(SequencerStopped):
    """The shard cannot be reached now: the next attempt may reach it (clients retry after a
    second; this client itself tries again at once)."""

    retry_after_s = 1.0


_DECODERS: dict[str, msgspec.msgpack.Decoder[Any]] = {
    "last_seq": msgspec.msgpack.Decoder(int),
    "account": msgspec.msgpack.Decoder(AccountSummary | None),
    "positions": msgspec.msgpack.Decoder(list[PositionView]),
    "live_order": msgspec.msgpack.Decoder(LiveOrder | None),
    "instruments": msgspec.msgpack.Decoder(list[Instrument]),
    "problems": msgspec.msgpack.Decoder(list[str]),
}


class ShardQuestions:
    """The shard's questions, typed, over any `ask(question, *args)` that returns the decoded
    answer (the local transport's client and the NATS one)."""

    async def ask(self, question: str, *args: Any) -> Any:
        raise NotImplementedError

    async def last_tokens(self) -> list[int]:
        return [await self.last_seq()]

    async def last_seq(self) -> int:
        value: int = await self.ask("last_seq")
        return value

    async def account(self, account: str, ts: int) -> AccountSummary | None:
        value: AccountSummary | None = await self.ask("account", account, ts)
        return value

    async def positions(self, account: str) -> list[PositionView]:
        value: list[PositionView] = await self.ask("positions", account)
        return value

    async def live_order(self, order_id: int) -> LiveOrder | None:
        value: LiveOrder | None = await self.ask("live_order", order_id)
        return value

    async def instruments(self) -> list[Instrument]:
        value: list[Instrument] = await self.ask("instruments")
        return value

    async def problems(self) -> list[str]:
        try:
            value: list[str] = await self.ask("problems")
        except ShardUnavailable as error:
            return [str(error)]
        return value


class _Requests(wire.Framed):
    def __init__(self) -> None:
        super().__init__(wire.client_decoder)
        self.waiting: dict[int, asyncio.Future[Any]] = {}

    def on_message(self, message: Any) -> None:
        future = self.waiting.pop(message.id, None)
        if future is None or future.done():
            return
        if type(message) is wire.Failed:
            future.set_exception(wire.error_of(message))
        else:
            future.set_result(message)

    def on_closed(self) -> None:
        waiting, self.waiting = self.waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ShardUnavailable("the connection to the shard was lost"))


class _Feed(wire.Framed):
    def __init__(self) -> None:
        super().__init__(wire.client_decoder)
        self.batches: asyncio.Queue[EventBatch | None] = asyncio.Queue()

        self.paused = False

    def on_message(self, message: Any) -> None:
        if type(message) is wire.Batch:
            self.batches.put_nowait(cast(EventBatch, message.items))
            if self.batches.qsize() >= feed_batches_buffered_max and self.transport is not None:
                self.transport.pause_reading()  # the shard's writer then waits for us
                self.paused = True

    def taken(self) -> None:
        """A batch was taken: read again once the queue has room."""
        if self.paused and self.batches.qsize() < feed_batches_buffered_max // 2:
            self.paused = False
            if self.transport is not None:
                self.transport.resume_reading()

    def on_closed(self) -> None:
        self.batches.put_nowait(None)


class ShardClient(ShardQuestions):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids = itertools.count(1)
        self._connection: _Requests | None = None
        self._connecting: asyncio.Lock | None = None
        self._next_attempt = 0.0

    async def _connect(self) -> _Requests:
        connection = self._connection
        if connection is not None and connection.transport is not None:
            return connection
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            current = self._connection
            if current is not None and current.transport is not None:
                return current
            loop = asyncio.get_running_loop()
            if loop.time() < self._next_attempt:
                raise ShardUnavailable("the shard cannot be reached: retry")
            self._next_attempt = loop.time() + reconnect_s
            try:
                _, opened = await asyncio.wait_for(
                    loop.create_unix_connection(_Requests, str(self.path)), connect_timeout_s
                )
            except (OSError, TimeoutError) as error:
                raise ShardUnavailable(f"the shard cannot be reached: {error}") from error
            self._connection = opened
            return opened

    async def _request(self, make: Any) -> Any:
        connection = await self._connect()
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        connection.waiting[request_id] = future
        connection.send(make(request_id))
        return await future

    async def submit(self, command: Command, origin: Origin | None = None) -> Result:
        known: Any = command  # one of ANY_COMMAND
        answer = await self._request(lambda request_id: wire.Submit(request_id, known, origin))
        return Result(answer.seq, answer.ts, answer.command, answer.events)

    async def ask(self, question: str, *args: Any) -> Any:
        told = await self._request(lambda request_id: wire.Ask(request_id, question, list(args)))
        return _DECODERS[question].decode(told.value)

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        """The feed from `from_seq`, reconnecting by itself (see the module)."""
        next_seq = from_seq
        loop = asyncio.get_running_loop()
        while True:
            try:
                _, feed = await asyncio.wait_for(
                    loop.create_unix_connection(_Feed, str(self.path)), connect_timeout_s
                )
            except (OSError, TimeoutError):
                await asyncio.sleep(reconnect_s)
                continue
            try:
                feed.send(wire.Follow(next_seq))
                while (batch := await feed.batches.get()) is not None:
                    feed.taken()
                    fresh = [item for item in batch if item[0] >= next_seq]
                    if fresh:
                        next_seq = fresh[-1][0] + 1
                        yield fresh
            finally:
                feed.close()
            log.warning("event feed lost at seq %d: reconnecting", next_seq)
            await asyncio.sleep(reconnect_s)

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
