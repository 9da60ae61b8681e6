"""A served platform for end-to-end tests: real uvicorn on 127.0.0.1, real HTTP with httpx.

Starting a platform costs seconds (as processes, a Python process per role), so the tests of a
module that need no fresh one share one per topology and database: each takes its `share`,
with users named apart and a symbol of its own, so that no test sees another's orders, book,
accounts or limits. Tests that restart, crash, move the clock or count what the whole platform
holds keep a platform of their own."""

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp

from tradingfloor.bootstrap.engine_settings import risk_settings
from tradingfloor.bootstrap.platform import Platform
from tradingfloor.config import Settings, load_settings
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.gateway.app import create_app
from tradingfloor.gateway.server import GatewayServer, build_server
from tradingfloor.identity import AuthService
from tradingfloor.service.ports import ShardPort

ADMIN_PASSWORD = "admin-password"
PASSWORD = "trader-password"
PASSWORD_HASHING_FAST = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 1_024,
    "password_hash_parallelism": 1,
}
"""argon2id at a small cost, the served platforms' unless a test says otherwise: the tests sign
users in by the hundred, and a hash at the default parameters takes a quarter of a second of
a core. The tests whose subject is what hashing costs pass `PASSWORD_HASHING_DEFAULT`."""
PASSWORD_HASHING_DEFAULT = {
    name: Settings.model_fields[name].default for name in PASSWORD_HASHING_FAST
}


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
    platform: Platform | None
    """The platform's roles when they run in this process (None: as processes)."""
    client: httpx.AsyncClient
    clock: Clock
    server: GatewayServer | None
    auth: AuthService
    shard: ShardPort
    admin: dict[str, str] = field(default_factory=dict)
    """Headers of an admin API key."""
    supervisor: Any = None
    """The roles' supervisor when they run as processes (`bootstrap.processes.Supervisor`)."""
    enrollment_tokens: dict[str, str] = field(default_factory=dict)
    totp_secrets: dict[str, str] = field(default_factory=dict)
    tag: str = ""
    """On a test's share of a shared platform (`share`): appended to the names of the users it
    makes (`user`), so that the test's "alice" is no other test's."""
    sym: str = "XYZ"
    """The symbol `order` trades and `symbol` lists unless told: on a share, the test's own."""

    async def share(self) -> "Served":
        """This platform for one more of the tests that share it: users named apart and a
        symbol of its own, listed at $100.00 (the admin's key, the client and the clock are
        the platform's)."""
        number = next(_shares)
        here = dataclasses.replace(
            self, tag=f"t{number}", sym=f"S{number}", enrollment_tokens={}, totp_secrets={}
        )
        await here.symbol(here.sym, "100")
        return here

    def user(self, name: str) -> str:
        """The username (and account) of the test's user `name`: `name-tag` on a share."""
        return f"{name}-{self.tag}" if self.tag else name

    async def trader(
        self,
        name: str,
        cash: str = "100000",
        shares: dict[str, int] | None = None,
        kind: str = "cash",
        key: bool = True,
    ) -> dict[str, str]:
        """A user with a funded account; returns the headers of an API key of theirs
        (`key=False`: of a session, an access token no gateway looks up in the database)."""
        created = await self.client.post(
            "/v1/admin/users",
            json={"username": self.user(name), "password": PASSWORD, "account_kind": kind},
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
        self.enrollment_tokens[name] = created.json()["enrollment_token"]
        return await self.mfa_key(name) if key else await self.mfa_session(name)

    async def market_data_caught_up(self) -> None:
        """Wait until the gateway's market data reflect every command applied so far (they
        follow the event feed: as processes, an answer can come before its market data)."""
        import time

        wanted = await self.shard.last_seq()
        deadline = time.monotonic() + 10
        while True:
            ready = (await self.client.get("/readyz", headers=self.admin)).json()
            if ready.get("seq", 0) >= wanted and await self._market_data_role_at(wanted):
                return
            assert time.monotonic() < deadline, f"market data not at seq {wanted}: {ready}"
            await asyncio.sleep(0.01)

    async def _market_data_role_at(self, seq: int) -> bool:
        """As processes, whether the market-data role (the WebSockets) has reached `seq`."""
        if self.supervisor is None:
            return True
        from tradingfloor.bootstrap.run_paths import marketdata_socket

        path = str(marketdata_socket(self.supervisor.settings))
        transport = httpx.AsyncHTTPTransport(uds=path)
        async with httpx.AsyncClient(transport=transport, base_url="http://marketdata") as role:
            with contextlib.suppress(httpx.HTTPError):
                health = (await role.get("/health")).json()
                return bool(health.get("seq", 0) >= seq)
        return False

    async def mfa_key(self, name: str) -> dict[str, str]:
        """Sign in, enrol and prove TOTP, then create an API key: its headers."""
        mfa = await self.mfa_session(name)
        key = await self.client.post("/v1/api-keys", json={"label": "test"}, headers=mfa)
        assert key.status_code == 201, key.text
        return {"X-API-Key-Id": key.json()["key_id"], "X-API-Secret": key.json()["secret"]}

    async def mfa_session(self, name: str) -> dict[str, str]:
        """Sign in with the password, enrol TOTP with the user's enrolment token and confirm
        it: the headers of the session the confirmation opens (the second factor proved)."""
        token = await self.login(name)
        headers = {"Authorization": f"Bearer {token}"}
        enrolled = await self.client.post(
            "/v1/auth/totp/enroll",
            json={"enrollment_token": self.enrollment_tokens[name]},
            headers=headers,
        )
        assert enrolled.status_code == 200, enrolled.text
        self.totp_secrets[name] = enrolled.json()["secret"]
        confirmed = await self.client.post(
            "/v1/auth/totp/confirm", json={"code": self.totp_code(name)}, headers=headers
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["second_factor"] == "proved"  # the code proved it
        return {"Authorization": f"Bearer {confirmed.json()['access_token']}"}

    async def signed_in(self, name: str) -> dict[str, str]:
        """A new session of a user with a second factor: password, then the next code."""
        token = await self.login(name)
        self.clock.offset_ns += 30_000_000_000  # a code works once: take the next step's
        verified = await self.client.post(
            "/v1/auth/totp/verify",
            json={"code": self.totp_code(name)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert verified.status_code == 200, verified.text
        return {"Authorization": f"Bearer {verified.json()['access_token']}"}

    def totp_code(self, name: str) -> str:
        """The code the user's authenticator shows now, by the edges' clock."""
        return pyotp.TOTP(self.totp_secrets[name]).at(self.clock() // 1_000_000_000)

    async def login(self, name: str, password: str = PASSWORD) -> str:
        answer = await self.client.post(
            "/v1/auth/login", json={"username": self.user(name), "password": password}
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    async def symbol(self, symbol: str = "", reference: str = "100", **terms: Any) -> None:
        answer = await self.client.post(
            "/v1/admin/symbols",
            json={"symbol": symbol or self.sym, "reference_price": reference, **terms},
            headers=self.admin,
        )
        assert answer.status_code == 200, answer.text

    async def order(self, headers: dict[str, str], **terms: Any) -> httpx.Response:
        body = {"symbol": self.sym, "time_in_force": "gtc", **terms}
        return await self.client.post("/v1/orders", json=body, headers=headers)


TOPOLOGIES = ("single", "processes")
"""How a served platform runs: every role in this process, or each in a process of its own."""
DATABASES = ("sqlite", "postgresql")
"""The read models' database: the SQLite default in the data directory, or PostgreSQL."""

_shares = itertools.count(1)

SHARED_PLATFORMS = [(topology, database) for topology in TOPOLOGIES for database in DATABASES]
"""The (topology, database) of the platforms a module's tests share (`shared_platform`)."""


def shared_platform_id(kind: tuple[str, str]) -> str:
    return "-".join(kind)


@contextlib.asynccontextmanager
async def shared_platform(
    data: Path, kind: tuple[str, str], **settings: Any
) -> AsyncIterator[Served]:
    """A platform for the tests of a module to share (`Served.share`), `kind` one of
    `SHARED_PLATFORMS`, on a database of its own: a scratch PostgreSQL database, or the
    SQLite default in `data`."""
    topology, database = kind
    if database == "sqlite":
        async with served(data, None, topology, **settings) as here:
            yield here
        return
    from postgres_db import scratch_database

    with scratch_database() as url:
        async with served(data, url, topology, **settings) as here:
            yield here


@contextlib.asynccontextmanager
async def served(
    data: Path,
    database_url: str | None = None,
    topology: str = "single",
    risk: RiskSettings | None = None,
    **settings: Any,
) -> AsyncIterator[Served]:
    """Start the platform on `data` and serve it on a free port of 127.0.0.1 (`risk`: the
    engine's risk settings, in one process only)."""
    overrides: dict[str, Any] = {
        "data_dir": data,
        "fsync": False,
        "host": "127.0.0.1",
        "port": 0,
        **PASSWORD_HASHING_FAST,
        **settings,
    }
    if database_url is not None:
        overrides["database_url"] = database_url
    if topology == "processes":
        assert risk is None, "the processes' engine takes the default risk settings"
        async with _served_as_processes(overrides) as here:
            yield here
        return
    clock = Clock()
    loaded = load_settings(None, **overrides)
    platform = Platform(loaded, risk or risk_settings(loaded), clock=clock)
    await platform.start()
    server = build_server(create_app(platform.backend), loaded)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.bound[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            here = Served(platform, client, clock, server, platform.auth, platform.shard)
            await _admin(here)
            yield here
    finally:
        server.should_exit = True
        await task
        await platform.stop()


@contextlib.asynccontextmanager
async def _served_as_processes(overrides: dict[str, Any]) -> AsyncIterator[Served]:
    """`serve` as processes (`workers` gateway workers, one unless told), supervised from
    this event loop."""
    from tradingfloor.bootstrap.processes import Supervisor
    from tradingfloor.bootstrap.roles import shard_socket
    from tradingfloor.service.shard_client import ShardClient
    from tradingfloor.store.database import make_engine

    workers = overrides.pop("workers", 1)
    # The settlement role closes days on the real calendar: only the tests of it run it.
    overrides.setdefault("settlement_enabled", False)
    # Trade reports, the audit trail and surveillance are their own tests': the others need
    # not start their processes (each follows the whole feed, on the tests' two cores).
    overrides.setdefault("reporting_enabled", False)
    overrides.setdefault("audit_enabled", False)
    overrides.setdefault("surveillance_enabled", False)
    loaded = load_settings(None, **overrides)
    supervisor = Supervisor(loaded, None, overrides, workers=workers, first_admin=False)
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    store = None
    shard = ShardClient(shard_socket(loaded))
    try:
        while not supervisor.serving.is_set():
            if task.done():
                task.result()
                raise RuntimeError("the supervisor ended before serving")
            await asyncio.sleep(0.02)
        store = make_engine(loaded.database_url)
        clock = Clock()
        auth = AuthService(store, loaded, clock=clock)
        base_url = f"http://127.0.0.1:{supervisor.port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            here = Served(None, client, clock, None, auth, shard, supervisor=supervisor)
            await _admin(here)
            yield here
    finally:
        stop.set()
        await task
        shard.close()
        if store is not None:
            store.dispose()


async def _admin(here: Served) -> None:
    """The root admin with an API key of every scope (`here.admin`)."""
    auth = here.auth
    if not await asyncio.to_thread(auth.has_users):
        await asyncio.to_thread(auth.create_user, "root", ADMIN_PASSWORD, "admin", "root")
    from tradingfloor.domain.commands import OpenAccount

    if await here.shard.account("root", 0) is None:
        await here.shard.submit(OpenAccount("root"))
    user = await asyncio.to_thread(auth.user_by_name, "root")
    from tradingfloor.identity import Scope

    scopes = [Scope.READ, Scope.TRADE, Scope.ADMIN, Scope.KEYS]
    key = await asyncio.to_thread(auth.create_api_key, user.id, scopes, "t")
    here.admin = {"X-API-Key-Id": key.key_id, "X-API-Secret": key.secret}
