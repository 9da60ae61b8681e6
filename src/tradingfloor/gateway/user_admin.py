"""The admin routes over users: create (with the enrolment token of their second factor),
list, inspect, disable and enable, end a lockout, a new enrolment for a lost phone, a user's
API keys and revoking any key, and the audit of sign-in events."""

import asyncio
from typing import Annotated, Any, Literal

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tradingfloor.domain.commands import OpenAccount
from tradingfloor.domain.enums import AccountKind
from tradingfloor.domain.ids import ACCOUNT_ID_PATTERN
from tradingfloor.gateway.admin_routes import command_answer
from tradingfloor.gateway.auth_routes import api_key_view, source_of
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.deps import Admin
from tradingfloor.identity import Role, User
from tradingfloor.identity.rules import USERNAME

auth_events_per_page_max = 1_000
users_per_page_max = 500


class UserRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Role = Role.TRADER
    account_id: str | None = Field(default=None, pattern=f"^{ACCOUNT_ID_PATTERN}$")
    account_kind: Literal["cash", "margin"] = "cash"


def install(app: FastAPI, platform: Backend) -> None:
    """Add the routes to `app`."""
    auth = platform.auth

    @app.post("/v1/admin/users", tags=["admin"], status_code=201)
    async def create_user(body: UserRequest, principal: Admin, request: Request) -> Response:
        """A login and, when it does not exist yet, its trading account; the answer carries
        the one-time token with which the user enrols a second factor (hand it over out of
        band: it is shown only here)."""
        account_id = body.account_id or body.username.lower()
        if not await platform.account_exists(account_id):
            kind = AccountKind[body.account_kind.upper()]
            opened = await command_answer(platform, OpenAccount(account_id, kind))
            if opened.status_code != 200:
                return opened
        source = source_of(request)
        user = await asyncio.to_thread(
            auth.create_user,
            body.username,
            body.password,
            body.role,
            account_id,
            principal.user_id,
            source,
        )
        token, expires_ts = await asyncio.to_thread(
            auth.issue_enrollment, user.id, principal.user_id, source
        )
        answer = {
            "user_id": user.id,
            "username": user.username,
            "account": account_id,
            "enrollment_token": token,
            "enrollment_expires_ts": expires_ts,
        }
        return _json(answer, 201)

    async def user_named(username: str) -> User:
        return await asyncio.to_thread(auth.user_by_name, username)

    @app.get("/v1/admin/users", tags=["admin"])
    async def list_users(
        _principal: Admin,
        limit: Annotated[int, Query(ge=1, le=users_per_page_max)] = 100,
        page_token: Annotated[str | None, Query(pattern=f"^{USERNAME.pattern}$")] = None,
    ) -> dict[str, Any]:
        """Users by username: role, account, second factor, lockout, whether disabled;
        `next_page_token` (the last username) continues the listing."""
        found = await asyncio.to_thread(auth.list_users, page_token, limit + 1)
        more = len(found) > limit
        page = found[:limit]
        return {"users": page, "next_page_token": page[-1]["username"] if more else None}

    @app.get("/v1/admin/users/{username}/api-keys", tags=["admin"])
    async def user_api_keys(username: str, _principal: Admin) -> list[dict[str, Any]]:
        """A user's API keys, revoked ones too (never their secrets)."""
        user = await user_named(username)
        keys = await asyncio.to_thread(auth.list_api_keys, user.id)
        return [api_key_view(key) for key in keys]

    @app.delete("/v1/admin/api-keys/{key_id}", tags=["admin"], status_code=204)
    async def revoke_api_key(key_id: str, principal: Admin, request: Request) -> Response:
        """Revoke any user's key (audited as the admin's act)."""
        await asyncio.to_thread(
            auth.revoke_api_key, key_id, None, source_of(request), principal.user_id
        )
        return Response(status_code=204)

    @app.get("/v1/admin/users/{username}", tags=["admin"])
    async def get_user(username: str, _principal: Admin) -> dict[str, Any]:
        """A user's role, account, second factor, lockout, keys and whether disabled."""
        user = await user_named(username)
        state: dict[str, Any] = await asyncio.to_thread(auth.user_state, user.id)
        return state

    @app.post("/v1/admin/users/{username}/enrollment", tags=["admin"])
    async def issue_enrollment(
        username: str, principal: Admin, request: Request
    ) -> dict[str, Any]:
        """A new enrolment token (a lost phone): the user's second factor is removed until
        they enrol again."""
        user = await user_named(username)
        token, expires_ts = await asyncio.to_thread(
            auth.issue_enrollment, user.id, principal.user_id, source_of(request)
        )
        return {"enrollment_token": token, "enrollment_expires_ts": expires_ts}

    for action in ("disable", "enable", "unlock"):
        _install_user_action(app, auth, action, user_named, Admin)

    @app.get("/v1/admin/auth-events", tags=["admin"])
    async def auth_events(
        _principal: Admin,
        username: Annotated[str | None, Query(max_length=64)] = None,
        kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
        limit: Annotated[int, Query(ge=1, le=auth_events_per_page_max)] = 100,
    ) -> list[dict[str, Any]]:
        """Sign-ins, failures, lockouts, blocks, key and second-factor changes and admin
        actions on users, newest first."""
        user_id = None if username is None else (await user_named(username)).id
        events: list[dict[str, Any]] = await asyncio.to_thread(
            auth.auth_events, user_id, kind, limit
        )
        return events


def _install_user_action(
    app: FastAPI, auth: Any, action: str, user_named: Any, Admin: Any
) -> None:
    """`POST /v1/admin/users/{username}/{action}`: disable (no sign-in, session or key from
    now on), enable, unlock (end a lockout)."""
    method = {"disable": auth.disable_user, "enable": auth.enable_user, "unlock": auth.unlock_user}

    async def act(username: str, principal: Admin, request: Request) -> dict[str, Any]:
        user = await user_named(username)
        await asyncio.to_thread(method[action], user.id, principal.user_id, source_of(request))
        state: dict[str, Any] = await asyncio.to_thread(auth.user_state, user.id)
        return state

    act.__name__ = f"{action}_user"
    app.post(f"/v1/admin/users/{{username}}/{action}", tags=["admin"])(act)


def _json(body: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status, media_type="application/json")
