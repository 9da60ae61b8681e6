"""Answers that tell nothing they should not, and tell the same before and after a restart:
another account's order is a missing one; a refused client order id is refused again; a
WebSocket that never authenticates is closed; demo restarts reuse their logins."""

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
import websockets

from api_helpers import served


async def test_another_accounts_order_is_answered_as_a_missing_one(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await api.symbol()
        alice = await api.trader("alice")
        bob = await api.trader("bob")
        placed = await api.order(alice, side="buy", type="limit", qty=1, limit_price="90")
        order_id = placed.json()["id"]
        missing_id = str(int(order_id) + 1_000)

        answers = {}
        for name, order in (("theirs", order_id), ("missing", missing_id)):
            answers[name] = [
                await api.client.delete(f"/v1/orders/{order}", headers=bob),
                await api.client.patch(f"/v1/orders/{order}", json={"qty": 2}, headers=bob),
                await api.client.get(f"/v1/orders/{order}", headers=bob),
            ]

        for theirs, missing in zip(answers["theirs"], answers["missing"], strict=True):
            assert theirs.status_code == missing.status_code == 404
            assert theirs.json() == missing.json() == {"code": 3001, "message": "no such order"}
        still = await api.client.get(f"/v1/orders/{order_id}", headers=alice)
        assert still.json()["status"] == "new"


async def test_a_refused_client_order_id_is_refused_alike_after_a_restart(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    refused_terms = {"symbol": "NOPE", "side": "buy", "type": "limit", "qty": 1}
    async with served(data, database_url) as api:
        await api.symbol()
        alice = await api.trader("alice")
        first = await api.client.post(
            "/v1/orders",
            json={**refused_terms, "limit_price": "1", "client_order_id": "c-1"},
            headers=alice,
        )
        before = await api.client.post(
            "/v1/orders",
            json={**refused_terms, "limit_price": "1", "client_order_id": "c-1"},
            headers=alice,
        )
    async with served(data, database_url) as api:
        after = await api.client.post(
            "/v1/orders",
            json={**refused_terms, "limit_price": "1", "client_order_id": "c-1"},
            headers=alice,
        )

    assert first.status_code == 404 and first.json()["code"] == 1012
    assert (before.status_code, before.json()) == (first.status_code, first.json())
    assert (after.status_code, after.json()) == (first.status_code, first.json())


async def test_a_trade_stream_that_never_authenticates_is_closed(tmp_path: Path) -> None:
    async with served(tmp_path / "data", websocket_auth_timeout_s=0.3) as api:
        url = str(api.client.base_url).replace("http", "ws") + "/stream"
        async with websockets.connect(url) as socket:
            async with asyncio.timeout(10):
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_trade_stream_sent_garbage_answers_it_and_stays_up(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await api.symbol()
        alice = await api.trader("alice")
        url = str(api.client.base_url).replace("http", "ws") + "/stream"
        for garbage in ("[" * 50_000, b"\xff\xfe", '{"action": "authenticate", "data": 7}'):
            async with websockets.connect(url) as socket:
                await socket.send(garbage)
                async with asyncio.timeout(10):
                    answer = await socket.recv()
                assert '"unauthorized"' in str(answer)
        async with websockets.connect(url) as socket:  # and it still serves a real client
            auth = {"key_id": alice["X-API-Key-Id"], "secret_key": alice["X-API-Secret"]}
            await socket.send(json.dumps({"action": "authenticate", "data": auth}))
            async with asyncio.timeout(10):
                assert '"authorized"' in str(await socket.recv())


def test_demo_logins_are_made_even_when_hashing_outlasts_a_code_step(tmp_path: Path) -> None:
    """Argon2 under load may take longer than a TOTP step: the code that confirms the demo's
    second factor is computed at the service's time when it is confirmed."""
    from argon2 import PasswordHasher

    from tradingfloor.bootstrap.setup import DEMO_PASSWORD, DEMO_USERS
    from tradingfloor.config import load_settings
    from tradingfloor.demo.logins import ensure_demo_logins
    from tradingfloor.identity import AuthService
    from tradingfloor.store import make_engine, upgrade

    now = [time.time_ns()]

    class SlowHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            now[0] += 31 * 1_000_000_000  # a step (30 s) passes while hashing
            return super().hash(password, salt=salt)

    settings = load_settings(None, data_dir=tmp_path)
    upgrade(settings.database_url)
    auth = AuthService(
        make_engine(settings.database_url),
        settings,
        clock=lambda: now[0],
        password_hasher=SlowHasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    logins = ensure_demo_logins(auth, tmp_path, DEMO_USERS, DEMO_PASSWORD)

    assert [login.username for login in logins] == [name for name, _, _ in DEMO_USERS]
    assert all(auth.user_by_name(login.username).totp_enabled for login in logins)


def test_demo_restarts_reuse_their_logins_and_replace_a_revoked_key(tmp_path: Path) -> None:
    from tradingfloor.bootstrap.setup import DEMO_PASSWORD, DEMO_USERS
    from tradingfloor.config import load_settings
    from tradingfloor.demo.logins import ensure_demo_logins
    from tradingfloor.identity import AuthService
    from tradingfloor.store import make_engine, upgrade

    settings = load_settings(None, data_dir=tmp_path, api_keys_per_user_max=3)
    upgrade(settings.database_url)
    auth = AuthService(make_engine(settings.database_url), settings)
    starts = [
        ensure_demo_logins(auth, tmp_path, DEMO_USERS, DEMO_PASSWORD)
        for _ in range(25)  # more starts than keys a user may have
    ]
    alice = auth.user_by_name("alice")
    auth.revoke_api_key(starts[-1][1].key_id, alice.id)
    after_revoke = ensure_demo_logins(auth, tmp_path, DEMO_USERS, DEMO_PASSWORD)

    assert all(start == starts[0] for start in starts)
    assert after_revoke[1].key_id != starts[0][1].key_id
    assert after_revoke[1].totp_secret == starts[0][1].totp_secret
    auth.authenticate_api_key(after_revoke[1].key_id, after_revoke[1].key_secret)
    live = [key for key in auth.list_api_keys(alice.id) if not key.revoked]
    assert len(live) == 1
    assert (tmp_path / "demo-logins.json").stat().st_mode & 0o777 == 0o600


async def test_a_client_order_id_back_with_other_terms_is_refused(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    first = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 2, "limit_price": "95"}
    other = {**first, "qty": 3}
    async with served(data, database_url) as api:
        await api.symbol()
        alice = await api.trader("alice")
        placed = await api.client.post(
            "/v1/orders", json={**first, "client_order_id": "c"}, headers=alice
        )
        same = await api.client.post(
            "/v1/orders",
            json={**first, "limit_price": "95.00", "client_order_id": "c"},
            headers=alice,
        )
        before = await api.client.post(
            "/v1/orders", json={**other, "client_order_id": "c"}, headers=alice
        )
        v2_other = await api.client.post(
            "/v2/orders",
            json={**other, "qty": "3", "time_in_force": "day", "client_order_id": "c"},
            headers=alice,
        )
        v2_same = await api.client.post(
            "/v2/orders",
            json={**first, "qty": "2", "time_in_force": "day", "client_order_id": "c"},
            headers=alice,
        )
    async with served(data, database_url) as api:
        after = await api.client.post(
            "/v1/orders", json={**other, "client_order_id": "c"}, headers=alice
        )
        again = await api.client.post(
            "/v1/orders", json={**first, "client_order_id": "c"}, headers=alice
        )

    assert placed.status_code == 200
    assert same.status_code == 200 and same.json()["id"] == placed.json()["id"]  # 95 is 95.00
    for refused in (before, v2_other, after):
        assert (refused.status_code, refused.json()["code"]) == (422, 1016), refused.text
    assert v2_same.status_code == 200  # a retry: the first order, as on /v1
    assert uuid.UUID(v2_same.json()["id"]).int == int(placed.json()["id"])
    assert again.status_code == 200 and again.json()["id"] == placed.json()["id"]
