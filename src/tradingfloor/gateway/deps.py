"""Who is calling: the FastAPI dependencies every router shares (as `Annotated` aliases).

A request authenticates with `Authorization: Bearer <access token>`, or with an API key
(`X-API-Key-Id` + `X-API-Secret`, or Alpaca's `APCA-API-KEY-ID` + `APCA-API-SECRET-KEY`),
checked by the `AuthService` the app keeps in `app.state.auth`. Each alias then asks what its
routes need: `Reader` the read scope, `Admin` the admin role and scope, `KeyManager` the keys
scope, all with the second factor; `Trader` order entry's trade scope, second factor and rate
limit, on `/v1` and `/v2` alike; `Session` a signed-in person (a password at least), not a
key, for the sign-in steps that come before the second factor. `Platform` is what the gateway
sees of the platform (`Backend`, in `app.state.backend`).

The hot routes of order entry call `trader` and `backend_of` themselves rather than through
FastAPI's dependency solving (`POST /v1/orders` skips FastAPI altogether): same checks, less
machinery per order.
"""

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

from tradingfloor import observability as metrics
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError, retry_after
from tradingfloor.gateway.origins import note_caller
from tradingfloor.identity import (
    AuthError,
    AuthErrorCode,
    AuthService,
    Principal,
    Role,
    Scope,
)


def authenticate(auth: AuthService, headers: Headers) -> Principal:
    """The caller the request's credential headers speak for, or `AuthError`."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError(AuthErrorCode.TOKEN_INVALID, "use Authorization: Bearer <token>")
        return auth.authenticate_token(token.strip())
    key_id = headers.get("x-api-key-id") or headers.get("apca-api-key-id")
    secret = headers.get("x-api-secret") or headers.get("apca-api-secret-key")
    if key_id and secret:
        return auth.authenticate_api_key(key_id, secret)
    raise AuthError(AuthErrorCode.TOKEN_INVALID, "authentication required")


def principal(request: Request) -> Principal:
    """The authenticated caller, whatever it may do."""
    auth: AuthService = request.app.state.auth
    caller = authenticate(auth, request.headers)
    note_caller(caller)
    return caller


def reader(request: Request) -> Principal:
    caller = principal(request)
    caller.require(Scope.READ)
    return caller


def admin(request: Request) -> Principal:
    caller = principal(request)
    caller.require(Scope.ADMIN, role=Role.ADMIN)
    return caller


def key_manager(request: Request) -> Principal:
    caller = principal(request)
    caller.require(Scope.KEYS)
    return caller


async def trader(request: Request) -> Principal:
    """Order entry: the trade scope, the second factor, and the rate limit (429 with
    Retry-After when it refuses; a limiter that cannot answer raises `RateLimiterUnavailable`,
    which order entry fails closed on). The caller is authenticated on the event loop, not in
    a thread: an API key is a dictionary hit (`AuthService.authenticate_api_key`)."""
    caller = principal(request)
    caller.require(Scope.TRADE, mfa=True)
    decision = await backend_of(request).limiter.check(str(caller.user_id))
    if decision.allowed:
        return caller
    metrics.rate_limited.inc()
    code = AuthErrorCode.TEMPORARILY_BANNED if decision.banned else AuthErrorCode.RATE_LIMITED
    raise ApiError(429, code.value, code.message, retry_after(decision.retry_after_s))


def backend_of(request: Request) -> Backend:
    """The platform as the gateway sees it."""
    backend: Backend = request.app.state.backend
    return backend


async def platform(request: Request) -> Backend:
    # A coroutine, so that FastAPI runs it on the event loop (a plain function goes to a
    # thread).
    return backend_of(request)


def session(request: Request) -> Principal:
    """A signed-in person (the second factor proved or not), not an API key."""
    caller = principal(request)
    if caller.api_key_id is not None:
        raise AuthError(AuthErrorCode.FORBIDDEN, "a signed-in session, not an API key")
    return caller


Authenticated = Annotated[Principal, Depends(principal)]
Reader = Annotated[Principal, Depends(reader)]
Admin = Annotated[Principal, Depends(admin)]
KeyManager = Annotated[Principal, Depends(key_manager)]
Trader = Annotated[Principal, Depends(trader)]
Session = Annotated[Principal, Depends(session)]
Platform = Annotated[Backend, Depends(platform)]
