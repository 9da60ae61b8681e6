"""One market-data subscriber: its subscriptions, its pending messages and its sender task.

Each client has a control queue (acks, snapshots, errors; at most `control_messages_max`) and a
conflated outbox holding at most one message per (symbol, channel) it subscribes to: a newer
update replaces one not sent yet. A sender task writes everything pending as one frame (a JSON
array). A client whose send has not completed for `slow_client_s` (its socket's send buffer is
not draining) is dropped by the hub with close code `SLOW_CLIENT_CLOSE` and a reason; neither
the engine nor other clients ever wait for it.
"""

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from tradingfloor.marketdata.messages import frame
from tradingfloor.marketdata.tiers import Tier

if TYPE_CHECKING:
    from tradingfloor.marketdata.hub import MarketDataHub

SLOW_CLIENT_CLOSE = 1013
"""Close code of a dropped slow client ("try again later", RFC 6455 registry)."""
OUTBOX_FULL_CLOSE = 1013


class Sink(Protocol):
    """Where a client's frames go (a WebSocket in the gateway, a fake in tests)."""

    async def send(self, frame: str) -> None: ...


class Client:
    """One connection of a tier: what it subscribes to and what waits to be sent to it."""

    def __init__(self, hub: "MarketDataHub", sink: Sink, tier: Tier) -> None:
        self.hub, self.sink, self.tier = hub, sink, tier
        self.subscriptions: dict[str, set[str]] = {}
        self.control: deque[str] = deque()
        self.outbox: dict[tuple[str, str], str] = {}
        self.wake = asyncio.Event()
        self.done = asyncio.Event()
        """Set when the client is gone: dropped by the hub (see `close_code`) or disconnected."""
        self.sending_since: float | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.frames_sent = 0
        self.replaced = 0
        """Updates conflated away in this client's outbox before they were sent."""
        self.task: asyncio.Task[None] | None = None

    def offer(self, key: tuple[str, str], frame: str) -> None:
        if key in self.outbox:
            self.replaced += 1
        self.outbox[key] = frame

    def tell(self, message: dict[str, Any]) -> None:
        """Queue a control message (ack, snapshot, error) before any pending update."""
        if self.done.is_set():
            return
        if len(self.control) >= self.hub.settings.control_messages_max:
            self.hub.drop(self, OUTBOX_FULL_CLOSE, "outbox full: too many pending messages")
            return
        self.control.append(frame(message))
        self.wake.set()

    async def run(self) -> None:
        """Send whatever is pending as one frame, until the client is gone."""
        clock = self.hub.monotonic
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while self.control or self.outbox:
                    frames = list(self.control)
                    self.control.clear()
                    frames.extend(self.outbox.values())
                    self.outbox.clear()
                    if len(frames) == 1:
                        joined = frames[0]
                    else:
                        joined = "[" + ",".join(part[1:-1] for part in frames) + "]"
                    self.sending_since = clock()
                    await self.sink.send(joined)
                    self.sending_since = None
                    self.frames_sent += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection is gone: the gateway sees it too
            self.done.set()
