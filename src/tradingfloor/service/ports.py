"""The ports roles talk through: whatever runs them (one process, several, a cluster).

- `ShardPort`: the command bus (`submit`: a command's seq and events once durable and
  applied), the shard's answers about its live state between commands (accounts, positions,
  live orders, instruments), and the event feed (`follow`: batches from a seq, then live, no gap
  and no repeat).
- `ProjectionPort`: how far the read models have projected, and whether they are failing; a
  reader waits on it for its writes (`wait_for`).

A role holds a port, never another role's objects: in one process the port is the role itself
(`ShardRole`, `ProjectionRole`); across processes it is a client of the local transport
(`service.wire`).
"""

from collections.abc import AsyncGenerator
from typing import Protocol

import msgspec

from tradingfloor.domain.commands import Command
from tradingfloor.domain.events import Event
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import Origin
from tradingfloor.engine.pipeline import AccountSummary, PositionView
from tradingfloor.matching.order import Order
from tradingfloor.service.sequencer import Result

EventBatch = list[tuple[int, int, list[Event]]]
"""(seq, ts, events) of consecutive commands."""


class LiveOrder(msgspec.Struct, frozen=True, array_like=True):
    """An order resting (or waiting for its trigger) in a book now."""

    symbol: str
    order: Order


class ShardPort(Protocol):
    async def submit(self, command: Command, origin: Origin | None = None) -> Result:
        """Sequence, journal and apply `command` (with who sent it: `origin`); its seq and
        events once durable."""
        ...

    async def last_seq(self) -> int:
        """The seq of the newest command applied."""
        ...

    async def last_tokens(self) -> list[int]:
        """The newest command of every shard the port reaches, as seq tokens (one shard:
        `[last_seq]`)."""
        ...

    async def account(self, account: str, ts: int) -> AccountSummary | None:
        """The account as a client sees it at `ts` (None: no such account)."""
        ...

    async def positions(self, account: str) -> list[PositionView]: ...

    async def live_order(self, order_id: int) -> LiveOrder | None: ...

    async def instruments(self) -> list[Instrument]: ...

    async def problems(self) -> list[str]:
        """What keeps the shard from serving fully, while it lasts."""
        ...

    def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        """The event feed from `from_seq`: what is written, then live, no gap, no repeat."""
        ...


class ProjectionStatus(msgspec.Struct, frozen=True, array_like=True):
    """Where the read models stand: `failure` is the current projection failure's text
    (empty when projecting), `retry_after_s` when it is tried again."""

    projected_seq: int
    failure: str = ""
    retry_after_s: float = 0.0


class ProjectionPort(Protocol):
    def status(self) -> ProjectionStatus | None:
        """The latest status known (None: the projector cannot be reached)."""
        ...

    def status_of(self, token: int) -> ProjectionStatus | None:
        """The status of the projection that `token` names (`domain.shards.seq_token`; on a
        platform of one shard a token is a seq, and this is `status`)."""
        ...

    async def wait_for(self, seq: int, timeout_s: float) -> ProjectionStatus | None:
        """Wait until the read models reach `seq`, they fail, the projector cannot be
        reached or `timeout_s` passes; returns the status then."""
        ...
