"""A TCP proxy a test owns, to cut or stall one role's path to a shared service (PostgreSQL,
Redis, NATS) without touching the service, which other tests use meanwhile.

The proxy listens on 127.0.0.1 (a port of its own) and forwards each connection to the
service. `cut()` aborts every connection (the peer sees a reset) and closes each new one at
once, as a service that is down; `stall()` holds every byte both ways, connections open, as a
service that stopped answering; `restore()` forwards again (what a stall held goes on). It runs
on an event loop in a thread of its own, so that it keeps forwarding whatever the test's loop
is doing.
"""

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHUNK_BYTES = 65_536
CALL_WAIT_S = 10.0
"""The longest a call into the proxy's thread may take (it only flips state)."""


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections_accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._mode = "forward"
        self._flowing: asyncio.Event | None = None

    def start(self) -> "TcpProxy":
        self._thread.start()
        self._call(self._start())
        return self

    def url_of(self, url: str) -> str:
        """`url` (the service's) with its host and port replaced by the proxy's."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}"))

    def cut(self) -> None:
        """The service is down: every connection reset, every new one closed at once."""
        self._call(self._set_mode("cut"))

    def stall(self) -> None:
        """The service stops answering: connections stay open, no byte goes through."""
        self._call(self._set_mode("stall"))

    def restore(self) -> None:
        self._call(self._set_mode("forward"))

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_WAIT_S)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_WAIT_S)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self._set_mode("cut")
        if self._server is not None:
            self._server.close()

    async def _set_mode(self, mode: str) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode == "forward":
            self._flowing.set()
            return
        self._flowing.clear()
        if mode == "cut":
            for writer in list(self._writers):
                _abort(writer)
            self._writers.clear()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        if self._mode == "cut":
            _abort(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        if self._mode == "cut":  # cut while connecting
            _abort(writer)
            _abort(upstream_writer)
            return
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer, writer),
            self._pipe(upstream_reader, writer, upstream_writer),
            return_exceptions=True,
        )
        self._writers.difference_update((writer, upstream_writer))

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        other: asyncio.StreamWriter,
    ) -> None:
        """Bytes from `reader` to `writer` while forwarding (held while stalled); either side
        closing closes both."""
        assert self._flowing is not None
        try:
            while True:
                chunk = await reader.read(CHUNK_BYTES)
                if not chunk:
                    break
                await self._flowing.wait()
                if self._mode == "cut":
                    break
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            _abort(writer)
            _abort(other)


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()
