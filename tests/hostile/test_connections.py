"""Hostile clients over raw sockets against a served platform: bodies and headers above their
limits, requests that never finish, idle keep-alive, too many connections, and WebSocket
messages above their limit.

Every test checks that the refused request journaled nothing, and that other users, on fresh
connections from another address, are served while the hostile connections are held. Hostile
connections come from 127.0.0.3 and the other users from 127.0.0.2 (Linux routes all of
127.0.0.0/8 to the loopback), so the per-source cap of one never touches the other. Limits are
small, set through settings overrides, and every wait is bounded.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api_helpers import Served, served
from tradingfloor import observability as metrics
from tradingfloor.gateway import protocols

HOSTILE = "127.0.0.3"
OTHERS = "127.0.0.2"
WAIT_S = 5.0
"""The longest any single wait of these tests may take before it fails."""

ORDER = {
    "symbol": "XYZ",
    "side": "buy",
    "type": "limit",
    "qty": 1,
    "limit_price": "100.00",
    "time_in_force": "gtc",
}


# --------------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, **limits: Any) -> AsyncIterator[Served]:
    """A served platform with `limits`, a symbol, and cash on the admin's account."""
    async with served(tmp_path / "data", **limits) as api:
        await api.symbol("XYZ", "100")
        deposited = await api.client.post(
            "/v1/admin/accounts/root/deposits", json={"amount": "1000000"}, headers=api.admin
        )
        assert deposited.status_code == 200, deposited.text
        try:
            yield api
        finally:
            # A failed test must not leave the server waiting on its connections to stop.
            for raw in Raw.opened:
                raw.writer.transport.abort()
            Raw.opened.clear()


class Raw:
    """One raw TCP connection from a chosen source address."""

    opened: ClassVar[list["Raw"]] = []
    """Every connection of the test running, aborted when it ends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, api: Served, source: str = HOSTILE) -> "Raw":
        port = api.server.bound[1]
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), WAIT_S
        )
        raw = cls(reader, writer)
        cls.opened.append(raw)
        return raw

    async def send(self, data: bytes) -> bool:
        """Send `data`; False when the server has closed the connection already."""
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), WAIT_S)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The next answer: status, headers (lower-case names), body."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_S)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(self.reader.readexactly(length), WAIT_S)
        return status, headers, body

    async def closed(self) -> bool:
        """True once the server closed the connection with nothing more to read."""
        try:
            rest = await asyncio.wait_for(self.reader.read(), WAIT_S)
        except ConnectionResetError:
            return True
        return rest == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), WAIT_S)


def head(method: str, path: str, api: Served, extra: list[tuple[str, str]] | None = None) -> bytes:
    """A request's line and headers, with the admin's API key: were it served, it would trade."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in api.admin.items()]
    lines += [f"{name}: {value}" for name, value in extra or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def order_body(size: int = 0) -> bytes:
    """A valid order, padded with spaces (still valid JSON) to `size` bytes."""
    body = json.dumps(ORDER).encode()
    return body + b" " * max(0, size - len(body))


def chunked(body: bytes, chunk_bytes: int) -> list[bytes]:
    parts = [body[i : i + chunk_bytes] for i in range(0, len(body), chunk_bytes)]
    return [b"%x\r\n%s\r\n" % (len(part), part) for part in parts] + [b"0\r\n\r\n"]


async def expect_refusal(raw: Raw, status: int, code: int) -> None:
    """The server answers `status` with `code`, says it closes, and closes."""
    got, headers, body = await raw.answer()
    assert (got, json.loads(body)["code"]) == (status, code), body
    assert headers["connection"] == "close"
    assert await raw.closed()
    await raw.close()


async def others_are_served(api: Served) -> int:
    """/healthz and an order succeed on a fresh connection from another address; the number
    of commands that journaled."""
    transport = httpx.AsyncHTTPTransport(local_address=OTHERS)
    async with httpx.AsyncClient(
        base_url=str(api.client.base_url), transport=transport, timeout=WAIT_S
    ) as client:
        health = await client.get("/healthz")
        assert health.status_code == 200, health.text
        placed = await client.post("/v1/orders", json=ORDER, headers=api.admin)
        assert placed.status_code == 200, placed.text
    return 1


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


async def released(api: Served, source: str = HOSTILE) -> None:
    """Every connection from `source` has left the server's counts (connection_lost never
    leaks a place)."""
    await eventually(lambda: api.server.gate.open_from(source) == 0)


def refused_total(kind: str) -> float:
    value = metrics.registry.get_sample_value("tradingfloor_http_refused_total", {"kind": kind})
    return value or 0.0


# --------------------------------------------------------------------------- bodies


async def test_a_body_above_the_limit_by_content_length_is_refused_before_it_is_sent(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, request_body_bytes_max=1024) as api:
        before, counted = api.platform.engine.last_seq, refused_total("body_too_large")
        plain = await Raw.open(api)
        waiting = await Raw.open(api)
        # Only the headers: were the server waiting for the body, no answer would come.
        await plain.send(head("POST", "/v1/orders", api, [("Content-Length", "10000000")]))
        continue_first = [("Content-Length", "2048"), ("Expect", "100-continue")]
        await waiting.send(head("POST", "/v1/orders", api, continue_first))

        await expect_refusal(plain, 413, 4130)
        await expect_refusal(waiting, 413, 4130)  # no "100 Continue" before it
        assert api.platform.engine.last_seq == before
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled
        assert refused_total("body_too_large") == counted + 2
        await released(api)


async def test_a_refused_client_that_keeps_sending_is_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a refusal the server reads and discards for a while, so that a client still
    sending gets the answer rather than a reset; but not without end."""
    monkeypatch.setattr(protocols, "REFUSAL_LINGER_S", 600.0)  # only the byte bound can close
    async with serving(tmp_path, request_body_bytes_max=1024) as api:
        before = api.platform.engine.last_seq
        raw = await Raw.open(api)
        await raw.send(head("POST", "/v1/orders", api, [("Content-Length", "10000000")]))
        status, _, _ = await raw.answer()
        assert status == 413
        for _ in range(64):  # up to 4 MiB, while the server reads
            if not await raw.send(b" " * 65536):
                break
        await released(api)
        assert api.platform.engine.last_seq == before
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled


async def test_a_chunked_body_above_the_limit_is_refused_as_it_arrives(tmp_path: Path) -> None:
    async with serving(tmp_path, request_body_bytes_max=1024) as api:
        before = api.platform.engine.last_seq
        raw = await Raw.open(api)
        await raw.send(head("POST", "/v1/orders", api, [("Transfer-Encoding", "chunked")]))
        for part in chunked(order_body(8192), 256):
            if not await raw.send(part):
                break

        await expect_refusal(raw, 413, 4130)
        assert api.platform.engine.last_seq == before
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled
        await released(api)


async def test_bodies_within_the_limit_chunked_or_above_64_kib_are_served(
    tmp_path: Path,
) -> None:
    """The application starts once the body is in: chunks and large allowed bodies reach it."""
    async with serving(tmp_path, request_body_bytes_max=200_000) as api:
        before = api.platform.engine.last_seq
        raw = await Raw.open(api)
        await raw.send(head("POST", "/v1/orders", api, [("Transfer-Encoding", "chunked")]))
        for part in chunked(order_body(1000), 100):
            await raw.send(part)
        status, _, body = await raw.answer()
        assert status == 200, body

        large = order_body(150_000)
        await raw.send(head("POST", "/v1/orders", api, [("Content-Length", str(len(large)))]))
        await raw.send(large)
        status, _, body = await raw.answer()
        assert status == 200, body

        # A client that waits to be invited: the size is within the limit, so it is.
        invited = order_body(2048)
        expect = [("Content-Length", str(len(invited))), ("Expect", "100-continue")]
        await raw.send(head("POST", "/v1/orders", api, expect))
        status, _, _ = await raw.answer()
        assert status == 100
        await raw.send(invited)
        status, _, body = await raw.answer()
        assert status == 200, body
        assert api.platform.engine.last_seq == before + 3
        await raw.close()
        await released(api)


async def test_a_slow_body_is_answered_408_and_closed(tmp_path: Path) -> None:
    async with serving(tmp_path, request_body_bytes_max=1024, request_body_timeout_s=0.5) as api:
        before, counted = api.platform.engine.last_seq, refused_total("body_timeout")
        body = order_body()
        slow = [await Raw.open(api) for _ in range(5)]
        for raw in slow:
            await raw.send(head("POST", "/v1/orders", api, [("Content-Length", str(len(body)))]))
            await raw.send(body[: len(body) // 2])  # and never the rest

        journaled = await others_are_served(api)
        for raw in slow:
            await expect_refusal(raw, 408, 4080)
        assert api.platform.engine.last_seq == before + journaled
        assert refused_total("body_timeout") == counted + len(slow)
        await released(api)


# --------------------------------------------------------------------------- headers


async def test_too_many_headers_are_refused(tmp_path: Path) -> None:
    async with serving(tmp_path, request_headers_max=10) as api:
        before = api.platform.engine.last_seq
        raw = await Raw.open(api)
        many = [(f"X-Padding-{index}", "x") for index in range(20)]
        body = order_body()
        await raw.send(
            head("POST", "/v1/orders", api, [*many, ("Content-Length", str(len(body)))]) + body
        )

        await expect_refusal(raw, 431, 4310)
        assert api.platform.engine.last_seq == before
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled
        await released(api)


async def test_one_huge_header_is_refused_whether_it_ends_or_not(tmp_path: Path) -> None:
    async with serving(tmp_path, request_header_bytes_max=1024) as api:
        before = api.platform.engine.last_seq
        endless = await Raw.open(api)
        whole = await Raw.open(api)
        # A header that never ends: cut once the bytes received pass the limit.
        await endless.send(b"POST /v1/orders HTTP/1.1\r\nX-Big: ")
        for _ in range(64):
            if not await endless.send(b"a" * 1024):
                break
        # A whole request whose one header is too large, in a single write.
        body = order_body()
        big = [("X-Big", "a" * 2048), ("Content-Length", str(len(body)))]
        await whole.send(head("POST", "/v1/orders", api, big) + body)

        await expect_refusal(endless, 431, 4310)
        await expect_refusal(whole, 431, 4310)
        assert api.platform.engine.last_seq == before
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled
        await released(api)


async def test_slow_headers_are_answered_408_and_closed(tmp_path: Path) -> None:
    async with serving(tmp_path, request_header_timeout_s=0.5) as api:
        before, counted = api.platform.engine.last_seq, refused_total("header_timeout")
        request = head("POST", "/v1/orders", api, [("Content-Length", "100")])
        trickling = [await Raw.open(api) for _ in range(5)]
        silent = await Raw.open(api)  # connects and sends nothing at all
        stop = asyncio.Event()

        async def trickle(raw: Raw) -> None:
            for byte in request[:-4]:  # a byte now and then, never the end of the headers
                if stop.is_set() or not await raw.send(bytes([byte])):
                    return
                await asyncio.sleep(0.05)

        tasks = [asyncio.create_task(trickle(raw)) for raw in trickling]
        try:
            journaled = await others_are_served(api)
            for raw in [*trickling, silent]:
                await expect_refusal(raw, 408, 4080)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
        assert api.platform.engine.last_seq == before + journaled
        assert refused_total("header_timeout") == counted + 6
        await released(api)


async def test_malformed_requests_are_answered_400(tmp_path: Path) -> None:
    async with serving(tmp_path) as api:
        before = api.platform.engine.last_seq
        raw = await Raw.open(api)
        await raw.send(b"NOT HTTP AT ALL\x00\x01\r\n\r\n")
        await expect_refusal(raw, 400, 4000)
        assert api.platform.engine.last_seq == before
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled
        await released(api)


async def test_a_refused_pipelined_request_closes_after_the_earlier_answer(
    tmp_path: Path,
) -> None:
    """Two answers never interleave: the earlier one comes whole, then the connection closes."""
    async with serving(tmp_path, request_body_bytes_max=1024) as api:
        before = api.platform.engine.last_seq
        raw = await Raw.open(api)
        first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        second = head("POST", "/v1/orders", api, [("Content-Length", "10000000")])
        await raw.send(first + second)

        status, headers, body = await raw.answer()
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["connection"] == "close"
        assert await raw.closed()
        assert api.platform.engine.last_seq == before
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled
        await released(api)


# --------------------------------------------------------------------------- keep-alive


async def test_an_idle_keep_alive_connection_is_closed_without_an_answer(tmp_path: Path) -> None:
    async with serving(tmp_path, keep_alive_timeout_s=0.3, request_header_timeout_s=30) as api:
        before = api.platform.engine.last_seq
        raw = await Raw.open(api)
        await raw.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, _ = await raw.answer()
        assert status == 200

        journaled = await others_are_served(api)
        assert await raw.closed()  # closed, and nothing was written before closing
        assert api.platform.engine.last_seq == before + journaled
        await released(api)


# --------------------------------------------------------------------------- connections


async def test_connections_above_the_per_source_cap_are_refused_until_some_close(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, connections_per_source_max=3, request_header_timeout_s=30) as api:
        gate = api.server.gate
        before, counted = (
            api.platform.engine.last_seq,
            refused_total("too_many_connections_from_source"),
        )
        held = [await Raw.open(api) for _ in range(3)]  # idle: they never send a byte
        await eventually(lambda: gate.open_from(HOSTILE) == 3)

        extra = await Raw.open(api)
        await extra.send(head("POST", "/v1/orders", api, [("Content-Length", "0")]))
        await expect_refusal(extra, 503, 5035)
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled
        assert refused_total("too_many_connections_from_source") == counted + 1

        for raw in held[:2]:
            await raw.close()
        await eventually(lambda: gate.open_from(HOSTILE) == 1)
        again = [await Raw.open(api) for _ in range(2)]
        for raw in again:
            await raw.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, _, _ = await raw.answer()
            assert status == 200
        assert gate.open_from(HOSTILE) == 3
        for raw in [held[2], *again]:
            await raw.close()
        await released(api)


async def test_connections_above_the_total_cap_are_refused_until_some_close(
    tmp_path: Path,
) -> None:
    async with serving(
        tmp_path, connections_max=4, keep_alive_timeout_s=0.2, request_header_timeout_s=30
    ) as api:
        gate = api.server.gate
        await eventually(lambda: gate.total == 0)  # the setup's keep-alive connection is gone
        before, counted = api.platform.engine.last_seq, refused_total("too_many_connections")
        held = [await Raw.open(api) for _ in range(4)]
        await eventually(lambda: gate.total == 4)

        extra = await Raw.open(api, source=OTHERS)  # the total cap holds for every address
        await extra.send(head("POST", "/v1/orders", api, [("Content-Length", "0")]))
        await expect_refusal(extra, 503, 5035)
        assert api.platform.engine.last_seq == before
        assert refused_total("too_many_connections") == counted + 1

        await held[0].close()
        await eventually(lambda: gate.total == 3)
        journaled = await others_are_served(api)
        assert api.platform.engine.last_seq == before + journaled
        for raw in held[1:]:
            await raw.close()
        await released(api)
        await eventually(lambda: gate.total == 0 and gate.sources == 0)


# --------------------------------------------------------------------------- WebSocket


async def test_a_websocket_message_above_the_limit_closes_it_with_1009(tmp_path: Path) -> None:
    async with serving(
        tmp_path, websocket_message_bytes_max=1024, connections_per_source_max=1
    ) as api:
        gate = api.server.gate
        before = api.platform.engine.last_seq
        url = str(api.client.base_url).replace("http://", "ws://").rstrip("/")
        async with connect(
            f"{url}/v1/market-data",
            additional_headers=api.admin,
            compression=None,
            local_addr=(HOSTILE, 0),
            open_timeout=WAIT_S,
            close_timeout=WAIT_S,
        ) as websocket:
            # The WebSocket holds its connection's place: the source's one place is taken.
            assert gate.open_from(HOSTILE) == 1
            second = await Raw.open(api)
            await second.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await expect_refusal(second, 503, 5035)
            journaled = await others_are_served(api)

            await websocket.send("x" * 2048)
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(WAIT_S):
                    while True:
                        await websocket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert api.platform.engine.last_seq == before + journaled
        await released(api)


# --------------------------------------------------------------------------- logs


async def test_refusals_are_logged_once_per_kind_and_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(tmp_path, request_body_bytes_max=1024) as api:
        with caplog.at_level(logging.WARNING, logger="tradingfloor.gateway.refusals"):
            for _ in range(10):
                raw = await Raw.open(api)
                await raw.send(head("POST", "/v1/orders", api, [("Content-Length", "4096")]))
                await expect_refusal(raw, 413, 4130)
        lines = [r for r in caplog.records if r.name == "tradingfloor.gateway.refusals"]
        assert [(r.__dict__["kind"], r.__dict__["source"]) for r in lines] == [
            ("body_too_large", HOSTILE)
        ]
        await released(api)
