"""`ShardRole` on NATS: what the shard's process serves in distributed mode.

Commands and questions arrive by request/reply on `<prefix>.<shard>.commands` and
`.questions` (queue group `<prefix>.<shard>.shard`), their payloads the local transport's
messages (`wire.Submit` answered `Answered` or `Failed`, `wire.Ask` answered `Told` or
`Failed`, the request's id unused: the reply subject pairs them). Each request runs in a task
of its own, so that concurrent commands reach the sequencer together and share its group
commit; beyond `requests_in_flight_max` a request is refused at once as overloaded.

The events go to the shard's stream by `EventPublisher` (`nats_events_publisher`), started
first: a shard whose stream disagrees with it refuses to serve. Its trouble is in the answer to
`problems`, and a conflict (another publisher on the stream) calls `on_fatal`: the shard stops.

One shard per name serves: with `shard_standby`, the primary of the shard's candidates
(`service.standby`), which subscribes to the queue group only once its fence is journaled, so
that the gateways find it by themselves. Without it, two shards of one name that both started
would share the commands between them; the second is stopped when its events meet the first
one's in the stream, but with file journals it may have acknowledged commands by then. The
JetStream journal fences it before any acknowledgement (`Nats-Expected-Last-Sequence`).
A `TakeOverShard` is the takeover's own record: one sent as a command is refused.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from tradingfloor.domain.commands import TakeOverShard
from tradingfloor.service import wire
from tradingfloor.service.nats_events import EventsConflict
from tradingfloor.service.nats_events_publisher import EventPublisher
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.sequencer import InvalidCommand
from tradingfloor.service.shard import QUESTIONS, ShardRole

log = logging.getLogger("tradingfloor.nats_shard")

requests_in_flight_max = 10_000
"""Commands and questions being answered at once; more are refused (overloaded)."""
stop_publish_wait_s = 5.0
"""At a stop, how long the publisher may take to publish what was applied."""


class NatsShardServer:
    def __init__(
        self,
        shard: ShardRole,
        nc: Client,
        names: NatsNames,
        replicas: int = 1,
        on_fatal: Callable[[BaseException], None] = lambda error: None,
        owner: Callable[[Any], str | None] | None = None,
    ) -> None:
        """`owner`: the shard a command belongs to (None: every shard), on a platform of
        several; a command that belongs to another shard is refused before it is sequenced."""
        self.owner = owner
        self.shard = shard
        self.nc = nc
        self.names = names
        self.on_fatal = on_fatal
        self.publisher = EventPublisher(nc, names, shard, replicas, self._conflict)
        self.tasks: set[asyncio.Task[None]] = set()
        self._subscriptions: list[Any] = []

    async def start(self) -> None:
        await self.publisher.start()
        names = self.names
        self._subscriptions = [
            await self.nc.subscribe(names.commands, names.shard_queue, cb=self._on_command),
            await self.nc.subscribe(names.questions, names.shard_queue, cb=self._on_question),
        ]
        await self.nc.flush()  # subscribed at the server before the shard says it is ready

    async def stop(self) -> None:
        """Take no more requests, answer those taken, publish what was applied."""
        for subscription in self._subscriptions:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()
        if self.tasks:
            await asyncio.wait(list(self.tasks))
        last_seq = await self.shard.last_seq()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + stop_publish_wait_s
        publisher = self.publisher
        while (
            publisher.published_seq < last_seq
            and publisher.conflict is None
            and loop.time() < deadline
        ):
            await asyncio.sleep(0.01)
        await publisher.stop()

    async def halt(self) -> None:
        """Take no more requests and stop publishing, at once (the lease is lost: another
        primary serves and publishes the same events)."""
        for subscription in self._subscriptions:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()
        await self.publisher.stop()

    def _conflict(self, error: EventsConflict) -> None:
        self.on_fatal(error)

    # ------------------------------------------------------------------ requests

    async def _on_command(self, msg: Msg) -> None:
        self._spawn(msg, self._command)

    async def _on_question(self, msg: Msg) -> None:
        self._spawn(msg, self._question)

    def _spawn(self, msg: Msg, answer: Callable[[Any], Any]) -> None:
        if not msg.reply:
            return  # a request nobody waits for
        overloaded = len(self.tasks) >= requests_in_flight_max
        task = asyncio.create_task(self._refuse(msg) if overloaded else self._answer(msg, answer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _refuse(self, msg: Msg) -> None:
        failed = wire.Failed(0, "overloaded", "the shard has too many requests in flight")
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(wire.encode(failed))

    async def _answer(self, msg: Msg, answer: Callable[[Any], Any]) -> None:
        try:
            message = wire.server_decoder.decode(msg.data)
            reply = await answer(message)
        except Exception as error:
            kind, retry_after_s = wire.failure_of(error)
            if isinstance(error, msgspec.DecodeError):
                kind = "invalid"
            reply = wire.Failed(0, kind, str(error), retry_after_s)
        try:
            await msg.respond(wire.encode(reply))
        except nats.errors.Error as error:  # the asker learns by its timeout
            log.warning("an answer could not be sent: %r", error)

    async def _command(self, message: Any) -> Any:
        if type(message) is not wire.Submit:
            raise ValueError(f"a {type(message).__name__} on the commands subject")
        if type(message.command) is TakeOverShard:
            raise ValueError("a TakeOverShard is journaled by a shard's takeover only")
        self._check_owner(message.command)
        result = await self.shard.submit(message.command, message.origin)
        command: Any = result.command  # every command is one of ANY_COMMAND (events alike)
        events: Any = result.events
        return wire.Answered(0, result.seq, result.ts, command, events)

    def _check_owner(self, command: Any) -> None:
        """Refuse (`InvalidCommand`) a command of another shard: a gateway whose shard map
        differs from this shard's must not list a symbol on two shards. A symbol this shard
        has (one moved here) is its own whatever the map says."""
        if self.owner is None:
            return
        try:
            owner = self.owner(command)
        except ValueError:  # a move between shards: it names its shards
            return
        if owner is None or owner == self.names.shard:
            return
        instrument = getattr(command, "instrument", None)
        symbol = instrument.symbol if instrument is not None else getattr(command, "symbol", None)
        if symbol not in self.shard.engine.books:
            raise InvalidCommand(f"this is shard {self.names.shard}: the command is {owner}'s")

    async def _question(self, message: Any) -> Any:
        if type(message) is not wire.Ask:
            raise ValueError(f"a {type(message).__name__} on the questions subject")
        if message.question not in QUESTIONS:
            raise LookupError(f"no question {message.question!r}")
        value = await getattr(self.shard, message.question)(*message.args)
        if message.question == "problems":
            problem = self.publisher.problem()
            value = [*value, problem] if problem else value
        return wire.Told(0, msgspec.Raw(wire.encode(value)))
