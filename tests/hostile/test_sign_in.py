"""Sign-in over HTTP as an attacker tries it: a password alone, guessed passwords and codes,
one source spraying usernames, keys minting keys, a disabled user, the kill switch."""

import asyncio
from pathlib import Path

import httpx
import pyotp

from api_helpers import PASSWORD, PASSWORD_HASHING_DEFAULT, Served, served

S = 1_000_000_000
ORDER = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": "99"}


def code(answer: httpx.Response) -> tuple[int, int]:
    return answer.status_code, answer.json()["code"]


async def login(api: Served, name: str, password: str = PASSWORD) -> httpx.Response:
    return await api.client.post("/v1/auth/login", json={"username": name, "password": password})


async def new_user(api: Served, name: str) -> str:
    """A funded trader without a second factor yet: the enrolment token the admin got."""
    created = await api.client.post(
        "/v1/admin/users", json={"username": name, "password": PASSWORD}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    token: str = created.json()["enrollment_token"]
    api.enrollment_tokens[name] = token
    return token


async def events(api: Served, name: str) -> list[str]:
    answer = await api.client.get(f"/v1/admin/auth-events?username={name}", headers=api.admin)
    assert answer.status_code == 200, answer.text
    return [event["kind"] for event in reversed(answer.json())]


async def test_a_password_alone_opens_only_the_second_factor(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await api.symbol()
        enrollment_token = await new_user(api, "alice")
        signed_in = await login(api, "alice")
        assert signed_in.json()["second_factor"] == "enrollment_required"
        password_only = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}

        refused = [
            await api.client.get("/v1/account", headers=password_only),
            await api.client.post("/v1/orders", json=ORDER, headers=password_only),
            await api.client.post("/v1/api-keys", json={}, headers=password_only),
            await api.client.get("/v1/api-keys", headers=password_only),
        ]
        forged = await api.client.post(
            "/v1/auth/totp/enroll", json={"enrollment_token": "forged"}, headers=password_only
        )
        enrolled = await api.client.post(
            "/v1/auth/totp/enroll",
            json={"enrollment_token": enrollment_token},
            headers=password_only,
        )
        secret = enrolled.json()["secret"]
        now_s = api.clock() // S
        confirmed = await api.client.post(
            "/v1/auth/totp/confirm",
            json={"code": pyotp.TOTP(secret).at(now_s)},
            headers=password_only,
        )
        api.clock.offset_ns += 30 * S
        again = await login(api, "alice")
        assert again.json()["second_factor"] == "required"
        verified = await api.client.post(
            "/v1/auth/totp/verify",
            json={"code": pyotp.TOTP(secret).at(api.clock() // S)},
            headers={"Authorization": f"Bearer {again.json()['access_token']}"},
        )

        assert [code(answer) for answer in refused] == [(401, 4004)] * 4
        assert code(forged) == (403, 4021)
        assert enrolled.status_code == 200 and confirmed.status_code == 200
        assert confirmed.json()["mfa"] and confirmed.json()["second_factor"] == "proved"
        assert verified.json()["second_factor"] == "proved" and verified.json()["mfa"]
        session = {"Authorization": f"Bearer {verified.json()['access_token']}"}
        assert (await api.client.get("/v1/account", headers=session)).status_code == 200
        key = await api.client.post("/v1/api-keys", json={"scopes": ["read"]}, headers=session)
        assert key.status_code == 201
        as_key = {"X-API-Key-Id": key.json()["key_id"], "X-API-Secret": key.json()["secret"]}
        by_key = await api.client.post(
            "/v1/auth/totp/enroll", json={"enrollment_token": "x"}, headers=as_key
        )
        assert code(by_key) == (403, 4006)


async def test_guessed_passwords_lock_the_user_out_with_retry_after(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await new_user(api, "alice")
        wrong = [await login(api, "alice", "not the password") for _ in range(5)]
        locked = await login(api, "alice")  # the right password, but locked out
        api.clock.offset_ns += 61 * S
        after = await login(api, "alice")

        assert [code(answer) for answer in wrong] == [(401, 4001)] * 5
        assert code(locked) == (429, 4019) and int(locked.headers["Retry-After"]) >= 1
        assert after.status_code == 200
        kinds = await events(api, "alice")
        assert kinds.count("login_failed") == 5 and "user_locked" in kinds


async def test_guessed_codes_lock_the_user_out(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await api.symbol()
        await api.trader("alice")
        token = (await login(api, "alice")).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}

        guesses = [
            await api.client.post(
                "/v1/auth/totp/verify", json={"code": f"{n:06d}"}, headers=bearer
            )
            for n in range(5)
        ]
        right = await api.client.post(
            "/v1/auth/totp/verify", json={"code": api.totp_code("alice")}, headers=bearer
        )

        # One guess might be the right code by chance (1 in 200,000): then fewer refusals.
        assert sum(code(answer) == (401, 4005) for answer in guesses) >= 4
        assert code(right) == (429, 4019)
        state = (await api.client.get("/v1/admin/users/alice", headers=api.admin)).json()
        assert state["locked_for_s"] >= 1 and state["lockouts"] == 1
        unlocked = await api.client.post("/v1/admin/users/alice/unlock", headers=api.admin)
        assert unlocked.json()["locked_for_s"] is None
        api.clock.offset_ns += 30 * S
        fresh = await api.client.post(
            "/v1/auth/totp/verify", json={"code": api.totp_code("alice")}, headers=bearer
        )
        assert fresh.status_code == 200, fresh.text


async def test_a_source_that_sprays_usernames_is_blocked_and_others_trade_on(
    tmp_path: Path,
) -> None:
    async with served(tmp_path / "data", source_failures_max=6) as api:
        await api.symbol()
        bob = await api.trader("bob")
        sprayed = [await login(api, f"user{n}", "guess-guess") for n in range(6)]
        blocked = await login(api, "bob")  # even a right password, from this source
        order = await api.client.post("/v1/orders", json=ORDER, headers=bob)

        assert [code(answer) for answer in sprayed] == [(401, 4001)] * 6
        assert code(blocked) == (429, 4019) and int(blocked.headers["Retry-After"]) >= 1
        assert order.status_code == 200, order.text  # API keys are not sign-ins
        audit = await api.client.get(
            "/v1/admin/auth-events?kind=source_blocked", headers=api.admin
        )
        assert audit.json()[0]["source"] == "127.0.0.1"


async def test_sign_ins_beyond_the_password_checks_wait_then_get_a_503(tmp_path: Path) -> None:
    limits = {"password_checks_concurrent_max": 1, "password_check_wait_ms": 1}
    async with served(tmp_path / "data", **limits, **PASSWORD_HASHING_DEFAULT) as api:
        await new_user(api, "alice")
        answers = await asyncio.gather(*(login(api, "alice") for _ in range(8)))

        busy = [answer for answer in answers if answer.status_code == 503]
        assert busy and all(answer.json()["code"] == 5037 for answer in busy)
        assert all(answer.headers["Retry-After"] == "1" for answer in busy)
        assert any(answer.status_code == 200 for answer in answers)


async def test_a_key_never_mints_or_revokes_beyond_its_scopes(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await api.symbol()
        trading_key = await api.trader("alice")
        session = await api.signed_in("alice")
        read_only = await key(api, session, ["read"])
        key_keeper = await key(api, session, ["read", "keys"])

        from_read_only = [
            await api.client.post("/v1/api-keys", json={"scopes": ["read"]}, headers=read_only),
            await api.client.get("/v1/api-keys", headers=read_only),
            await api.client.delete(
                f"/v1/api-keys/{trading_key['X-API-Key-Id']}", headers=read_only
            ),
        ]
        wider = await api.client.post(
            "/v1/api-keys", json={"scopes": ["read", "trade"]}, headers=key_keeper
        )
        admin_scope = await api.client.post(
            "/v1/api-keys", json={"scopes": ["admin"]}, headers=session
        )
        narrower = await api.client.post(
            "/v1/api-keys", json={"scopes": ["read"]}, headers=key_keeper
        )
        revoked = await api.client.delete(
            f"/v1/api-keys/{trading_key['X-API-Key-Id']}", headers=key_keeper
        )

        assert [code(answer) for answer in from_read_only] == [(403, 4006)] * 3
        assert code(wider) == (403, 4006) and code(admin_scope) == (403, 4006)
        assert narrower.status_code == 201 and narrower.json()["scopes"] == ["read"]
        assert revoked.status_code == 204
        gone = await api.client.get("/v1/account", headers=trading_key)
        assert gone.status_code == 401


async def key(api: Served, session: dict[str, str], scopes: list[str]) -> dict[str, str]:
    made = await api.client.post("/v1/api-keys", json={"scopes": scopes}, headers=session)
    assert made.status_code == 201, made.text
    return {"X-API-Key-Id": made.json()["key_id"], "X-API-Secret": made.json()["secret"]}


async def test_a_disabled_user_and_a_blocked_account_are_shut_out(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await api.symbol()
        alice = await api.trader("alice")
        bob = await api.trader("bob")

        disabled = await api.client.post("/v1/admin/users/alice/disable", headers=api.admin)
        alice_refused = [
            await login(api, "alice"),
            await api.client.get("/v1/account", headers=alice),
        ]
        await api.client.post("/v1/admin/users/alice/enable", headers=api.admin)
        alice_back = await api.client.get("/v1/account", headers=alice)
        blocked = await api.client.post(
            "/v1/admin/accounts/bob/status", json={"status": "blocked"}, headers=api.admin
        )
        bob_refused = [await login(api, "bob"), await api.client.get("/v1/account", headers=bob)]

        assert disabled.json()["disabled"] is True
        assert code(alice_refused[0]) == (403, 4010)
        assert alice_refused[1].status_code == 401
        assert alice_back.status_code == 200
        assert blocked.status_code == 200
        assert [code(answer) for answer in bob_refused] == [(403, 4020)] * 2
        kinds = await events(api, "alice")
        assert "user_disabled" in kinds and "user_enabled" in kinds


async def test_a_lost_phone_gets_a_new_enrolment(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await api.symbol()
        await api.trader("alice")
        issued = await api.client.post("/v1/admin/users/alice/enrollment", headers=api.admin)
        api.enrollment_tokens["alice"] = issued.json()["enrollment_token"]
        signed_in = await login(api, "alice")

        assert signed_in.json()["second_factor"] == "enrollment_required"
        session = await api.mfa_session("alice")  # enrols the new phone
        assert (await api.client.get("/v1/account", headers=session)).status_code == 200
