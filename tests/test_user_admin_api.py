"""Sign-out and the admin's view of users and their keys, over real HTTP: `POST
/v1/auth/logout`, `GET /v1/admin/users`, `GET /v1/admin/users/{username}/api-keys` and `DELETE
/v1/admin/api-keys/{key_id}`. Against SQLite, and against the real PostgreSQL."""

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api_helpers import PASSWORD, Served, served


@pytest.fixture
async def api(tmp_path: Path, database_url: str | None) -> AsyncIterator[Served]:
    async with served(tmp_path / "data", database_url) as here:
        yield here


async def sign_in(api: Served, name: str) -> dict[str, Any]:
    answer = await api.client.post("/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


async def auth_events(api: Served, kind: str) -> list[dict[str, Any]]:
    answer = await api.client.get(f"/v1/admin/auth-events?kind={kind}", headers=api.admin)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def user_id(api: Served, name: str) -> int:
    answer = await api.client.get(f"/v1/admin/users/{name}", headers=api.admin)
    assert answer.status_code == 200, answer.text
    found: int = answer.json()["user_id"]
    return found


async def test_logout_ends_that_session_only_and_answers_alike_whatever_the_token(
    api: Served,
) -> None:
    await api.trader("alice", key=False)
    leaving, staying = await sign_in(api, "alice"), await sign_in(api, "alice")
    body = {"refresh_token": leaving["refresh_token"]}

    logged_out = await api.client.post("/v1/auth/logout", json=body)  # no credential

    assert logged_out.status_code == 204 and logged_out.content == b""
    refused = await api.client.post("/v1/auth/refresh", json=body)
    assert refused.status_code == 401, refused.text
    again = await api.client.post("/v1/auth/logout", json=body)
    unknown = await api.client.post(
        "/v1/auth/logout", json={"refresh_token": secrets.token_urlsafe(32)}
    )
    assert (again.status_code, unknown.status_code) == (204, 204)
    refreshed = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": staying["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text  # no theft alarm: other sessions live
    (event,) = await auth_events(api, "logout")
    assert event["user_id"] == await user_id(api, "alice")
    assert await auth_events(api, "refresh_reused") == []
    malformed = await api.client.post("/v1/auth/logout", json={"refresh_token": ""})
    assert malformed.status_code == 422, malformed.text


async def test_admins_list_users_a_page_at_a_time(api: Served) -> None:
    alice = await api.trader("alice")  # with a second factor and a key
    await api.trader("bob", key=False)
    created = await api.client.post(  # not enrolled yet
        "/v1/admin/users", json={"username": "carol", "password": PASSWORD}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    disabled = await api.client.post("/v1/admin/users/bob/disable", headers=api.admin)
    assert disabled.status_code == 200, disabled.text

    first = await api.client.get("/v1/admin/users?limit=2", headers=api.admin)

    assert first.status_code == 200, first.text
    page = first.json()
    assert [user["username"] for user in page["users"]] == ["alice", "bob"]
    assert page["next_page_token"] == "bob"
    listed_alice, listed_bob = page["users"]
    assert listed_alice == {
        "user_id": await user_id(api, "alice"),
        "username": "alice",
        "role": "trader",
        "account": "alice",
        "totp_enabled": True,
        "enrollment_pending": False,
        "disabled": False,
        "locked_for_s": None,
        "created_ts": listed_alice["created_ts"],
    }
    assert isinstance(listed_alice["created_ts"], int) and listed_alice["created_ts"] > 0
    assert listed_bob["disabled"] and listed_bob["totp_enabled"]
    rest = await api.client.get("/v1/admin/users?limit=2&page_token=bob", headers=api.admin)
    assert [user["username"] for user in rest.json()["users"]] == ["carol", "root"]
    carol = rest.json()["users"][0]
    assert (carol["totp_enabled"], carol["enrollment_pending"]) == (False, True)
    assert rest.json()["next_page_token"] is None
    assert rest.json()["users"][1]["role"] == "admin"

    for query in ("limit=0", "limit=501", "page_token=Not%20a%20name"):
        refused = await api.client.get(f"/v1/admin/users?{query}", headers=api.admin)
        assert refused.status_code == 422, (query, refused.text)
    forbidden = await api.client.get("/v1/admin/users", headers=alice)
    assert forbidden.status_code == 403, forbidden.text


async def test_admins_see_a_users_keys_and_revoke_any_of_them(api: Served) -> None:
    alice = await api.trader("alice")
    bob = await api.trader("bob")
    alice_key = alice["X-API-Key-Id"]
    assert (await api.client.get("/v1/account", headers=alice)).status_code == 200

    listed = await api.client.get("/v1/admin/users/alice/api-keys", headers=api.admin)

    assert listed.status_code == 200, listed.text
    (key,) = listed.json()
    assert set(key) == {"key_id", "scopes", "label", "created_ts", "revoked"}  # no secret
    assert (key["key_id"], key["label"], key["revoked"]) == (alice_key, "test", False)
    assert key["scopes"] == ["read", "trade"]
    unknown_user = await api.client.get("/v1/admin/users/nobody/api-keys", headers=api.admin)
    assert unknown_user.status_code == 404, unknown_user.text

    revoked = await api.client.delete(f"/v1/admin/api-keys/{alice_key}", headers=api.admin)

    assert revoked.status_code == 204, revoked.text
    assert (await api.client.get("/v1/account", headers=alice)).status_code == 401
    listed = await api.client.get("/v1/admin/users/alice/api-keys", headers=api.admin)
    assert listed.json()[0]["revoked"] is True
    (event,) = await auth_events(api, "key_revoked")
    assert (event["user_id"], event["detail"]) == (await user_id(api, "alice"), alice_key)
    assert event["actor_user_id"] == await user_id(api, "root")
    for unknown in ("TF" + "A" * 16, "not-a-key"):
        missing = await api.client.delete(f"/v1/admin/api-keys/{unknown}", headers=api.admin)
        assert missing.status_code == 404, (unknown, missing.text)
    bob_key = bob["X-API-Key-Id"]
    forbidden = await api.client.delete(f"/v1/admin/api-keys/{bob_key}", headers=bob)
    assert forbidden.status_code == 403, forbidden.text  # a user revokes at /v1/api-keys
    assert (await api.client.get("/v1/account", headers=bob)).status_code == 200
