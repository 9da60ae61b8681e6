"""`ProjectionPort` over NATS: the projector tells every gateway where it stands.

`ProjectionStatusPublisher` (in the projector's process) publishes its `ProjectionStatus`
(msgpack) on `<prefix>.<shard>.projection.status` whenever it changes (at most one per turn of
the event loop: the latest wins) and every `interval_s` even if it does not, and answers
requests on `.projection.ask` with the status now. There is one projector per shard's read
models.

`NatsProjectionClient` (in a gateway) asks once at its start, then keeps the latest status it
hears and wakes its waiters. It has no connection to watch, so silence is what tells it the
projector is gone: after `STATUS_BEATS_MISSED_MAX` intervals without a status (or while this
process is disconnected from NATS) its status is None, as the local `ProjectionClient`'s is
while its socket is closed, and reads that would have to wait for the read models are refused
at once (HTTP 503). The next status heard brings it back.
"""

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from tradingfloor.service import wire
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.ports import ProjectionStatus
from tradingfloor.service.projection import ProjectionRole
from tradingfloor.service.projection_link import WatchedStatus

log = logging.getLogger("tradingfloor.projection")

STATUS_BEATS_MISSED_MAX = 4
"""Status intervals without a word after which the projector counts as unreachable."""
ask_timeout_s = 1.0
_decoder = msgspec.msgpack.Decoder(ProjectionStatus)


class ProjectionStatusPublisher:
    def __init__(self, role: ProjectionRole, nc: Client, names: NatsNames, interval_s: float):
        self.role = role
        self.nc = nc
        self.names = names
        self.interval_s = interval_s
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscription: Any = None

    async def start(self) -> None:
        self.role.listeners.append(self._on_change)
        self._subscription = await self.nc.subscribe(self.names.projection_ask, cb=self._on_ask)
        self._task = asyncio.create_task(self._tell(), name="projection-status")

    async def stop(self) -> None:
        if self._on_change in self.role.listeners:
            self.role.listeners.remove(self._on_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._subscription.unsubscribe()

    def _on_change(self, status: ProjectionStatus) -> None:
        self._changed.set()

    async def _on_ask(self, msg: Msg) -> None:
        if msg.reply:
            with contextlib.suppress(nats.errors.Error):
                await msg.respond(wire.encode(self.role.status()))

    async def _tell(self) -> None:
        """On every change (coalesced) and every interval: the status now."""
        while True:
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for, which on 3.11 may swallow the cancellation
                # of `stop` when a change comes at the same time.
                async with asyncio.timeout(self.interval_s):
                    await self._changed.wait()
            self._changed.clear()
            if self.nc.is_connected:
                with contextlib.suppress(nats.errors.Error):
                    await self.nc.publish(
                        self.names.projection_status, wire.encode(self.role.status())
                    )


class NatsProjectionClient(WatchedStatus):
    def __init__(self, nc: Client, names: NatsNames, interval_s: float) -> None:
        super().__init__()
        self.nc = nc
        self.names = names
        self.interval_s = interval_s
        self.heard_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._subscription: Any = None

    async def start(self) -> None:
        self._subscription = await self.nc.subscribe(
            self.names.projection_status, cb=self._on_status
        )
        self._task = asyncio.create_task(self._watch(), name="projection-watch")
        try:
            answer = await self.nc.request(self.names.projection_ask, b"", timeout=ask_timeout_s)
        except nats.errors.Error:
            return  # no projector yet: its first status will tell
        self._heard(answer.data)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._subscription.unsubscribe()

    # ------------------------------------------------------------------ listening

    async def _on_status(self, msg: Msg) -> None:
        self._heard(msg.data)

    def _heard(self, payload: bytes) -> None:
        try:
            status = _decoder.decode(payload)
        except msgspec.DecodeError as error:
            log.warning("an unreadable projection status: %r", error)
            return
        if self.latest is None:
            log.info("the projector's status is heard (seq %d)", status.projected_seq)
        self.heard_at = asyncio.get_running_loop().time()
        self._set(status)

    async def _watch(self) -> None:
        """Forget the status once the projector has been silent too long (see the module)."""
        loop = asyncio.get_running_loop()
        silence_max_s = self.interval_s * STATUS_BEATS_MISSED_MAX
        while True:
            await asyncio.sleep(self.interval_s / 2)
            if self.latest is None:
                continue
            silent_s = loop.time() - self.heard_at
            if silent_s > silence_max_s or not self.nc.is_connected:
                log.warning(
                    "no status from the projector for %.1f s: reads wait for it to come back",
                    silent_s,
                )
                self._set(None)
