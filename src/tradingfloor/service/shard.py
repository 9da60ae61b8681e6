"""The shard role: the single writer of its symbols' journal, engine and event log.

`ShardRole` is the `ShardPort` in one process: `submit` goes to the node's sequencer, the
questions read the engine between two commands (the event loop runs one thing at a time, so a
question sees a state some command left), and `follow` is the event log's feed. Across
processes, `ShardServer` answers the same port on a Unix socket (`service.wire`).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, cast

import msgspec

from tradingfloor.domain.commands import Command
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import Origin
from tradingfloor.engine import Engine
from tradingfloor.engine.pipeline import AccountSummary, PositionView
from tradingfloor.journal.base import Journal
from tradingfloor.service import wire
from tradingfloor.service.node import Node, NodeSettings
from tradingfloor.service.ports import EventBatch, LiveOrder
from tradingfloor.service.sequencer import Result

log = logging.getLogger("tradingfloor.shard")

feed_batch_max = 2_000
"""Commands in one batch of the event feed, at most, when it reads from the files."""


class ShardRole:
    def __init__(
        self,
        settings: NodeSettings,
        clock: Callable[[], int] = time.time_ns,
        journal: Journal | None = None,
    ) -> None:
        self.node = Node(settings, journal)  # None: the file journal under its data dir
        self.clock = clock

    async def start(self) -> None:
        await self.node.start()
        await self.node.configure_risk()

    async def stop(self) -> None:
        await self.node.stop()

    @property
    def engine(self) -> Engine:
        sequencer = self.node.sequencer
        if sequencer is None:
            raise RuntimeError("the shard is not started")
        return sequencer.engine

    # ------------------------------------------------------------------ ShardPort

    async def submit(self, command: Command, origin: Origin | None = None) -> Result:
        return await self.node.submit(command, origin)

    async def last_seq(self) -> int:
        return self.engine.last_seq

    async def last_tokens(self) -> list[int]:
        return [self.engine.last_seq]

    async def account(self, account: str, ts: int) -> AccountSummary | None:
        engine = self.engine
        risk = engine.risk
        return None if risk is None else risk.summary(account, max(ts, engine.last_ts))

    async def positions(self, account: str) -> list[PositionView]:
        risk = self.engine.risk
        return [] if risk is None else risk.positions(account)

    async def live_order(self, order_id: int) -> LiveOrder | None:
        for symbol, book in self.engine.books.items():
            order = book.order_view(order_id)
            if order is not None:
                return LiveOrder(symbol, order)
        return None

    async def instruments(self) -> list[Instrument]:
        return [book.instrument for book in self.engine.books.values()]

    async def problems(self) -> list[str]:
        found = []
        sequencer = self.node.sequencer
        if sequencer is None or sequencer.failure is not None or sequencer.done.is_set():
            found.append("the sequencer is not running")
        found.extend(self.node.problems())  # a full disk: the journal or the event log
        return found

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        async for batch in self.node.events.follow_batches(from_seq, feed_batch_max):
            yield batch


# ---------------------------------------------------------------------- over a socket

QUESTIONS = ("last_seq", "account", "positions", "live_order", "instruments", "problems")
"""What a client may ask the shard (the `ShardPort` methods that are not commands)."""


class _EncodedBatches:
    """The latest feed batches encoded, by (first seq, last seq): every follower of the live
    feed gets the same batches, encoded once."""

    kept_max = 16

    def __init__(self) -> None:
        self._kept: dict[tuple[int, int], bytes] = {}

    def of(self, batch: EventBatch) -> bytes:
        key = (batch[0][0], batch[-1][0])
        payload = self._kept.get(key)
        if payload is None:
            payload = wire.encode(wire.Batch(cast(Any, batch)))
            if len(self._kept) >= self.kept_max:
                del self._kept[next(iter(self._kept))]  # the oldest (dicts keep order)
            self._kept[key] = payload
        return payload


class _Connection(wire.Framed):
    def __init__(
        self, shard: ShardRole, connections: set["_Connection"], encoded: _EncodedBatches
    ) -> None:
        super().__init__(wire.server_decoder)
        self.shard = shard
        self.connections = connections
        self.encoded = encoded
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.connections.add(self)

    def on_message(self, message: Any) -> None:
        if type(message) is wire.Submit:
            self._spawn(self._submit(message))
        elif type(message) is wire.Ask:
            self._spawn(self._ask(message))
        else:
            self._spawn(self._follow(message.from_seq))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _submit(self, message: wire.Submit) -> None:
        try:
            result = await self.shard.submit(message.command, message.origin)
        except Exception as error:
            kind, retry_after_s = wire.failure_of(error)
            self.send(wire.Failed(message.id, kind, str(error), retry_after_s))
            return
        command: Any = result.command  # every command is one of ANY_COMMAND (and events alike)
        events: Any = result.events
        self.send(wire.Answered(message.id, result.seq, result.ts, command, events))

    async def _ask(self, message: wire.Ask) -> None:
        try:
            if message.question not in QUESTIONS:
                raise LookupError(f"no question {message.question!r}")
            value = await getattr(self.shard, message.question)(*message.args)
        except Exception as error:
            kind, retry_after_s = wire.failure_of(error)
            self.send(wire.Failed(message.id, kind, str(error), retry_after_s))
            return
        self.send(wire.Told(message.id, msgspec.Raw(wire.encode(value))))

    async def _follow(self, from_seq: int) -> None:
        """Stream the feed until the peer goes (or the log stops: the peer reconnects)."""
        try:
            async for batch in self.shard.follow(from_seq):
                if self.transport is None:
                    return
                self.send_encoded(self.encoded.of(batch))
                if self.transport.get_write_buffer_size() > wire.write_buffer_bytes_high:
                    await self.writable.wait()
        except Exception as error:
            log.warning("event feed to a follower ended: %r", error)
            self.close()

    def on_closed(self) -> None:
        self.connections.discard(self)
        for task in list(self.tasks):
            task.cancel()  # a submit already queued still runs: the sequencer owns it now


class ShardServer:
    """`ShardRole` on a Unix socket (owner-only: the socket's directory is 0700)."""

    def __init__(self, shard: ShardRole, path: Path) -> None:
        self.shard = shard
        self.path = path
        self.connections: set[_Connection] = set()
        self.encoded = _EncodedBatches()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await wire.listen(
            self.path, lambda: _Connection(self.shard, self.connections, self.encoded)
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
