"""Sign-in, the second factor and API keys (the admin routes over users: `user_admin`).

Policy (see `tradingfloor.identity` for the rules it applies):

* `POST /v1/auth/login` with a password opens a session that may only prove the second factor
  (`/v1/auth/totp/verify`) or, for a user without one, enrol it with the one-time enrolment
  token an admin issued (`/v1/auth/totp/enroll`, then `/v1/auth/totp/confirm`). Everything
  else needs a session that proved the second factor, or an API key.
* `POST /v1/auth/logout` with a refresh token ends its session (the access tokens it gave
  live on until they expire: they are checked without the database).
* API keys are listed, made and revoked by such a session or by a key with the `keys` scope,
  never with more scopes than their maker's.
* Guessing is limited per user (lockouts, in the database) and per source address
  (`identity.lockout.SourceGuard`, in this gateway), and at most `password_checks_concurrent_max`
  argon2 checks run at once, on threads of the lowest CPU priority, so a flood of sign-ins
  cannot take the cores order entry needs: a sign-in that waits longer than
  `password_check_wait_ms` for a check is answered 503.
"""

import asyncio
import contextlib
import functools
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tradingfloor import observability as metrics
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.deps import KeyManager, Session
from tradingfloor.gateway.errors import retry_after
from tradingfloor.identity import (
    ApiKeyInfo,
    AuthError,
    AuthErrorCode,
    Scope,
    TokenPair,
)
from tradingfloor.identity.lockout import SourceGuard

log = logging.getLogger("tradingfloor.auth")

GUESS_CODES = frozenset(
    {
        AuthErrorCode.INVALID_CREDENTIALS,
        AuthErrorCode.INVALID_SECOND_FACTOR,
        AuthErrorCode.TOKEN_INVALID,
        AuthErrorCode.ENROLLMENT_TOKEN_INVALID,
        AuthErrorCode.TOO_MANY_ATTEMPTS,
    }
)
"""Refusals that count as a failed guess of the source address that caused them."""
SIGN_IN_BUSY = 5037
SIGN_IN_PATHS = frozenset(
    {
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/auth/totp/verify",
        "/v1/auth/totp/confirm",
        "/v1/auth/totp/enroll",
    }
)
BLOCKED_SOURCE_DELAY_S = 1.0
SOURCE_BLOCKED = "too many failed sign-ins from this address: blocked for now"
SOURCE_BLOCKED_BODY = msgspec.json.encode(
    {"code": int(AuthErrorCode.TOO_MANY_ATTEMPTS), "message": SOURCE_BLOCKED}
)


class SignInBusy(Exception):
    """Every password check is taken and none freed up in time: answered 503."""


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class CodeRequest(BaseModel):
    code: str = Field(pattern=r"^[0-9]{6}$")


class EnrollRequest(BaseModel):
    enrollment_token: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_\-]+$")


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    access_expires_ts: int
    refresh_expires_ts: int
    mfa: bool
    second_factor: Literal["proved", "required", "enrollment_required"]
    """What the session still needs: nothing, a code (`/v1/auth/totp/verify`), or enrolment
    (`/v1/auth/totp/enroll` with the token an admin issued, then `/v1/auth/totp/confirm`)."""


class ApiKeyRequest(BaseModel):
    scopes: list[Scope] = Field(default_factory=lambda: [Scope.READ, Scope.TRADE], max_length=8)
    label: str = Field(default="", max_length=64, pattern=r"^[ -~]*$")


def api_key_view(key: ApiKeyInfo) -> dict[str, Any]:
    """An API key as its owner and admins see it: never its secret or the secret's hash."""
    return {
        "key_id": key.key_id,
        "scopes": sorted(key.scopes),
        "label": key.label,
        "created_ts": key.created_ts,
        "revoked": key.revoked,
    }


def source_of(request: Request) -> str:
    """The client's address as this gateway sees it (a proxy in front hides the real one)."""
    client = request.scope.get("client")
    return client[0] if client else ""


def install(
    app: FastAPI,
    platform: Backend,
) -> None:
    """Add the sign-in and key routes to `app`."""
    settings = platform.settings
    auth = platform.auth
    guard = SourceGuard(
        settings.source_failures_max,
        settings.source_failure_window_s,
        settings.source_block_s,
        settings.lockout_max_s,
        settings.sources_tracked_max,
        clock=platform.clock,
    )
    password_checks = asyncio.Semaphore(settings.password_checks_concurrent_max)
    password_check_wait_s = settings.password_check_wait_ms / 1000
    # Their own threads, at the lowest CPU priority: argon2 takes only what order entry leaves.
    password_threads = ThreadPoolExecutor(
        settings.password_checks_concurrent_max,
        thread_name_prefix="password-check",
        initializer=_lowest_cpu_priority,
    )

    app.add_middleware(BlockedSourceRefusal, guard=guard)

    @app.exception_handler(SignInBusy)
    async def _busy(_request: Request, _error: SignInBusy) -> Response:
        body = msgspec.json.encode({"code": SIGN_IN_BUSY, "message": "sign-in busy: retry"})
        return Response(body, 503, retry_after(1), media_type="application/json")

    async def attempt(
        request: Request, call: Callable[..., Any], *args: Any, checks_password: bool = False
    ) -> Any:
        """Run a sign-in step for the request's source, off the event loop: refused at once
        while the source is blocked; one that `checks_password` waits for a password check
        (argon2) first; a refusal that is a failed guess counts against the source."""
        source = source_of(request)
        left = guard.blocked_s(source)
        if left is not None:
            metrics.sign_in_refusals.labels("source_blocked").inc()
            raise AuthError(
                AuthErrorCode.TOO_MANY_ATTEMPTS,
                SOURCE_BLOCKED,
                retry_after_s=left,
            )
        step = functools.partial(call, *args, source=source)
        loop = asyncio.get_running_loop()
        try:
            if not checks_password:
                return await loop.run_in_executor(None, step)
            async with password_check():
                return await loop.run_in_executor(password_threads, step)
        except AuthError as error:
            if error.code in GUESS_CODES:
                metrics.sign_in_refusals.labels(error.code.name.lower()).inc()
                blocked_s = guard.failed(source)
                if blocked_s is not None:
                    log.warning("source blocked", extra={"source": source, "block_s": blocked_s})
                    await asyncio.to_thread(auth.record_event, "source_blocked", source, blocked_s)
            raise

    @contextlib.asynccontextmanager
    async def password_check() -> AsyncIterator[None]:
        """One of the `password_checks_concurrent_max` checks, or `SignInBusy` after
        `password_check_wait_ms`."""
        try:
            async with asyncio.timeout(password_check_wait_s):
                await password_checks.acquire()
        except TimeoutError:
            metrics.sign_in_refusals.labels("busy").inc()
            raise SignInBusy() from None
        try:
            yield
        finally:
            password_checks.release()

    # ------------------------------------------------------------------ sign-in

    @app.post("/v1/auth/login", response_model=TokenResponse, tags=["auth"])
    async def login(body: LoginRequest, request: Request) -> TokenResponse:
        """Username and password: a session that may only prove (or enrol) the second factor,
        and its refresh token."""
        pair = await attempt(
            request, auth.login, body.username, body.password, checks_password=True
        )
        return await _tokens(pair)

    @app.post("/v1/auth/refresh", response_model=TokenResponse, tags=["auth"])
    async def refresh(body: RefreshRequest, request: Request) -> TokenResponse:
        pair = await attempt(request, _refresh, body.refresh_token)
        return await _tokens(pair)

    def _refresh(token: str, source: str) -> TokenPair:
        return auth.refresh(token)

    @app.post("/v1/auth/logout", tags=["auth"], status_code=204)
    async def logout(body: RefreshRequest, request: Request) -> Response:
        """End the session of a refresh token: a refresh with it is refused from now on.
        Answered alike whether it was live, used or unknown."""
        await attempt(request, auth.logout, body.refresh_token)
        return Response(status_code=204)

    @app.post("/v1/auth/totp/enroll", tags=["auth"])
    async def totp_enroll(
        body: EnrollRequest, principal: Session, request: Request
    ) -> dict[str, str]:
        """A new TOTP secret for an authenticator app, given the enrolment token an admin
        issued; confirm it with a code."""
        enrollment = await attempt(
            request, auth.enroll_totp, principal.user_id, body.enrollment_token
        )
        return {"secret": enrollment.secret, "provisioning_uri": enrollment.provisioning_uri}

    @app.post("/v1/auth/totp/confirm", response_model=TokenResponse, tags=["auth"])
    async def totp_confirm(
        body: CodeRequest, principal: Session, request: Request
    ) -> TokenResponse:
        """Turn the enrolled secret on with a current code, which also proves the second
        factor: the answer is a session that may read, trade and manage keys."""
        pair = await attempt(request, auth.confirm_totp, principal.user_id, body.code)
        return await _tokens(pair)

    @app.post("/v1/auth/totp/verify", response_model=TokenResponse, tags=["auth"])
    async def totp_verify(
        body: CodeRequest, principal: Session, request: Request
    ) -> TokenResponse:
        """The second factor: a session that may read, trade and manage keys."""
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        pair = await attempt(request, auth.verify_totp, token, body.code)
        return await _tokens(pair)

    async def _tokens(pair: TokenPair) -> TokenResponse:
        principal = auth.authenticate_token(pair.access_token)
        if principal.mfa:
            needs: Literal["proved", "required", "enrollment_required"] = "proved"
        else:
            user = await asyncio.to_thread(auth.get_user, principal.user_id)
            needs = "required" if user.totp_enabled else "enrollment_required"
        return TokenResponse(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            token_type=pair.token_type,
            access_expires_ts=pair.access_expires_ts,
            refresh_expires_ts=pair.refresh_expires_ts,
            mfa=principal.mfa,
            second_factor=needs,
        )

    # ------------------------------------------------------------------ API keys

    @app.get("/v1/api-keys", tags=["auth"])
    async def list_api_keys(principal: KeyManager) -> list[dict[str, Any]]:
        """Your API keys (never their secrets)."""
        keys = await asyncio.to_thread(auth.list_api_keys, principal.user_id)
        return [api_key_view(key) for key in keys]

    @app.post("/v1/api-keys", tags=["auth"], status_code=201)
    async def create_api_key(
        body: ApiKeyRequest, principal: KeyManager, request: Request
    ) -> dict[str, Any]:
        """A key for a bot, with at most your own scopes; the secret is shown only here."""
        key = await asyncio.to_thread(
            auth.create_api_key,
            principal.user_id,
            body.scopes,
            body.label,
            principal.scopes,
            source_of(request),
        )
        return {"key_id": key.key_id, "secret": key.secret, "scopes": sorted(set(body.scopes))}

    @app.delete("/v1/api-keys/{key_id}", tags=["auth"], status_code=204)
    async def revoke_api_key(key_id: str, principal: KeyManager, request: Request) -> Response:
        await asyncio.to_thread(auth.revoke_api_key, key_id, principal.user_id, source_of(request))
        return Response(status_code=204)


class BlockedSourceRefusal:
    """A sign-in from a blocked source answered 429 before FastAPI parses anything, after
    `BLOCKED_SOURCE_DELAY_S` (a tarpit): each of its connections then waits that long for
    every refusal, so an address that floods sign-ins gets at most
    `connections_per_source_max` refusals a second, and costs the server next to nothing."""

    def __init__(self, app: Any, guard: SourceGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in SIGN_IN_PATHS:
            client = scope.get("client")
            left = self.guard.blocked_s(client[0]) if client else None
            if left is not None:
                metrics.sign_in_refusals.labels("source_blocked").inc()
                await asyncio.sleep(BLOCKED_SOURCE_DELAY_S)
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(SOURCE_BLOCKED_BODY)).encode()),
                    (b"retry-after", str(left).encode()),
                ]
                await send({"type": "http.response.start", "status": 429, "headers": headers})
                await send({"type": "http.response.body", "body": SOURCE_BLOCKED_BODY})
                return
        await self.app(scope, receive, send)


def _lowest_cpu_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux keeps a nice value per thread,
    and the threads argon2 starts for its lanes inherit it); elsewhere, leave it."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
