"""The app's exception handlers: every refusal a route raises, as one status and a
`{"code", "message"}` body.

A dependency that is down is answered 503 with Retry-After and a code of its own
(`errors.Unavailable`), never a 500: 5031 when the shard cannot be reached, 5033 when the
database cannot answer (the read models, or an API key not in the cache), 5034 when the rate
limiter's Redis cannot, which order entry fails closed on, 5038 for new orders while the read
models lag too far behind. Routes that need none of them keep working.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tradingfloor import observability as metrics
from tradingfloor.gateway.answers import (
    MALFORMED,
    error_answer,
    json_answer,
    unavailable_answer,
)
from tradingfloor.gateway.backend import ReadModelsLagging, ReadModelsUnavailable
from tradingfloor.gateway.errors import ApiError, Unavailable, retry_after
from tradingfloor.gateway.ratelimit import RateLimiterUnavailable
from tradingfloor.identity import AuthError
from tradingfloor.service.sequencer import (
    InvalidCommand,
    JournalUnavailable,
    Overloaded,
    SequencerStopped,
)

log = logging.getLogger("tradingfloor.gateway")


async def auth_error(_request: Request, error: AuthError) -> Response:
    body = {"code": error.code.value, "message": error.message}
    retry = error.retry_after_s
    return json_answer(body, error.code.http_status, None if retry is None else retry_after(retry))


async def api_error(_request: Request, error: ApiError) -> Response:
    body = {"code": error.code, "message": error.message}
    return json_answer(body, error.status, error.headers)


async def validation_error(_request: Request, error: RequestValidationError) -> Response:
    first = error.errors()[0] if error.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(location) or None
    message = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))
    return error_answer(MALFORMED, message, 422, field=field)


async def http_error(_request: Request, error: StarletteHTTPException) -> Response:
    if error.status_code == 400:  # FastAPI's "error parsing the body": malformed, as ours
        return error_answer(
            MALFORMED,
            "body: not JSON this route can read (UTF-8, at most a few levels deep)",
            422,
            field="body",
        )
    return error_answer(error.status_code * 10, str(error.detail), error.status_code)


async def overloaded(_request: Request, _error: Overloaded) -> Response:
    return unavailable_answer(Unavailable.BUSY, "busy: retry")


async def unstorable(request: Request, _error: DataError) -> Response:
    # A value a route let through that the database cannot hold (a NUL byte in text): the
    # request's fault, and a validation to add, never a server error.
    log.warning("value the database refused", extra={"path": request.url.path})
    return error_answer(MALFORMED, "a value the database cannot hold", 422)


async def invalid_command(_request: Request, error: InvalidCommand) -> Response:
    return error_answer(MALFORMED, str(error), 422)


async def read_models_behind(_request: Request, _error: TimeoutError) -> Response:
    return unavailable_answer(Unavailable.READ_MODELS_BEHIND, "the read models are behind: retry")


async def journal_unavailable(_request: Request, error: JournalUnavailable) -> Response:
    return unavailable_answer(
        Unavailable.JOURNAL_UNAVAILABLE, "journal unavailable: retry", error.retry_after_s
    )


async def sequencer_stopped(_request: Request, error: SequencerStopped) -> Response:
    if error.retry_after_s is None:  # stopped for good: no promise of a retry that works
        return json_answer(
            {"code": Unavailable.SHARD_UNREACHABLE, "message": "not taking commands"}, 503
        )
    metrics.unavailable.labels("shard").inc()
    return unavailable_answer(
        Unavailable.SHARD_UNREACHABLE, "the shard cannot be reached: retry", error.retry_after_s
    )


async def read_models_unavailable(_request: Request, error: ReadModelsUnavailable) -> Response:
    metrics.unavailable.labels("read_models").inc()
    return unavailable_answer(
        Unavailable.READ_MODELS_UNAVAILABLE, "read models unavailable: retry", error.retry_after_s
    )


async def database_unavailable(_request: Request, _error: Exception) -> Response:
    # The database cannot answer (down, restarting, a connection dropped, the pool exhausted):
    # a read model or an API key not cached. Other database errors are bugs.
    metrics.unavailable.labels("database").inc()
    return unavailable_answer(
        Unavailable.READ_MODELS_UNAVAILABLE, "read models unavailable: retry"
    )


async def limiter_unavailable(_request: Request, error: RateLimiterUnavailable) -> Response:
    metrics.unavailable.labels("rate_limiter").inc()
    return unavailable_answer(
        Unavailable.RATE_LIMITER_UNAVAILABLE,
        "rate limiter unavailable: retry",
        error.retry_after_s,
    )


async def read_models_lagging(_request: Request, error: ReadModelsLagging) -> Response:
    metrics.unavailable.labels("projection_lag").inc()
    return unavailable_answer(Unavailable.READ_MODELS_LAGGING, str(error))


async def client_gone(_request: Request, _error: ClientDisconnect) -> Response:
    # The client closed its connection before its request's body arrived (a load generator
    # stopping, a client timing out): nothing was done, and nobody is left to answer.
    metrics.client_disconnects.inc()
    return Response(status_code=499)


HANDLERS: dict[type[Exception], Callable[[Request, Any], Awaitable[Response]]] = {
    ClientDisconnect: client_gone,
    AuthError: auth_error,
    ApiError: api_error,
    RequestValidationError: validation_error,
    StarletteHTTPException: http_error,
    Overloaded: overloaded,
    DataError: unstorable,
    InvalidCommand: invalid_command,
    TimeoutError: read_models_behind,
    JournalUnavailable: journal_unavailable,
    SequencerStopped: sequencer_stopped,
    ReadModelsUnavailable: read_models_unavailable,
    ReadModelsLagging: read_models_lagging,
    OperationalError: database_unavailable,
    InterfaceError: database_unavailable,
    PoolTimeoutError: database_unavailable,
    RateLimiterUnavailable: limiter_unavailable,
}


def install(app: FastAPI) -> None:
    """Answer every refusal above with its handler."""
    for kind, handler in HANDLERS.items():
        app.add_exception_handler(kind, handler)
