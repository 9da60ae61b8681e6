"""`ProjectionPort` across processes: the projector tells every gateway where it stands.

`ProjectionServer` (in the projector's process) sends each connected client a
`ProjectionStatus` when it connects and whenever the status changes, at most one per turn of
the event loop (the latest wins). `ProjectionClient` (in a gateway) keeps the latest one and
wakes its waiters; while the projector cannot be reached its status is None, so reads that
would have to wait for the read models are refused at once (HTTP 503), and it connects again
by itself every `reconnect_s`.
"""

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import msgspec

from tradingfloor.service import wire
from tradingfloor.service.ports import ProjectionStatus
from tradingfloor.service.projection import ProjectionRole

log = logging.getLogger("tradingfloor.projection")

reconnect_s = 0.2
_decoder = msgspec.msgpack.Decoder(ProjectionStatus)


class _Teller(wire.Framed):
    def __init__(self, server: "ProjectionServer") -> None:
        super().__init__(_decoder)
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server.clients.add(self)
        self.send(self.server.role.status())

    def on_message(self, message: Any) -> None:
        """Clients only listen."""

    def on_closed(self) -> None:
        self.server.clients.discard(self)


class ProjectionServer:
    def __init__(self, role: ProjectionRole, path: Path) -> None:
        self.role = role
        self.path = path
        self.clients: set[_Teller] = set()
        self._latest: ProjectionStatus | None = None
        self._server: asyncio.AbstractServer | None = None
        role.listeners.append(self._changed)

    async def start(self) -> None:
        self._server = await wire.listen(self.path, lambda: _Teller(self))

    def _changed(self, status: ProjectionStatus) -> None:
        if self._latest is None:
            asyncio.get_running_loop().call_soon(self._send)
        self._latest = status

    def _send(self) -> None:
        status, self._latest = self._latest, None
        if status is not None:
            for client in self.clients:
                client.send(status)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for client in list(self.clients):
                client.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _Listener(wire.Framed):
    def __init__(self, client: "ProjectionClient") -> None:
        super().__init__(_decoder)
        self.client = client

    def on_message(self, message: Any) -> None:
        self.client._set(message)

    def on_closed(self) -> None:
        self.client._set(None)


class WatchedStatus:
    """The latest `ProjectionStatus` a gateway was told (None: the projector cannot be
    reached), and waiting on it: the `ProjectionPort` of both transports' clients."""

    def __init__(self) -> None:
        self.latest: ProjectionStatus | None = None
        self._changed = asyncio.Event()
        """Set (and replaced) at each change: every waiter wakes."""

    def status(self) -> ProjectionStatus | None:
        return self.latest

    def status_of(self, token: int) -> ProjectionStatus | None:
        return self.status()

    async def wait_for(self, seq: int, timeout_s: float) -> ProjectionStatus | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            status = self.latest
            if status is None or status.failure or status.projected_seq >= seq:
                return status
            left_s = deadline - loop.time()
            if left_s <= 0:
                return status
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left_s)

    def _set(self, status: ProjectionStatus | None) -> None:
        self.latest = status
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class ProjectionClient(WatchedStatus):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_connected(), name="projection-link")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                _, listener = await loop.create_unix_connection(
                    lambda: _Listener(self), str(self.path)
                )
            except OSError:
                await asyncio.sleep(reconnect_s)
                continue
            await listener.closed.wait()
            log.warning("lost the projector's status: reads wait for it to come back")
            await asyncio.sleep(reconnect_s)
