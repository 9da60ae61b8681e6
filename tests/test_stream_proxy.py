"""A gateway forwarding market-data WebSockets to the market-data role (`stream_proxy`):
frames pass both ways as they are, the role's close code reaches the client, a role that goes
away means 1012 and one that cannot be reached 1013."""

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, unix_serve
from websockets.exceptions import ConnectionClosed

from tradingfloor.config import load_settings
from tradingfloor.gateway.server import build_server
from tradingfloor.gateway.stream_proxy import Upstream, forward

Role = Callable[[ServerConnection], Awaitable[None]]


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A gateway-like app forwarding `/v1/market-data/{symbol}` to `tmp_path/role.sock`:
    its ws:// base and the role's socket path."""
    role_socket = tmp_path / "role.sock"
    app = FastAPI()

    @app.websocket("/v1/market-data/{symbol}")
    async def market_data(websocket: WebSocket, symbol: str) -> None:
        upstream = Upstream("ws://localhost", str(role_socket))
        await forward(websocket, upstream, f"/v1/market-data/{symbol}")

    server = build_server(app, load_settings(None, data_dir=tmp_path))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{sock.getsockname()[1]}", role_socket
    server.should_exit = True
    await serving


async def _role(path: Path, handler: Role) -> AsyncIterator[list[str]]:
    seen: list[str] = []

    async def handle(connection: ServerConnection) -> None:
        headers = connection.request.headers
        seen.append(
            f"{connection.request.path} {headers.get('X-API-Key-Id')} {headers.get('Cookie')}"
        )
        await handler(connection)

    async with unix_serve(handle, str(path)):
        yield seen


async def test_frames_pass_both_ways_and_the_roles_close_code_reaches_the_client(
    gateway: tuple[str, Path],
) -> None:
    base, role_socket = gateway

    async def echo_then_refuse(connection: ServerConnection) -> None:
        await connection.send('[{"type":"subscribed"}]')
        await connection.send(f"echo {await connection.recv()}")
        await connection.close(1008, "no entitlement")

    async for seen in _role(role_socket, echo_then_refuse):
        headers = {"X-API-Key-Id": "KEY", "Cookie": "not forwarded"}
        async with connect(
            f"{base}/v1/market-data/XYZ?tier=pro", additional_headers=headers
        ) as client:
            assert await client.recv() == '[{"type":"subscribed"}]'
            await client.send('{"action":"subscribe"}')
            assert await client.recv() == 'echo {"action":"subscribe"}'
            with pytest.raises(ConnectionClosed):
                await client.recv()
            assert (client.close_code, client.close_reason) == (1008, "no entitlement")
        assert seen == ["/v1/market-data/XYZ?tier=pro KEY None"]  # credentials only


async def test_a_role_that_goes_away_closes_the_client_with_1012(
    gateway: tuple[str, Path],
) -> None:
    base, role_socket = gateway

    async def vanish(connection: ServerConnection) -> None:
        await connection.send('[{"type":"subscribed"}]')
        connection.transport.abort()  # killed: no close frame

    async for _ in _role(role_socket, vanish):
        async with connect(f"{base}/v1/market-data/XYZ") as client:
            assert await client.recv() == '[{"type":"subscribed"}]'
            with pytest.raises(ConnectionClosed):
                await client.recv()
            assert client.close_code == 1012


async def test_a_role_that_cannot_be_reached_means_1013(gateway: tuple[str, Path]) -> None:
    base, _nothing_listens = gateway
    async with connect(f"{base}/v1/market-data/XYZ") as client:
        with pytest.raises(ConnectionClosed):
            await client.recv()
        assert client.close_code == 1013
        assert "unavailable" in (client.close_reason or "")
