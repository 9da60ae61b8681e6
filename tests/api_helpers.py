"""A served platform for end-to-end tests: real uvicorn on 127.0.0.1, real HTTP with httpx."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp

from tradingfloor.config import load_settings
from tradingfloor.gateway.app import create_app
from tradingfloor.gateway.server import GatewayServer, build_server
from tradingfloor.service.platform import Platform

ADMIN_PASSWORD = "admin-password"
PASSWORD = "trader-password"


class Clock:
    """The edges' clock, movable by tests (token expiry, TOTP steps, rate limits)."""

    def __init__(self) -> None:
        import time

        self.offset_ns = 0
        self.frozen_ns: int | None = None
        self._now = time.time_ns

    def __call__(self) -> int:
        if self.frozen_ns is not None:
            return self.frozen_ns + self.offset_ns
        return self._now() + self.offset_ns

    def freeze(self) -> None:
        """Stop the clock where it is (move it with `offset_ns`)."""
        self.frozen_ns = self._now()


@dataclass
class Served:
    platform: Platform
    client: httpx.AsyncClient
    clock: Clock
    server: GatewayServer
    admin: dict[str, str] = field(default_factory=dict)
    """Headers of an admin API key."""

    async def trader(
        self,
        name: str,
        cash: str = "100000",
        shares: dict[str, int] | None = None,
        kind: str = "cash",
    ) -> dict[str, str]:
        """A user with a funded account; returns the headers of an API key of theirs."""
        created = await self.client.post(
            "/v1/admin/users",
            json={"username": name, "password": PASSWORD, "account_kind": kind},
            headers=self.admin,
        )
        assert created.status_code == 201, created.text
        account = created.json()["account"]
        if cash != "0":
            deposited = await self.client.post(
                f"/v1/admin/accounts/{account}/deposits", json={"amount": cash}, headers=self.admin
            )
            assert deposited.status_code == 200, deposited.text
        for symbol, qty in (shares or {}).items():
            delivered = await self.client.post(
                f"/v1/admin/accounts/{account}/shares",
                json={"symbol": symbol, "qty": qty, "cost_price": "90"},
                headers=self.admin,
            )
            assert delivered.status_code == 200, delivered.text
        return await self.mfa_key(name)

    async def mfa_key(self, name: str) -> dict[str, str]:
        """Log in, enrol and prove TOTP, then create an API key: its headers."""
        token = await self.login(name)
        headers = {"Authorization": f"Bearer {token}"}
        enrolled = await self.client.post("/v1/auth/totp/enroll", headers=headers)
        assert enrolled.status_code == 200, enrolled.text
        totp = pyotp.TOTP(enrolled.json()["secret"])
        code = totp.at(self.clock() // 1_000_000_000)
        confirmed = await self.client.post(
            "/v1/auth/totp/confirm", json={"code": code}, headers=headers
        )
        assert confirmed.status_code == 200, confirmed.text
        self.clock.offset_ns += 30_000_000_000  # the next step: a code works once
        code = totp.at(self.clock() // 1_000_000_000)
        verified = await self.client.post(
            "/v1/auth/totp/verify", json={"code": code}, headers=headers
        )
        assert verified.status_code == 200, verified.text
        mfa = {"Authorization": f"Bearer {verified.json()['access_token']}"}
        key = await self.client.post("/v1/api-keys", json={"label": "test"}, headers=mfa)
        assert key.status_code == 201, key.text
        return {"X-API-Key-Id": key.json()["key_id"], "X-API-Secret": key.json()["secret"]}

    async def login(self, name: str, password: str = PASSWORD) -> str:
        answer = await self.client.post(
            "/v1/auth/login", json={"username": name, "password": password}
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    async def symbol(self, symbol: str = "XYZ", reference: str = "100", **terms: Any) -> None:
        answer = await self.client.post(
            "/v1/admin/symbols",
            json={"symbol": symbol, "reference_price": reference, **terms},
            headers=self.admin,
        )
        assert answer.status_code == 200, answer.text

    async def order(self, headers: dict[str, str], **terms: Any) -> httpx.Response:
        body = {"symbol": "XYZ", "time_in_force": "gtc", **terms}
        return await self.client.post("/v1/orders", json=body, headers=headers)


@contextlib.asynccontextmanager
async def served(
    data: Path, database_url: str | None = None, **settings: Any
) -> AsyncIterator[Served]:
    """Start the platform on `data` and serve it on a free port of 127.0.0.1."""
    overrides: dict[str, Any] = {
        "data_dir": data,
        "fsync": False,
        "host": "127.0.0.1",
        "port": 0,
        **settings,
    }
    if database_url is not None:
        overrides["database_url"] = database_url
    clock = Clock()
    settings = load_settings(None, **overrides)
    platform = Platform(settings, clock=clock)
    await platform.start()
    server = build_server(create_app(platform), settings)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.bound[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            here = Served(platform, client, clock, server)
            if not await asyncio.to_thread(platform.auth.has_users):
                await asyncio.to_thread(
                    platform.auth.create_user, "root", ADMIN_PASSWORD, "admin", "root"
                )
            from tradingfloor.domain.commands import OpenAccount

            if not platform.account_exists("root"):
                await platform.submit(OpenAccount("root"))
            user = await asyncio.to_thread(platform.auth.user_by_name, "root")
            from tradingfloor.gateway.auth import Scope

            key = await asyncio.to_thread(
                platform.auth.create_api_key, user.id, [Scope.READ, Scope.TRADE, Scope.ADMIN], "t"
            )
            here.admin = {"X-API-Key-Id": key.key_id, "X-API-Secret": key.secret}
            yield here
    finally:
        server.should_exit = True
        await task
        await platform.stop()
