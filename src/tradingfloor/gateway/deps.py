"""Who is calling: the FastAPI dependencies every router shares (as `Annotated` aliases).

A request authenticates with `Authorization: Bearer <access token>`, or with an API key
(`X-API-Key-Id` + `X-API-Secret`, or Alpaca's `APCA-API-KEY-ID` + `APCA-API-SECRET-KEY`),
checked by the `AuthService` the app keeps in `app.state.auth`. Each alias then asks what its
routes need: `Reader` the read scope, `Admin` the admin role and scope, `KeyManager` the keys
scope, all with the second factor; `Session` a signed-in person (a password at least), not a
key, for the sign-in steps that come before the second factor.
"""

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

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
    return authenticate(auth, request.headers)


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
Session = Annotated[Principal, Depends(session)]
