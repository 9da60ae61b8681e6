"""`ShardPort` over NATS: what a gateway or projector process holds in distributed mode.

Commands and questions are requests to the shard's subjects (`nats_shard`), each answered
within `request_timeout_s`. When no shard answers (none subscribed: not started yet,
restarting), when the answer does not come in time, or while this process is disconnected from
NATS, a request fails at once with `ShardUnavailable` (HTTP 503, code 5031), as with the local
client. A command whose answer was lost may have been applied: its client learns the outcome
from the event feed or the read models (and a client order id makes its retry safe).

`follow` is the shard's events stream from a seq (`nats_events_feed.follow_events`): it re-creates
its consumer by itself, with no gap and no repeat.
"""

from collections.abc import AsyncGenerator
from typing import Any

import nats.errors
from nats.aio.client import Client

from tradingfloor.domain.commands import Command
from tradingfloor.domain.origin import Origin
from tradingfloor.service import wire
from tradingfloor.service.nats_events_feed import follow_events
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.ports import EventBatch
from tradingfloor.service.sequencer import Result
from tradingfloor.service.shard_client import _DECODERS, ShardQuestions, ShardUnavailable


class NatsShardClient(ShardQuestions):
    def __init__(self, nc: Client, names: NatsNames, request_timeout_s: float) -> None:
        self.nc = nc
        self.names = names
        self.request_timeout_s = request_timeout_s

    async def _request(self, subject: str, message: Any) -> Any:
        if not self.nc.is_connected:
            raise ShardUnavailable("the shard cannot be reached: NATS is disconnected")
        try:
            reply = await self.nc.request(
                subject, wire.encode(message), timeout=self.request_timeout_s
            )
        except nats.errors.NoRespondersError as error:
            raise ShardUnavailable(f"no shard answers on {subject}") from error
        except nats.errors.TimeoutError as error:
            raise ShardUnavailable(
                f"the shard did not answer in {self.request_timeout_s:g} s"
            ) from error
        except nats.errors.Error as error:
            raise ShardUnavailable(f"the shard cannot be reached: {error!r}") from error
        answer = wire.client_decoder.decode(reply.data)
        if type(answer) is wire.Failed:
            raise wire.error_of(answer)
        return answer

    async def submit(self, command: Command, origin: Origin | None = None) -> Result:
        known: Any = command  # one of ANY_COMMAND
        answer = await self._request(self.names.commands, wire.Submit(0, known, origin))
        return Result(answer.seq, answer.ts, answer.command, answer.events)

    async def ask(self, question: str, *args: Any) -> Any:
        told = await self._request(self.names.questions, wire.Ask(0, question, list(args)))
        return _DECODERS[question].decode(told.value)

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        """The feed from `from_seq`, following again by itself (see the module)."""
        async for batch in follow_events(self.nc, self.names, from_seq):
            yield batch
