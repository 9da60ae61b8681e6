"""Client tiers and what the hub keeps per tier: subscribers, dirty symbols, message numbers.

Each tier numbers the messages of each (symbol, channel) 1, 2, 3, ...; a snapshot carries the
number of the last message published before it, so the next update is `seq + 1`. A client
that sees a jump has missed messages (its outbox conflated an update it had not sent yet) and
should re-subscribe for a fresh snapshot. The numbers are those of one market-data process:
after it restarts they start again, with fresh snapshots. Every message also carries
`feed_seq`, the event-feed seq it reflects, which never goes back.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tradingfloor.marketdata.messages import frame

if TYPE_CHECKING:
    from tradingfloor.marketdata.client import Client

Key = tuple[str, str]
"""(symbol, channel)."""


class Tier(StrEnum):
    """How often a client gets conflated updates: retail once a second, pro ten times."""

    RETAIL = "retail"
    PRO = "pro"


@dataclass(slots=True)
class TierState:
    """One tier's subscribers and clients, what it must publish next, and what it has sent."""

    interval_s: float
    dirty: set[str] = field(default_factory=set)
    """Symbols whose book or trades changed since the tier's last flush."""
    subscribers: dict[Key, "set[Client]"] = field(default_factory=dict)
    seq: dict[Key, int] = field(default_factory=dict)
    trades_published: dict[str, int] = field(default_factory=dict)
    """Per symbol: how many of its trades (counted since start) this tier has published."""
    last_sent: dict[Key, Any] = field(default_factory=dict)
    """The body of the last quote and depth message per (symbol, channel): unchanged ones
    are not sent again."""
    clients: "set[Client]" = field(default_factory=set)
    feed_seq: int = 0
    """The event-feed seq the messages being published reflect (set by each flush)."""

    def subscribe(self, client: "Client", key: Key) -> None:
        self.subscribers.setdefault(key, set()).add(client)

    def unsubscribe(self, client: "Client", key: Key) -> None:
        subscribers = self.subscribers.get(key)
        if subscribers is not None:
            subscribers.discard(client)
            if not subscribers:
                del self.subscribers[key]

    def publish(self, key: Key, message: dict[str, Any], clients: "set[Client]") -> None:
        """Number `message` as the next of `key` and offer it to `clients`, encoded once."""
        seq = self.seq.get(key, 0) + 1
        self.seq[key] = seq
        message["seq"] = seq
        message["feed_seq"] = self.feed_seq
        encoded = frame(message)
        for client in clients:
            client.offer(key, encoded)

    def slow_clients(self, now: float, limit_s: float) -> "list[Client]":
        """Clients whose current send started more than `limit_s` before `now`."""
        return [
            client
            for client in self.clients
            if client.sending_since is not None and now - client.sending_since > limit_s
        ]
