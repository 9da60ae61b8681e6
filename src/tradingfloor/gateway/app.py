"""The FastAPI application: REST `/v1`, admin routes, health and metrics.

Order entry (place, cancel, replace) is the hot path: those routes take the raw request, parse
it with msgspec and answer with msgspec-encoded bytes, skipping FastAPI's body and response
models (their schemas still appear in the OpenAPI document). Everything else uses FastAPI's
conveniences. Routes are thin: authenticate, check scope and rate, turn the request into a
command, await the durable answer, map it to a response.

A dependency that is down is answered 503 with Retry-After and a code of its own, never a 500:
5033 when the database cannot answer (the read models, or an API key not in the cache), 5034
when the rate limiter's Redis cannot, which order entry fails closed on. Routes that need
neither keep working.
"""

import asyncio
import hmac
import logging
import time
from typing import Annotated, Any, Literal

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tradingfloor import observability as metrics
from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    Deposit,
    DepositShares,
    HaltTrading,
    PlaceOrder,
    ResumeTrading,
    SetAccountStatus,
    SetReferencePrice,
    Withdraw,
)
from tradingfloor.domain.enums import AccountStatus
from tradingfloor.domain.events import CancelRejected, CommandRejected, Event
from tradingfloor.domain.ids import SYMBOL_PATTERN
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.order_state import NO_ORDER_REJECTS
from tradingfloor.domain.prices import PriceFormatError, parse_price
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import (
    alpaca,
    alpaca_stream,
    auth_routes,
    deps,
    streams,
    user_admin,
)
from tradingfloor.gateway.backend import Backend, ReadModelsUnavailable, SeqTokens
from tradingfloor.gateway.errors import ApiError, http_status, public_reason, retry_after
from tradingfloor.gateway.openapi import (
    ERROR_RESPONSES,
    body_schema,
    install_openapi,
    order_responses,
)
from tradingfloor.gateway.orders import (
    RequestError,
    answer_of,
    place_command,
    replace_command,
    replaced_answer,
    resubmission_of,
    stored_fill,
    view_of,
)
from tradingfloor.gateway.ratelimit import RateLimiterUnavailable
from tradingfloor.gateway.schemas import (
    DECODE_ERRORS,
    OrderRequest,
    ReplaceRequest,
)
from tradingfloor.identity import AuthError, AuthErrorCode, Principal, Scope
from tradingfloor.service.sequencer import (
    InvalidCommand,
    JournalUnavailable,
    Overloaded,
    SequencerStopped,
)
from tradingfloor.store import queries
from tradingfloor.store.order_rows import order_state
from tradingfloor.store.queries import FillRow, OrderRow

log = logging.getLogger("tradingfloor.gateway")

SQL_INT_MAX = 2**63 - 1
"""Ids, sequence numbers and times go to SQL as signed 64-bit integers."""
MALFORMED = 1000
"""The code of a request that is not what the route takes (body, field, parameter)."""

_encode = msgspec.json.Encoder().encode
_order_decoder = msgspec.json.Decoder(OrderRequest)
_replace_decoder = msgspec.json.Decoder(ReplaceRequest)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(body), status, headers, media_type="application/json")


def _error(code: int, message: str, status: int, **extra: Any) -> Response:
    return _json({"code": code, "message": message, **extra}, status)


def _unavailable(code: int, message: str, retry_after_s: float = 1) -> Response:
    """503: a dependency cannot answer now; the client may retry after `retry_after_s`."""
    return _json({"code": code, "message": message}, 503, retry_after(retry_after_s))


def _refused(reason: RejectReason) -> Response:
    """A refusal by the engine as the client is told it (`errors.public_reason`)."""
    reason = public_reason(reason)
    return _error(int(reason), reason.message, http_status(reason))


def _rejection(reason: RejectReason, order_id: str | None) -> tuple[int, bytes]:
    """The answer to a refused order: its status and body (with the order id the engine gave
    it, if it reached the engine)."""
    body: dict[str, Any] = {"code": int(reason), "message": reason.message}
    if order_id is not None:
        body["order_id"] = order_id
    return http_status(reason), _encode(body)


def _stored_answer(row: OrderRow | None, fills: list[FillRow]) -> tuple[int, bytes]:
    """The answer to a resubmission: the first order as the read models hold it now, as its
    own answer showed it (the same refusal, if it was refused)."""
    if row is None:
        return _rejection(RejectReason.UNKNOWN_ORDER, None)
    if row.status == "rejected":
        try:
            reason = RejectReason(row.reject_code or RejectReason.UNKNOWN_ORDER)
        except ValueError:
            reason = RejectReason.UNKNOWN_ORDER
        return _rejection(reason, str(row.order_id))
    view = view_of(order_state(row), row.updated_seq, [stored_fill(fill) for fill in fills])
    return 200, _encode(view)


def _malformed(error: Exception, field: str | None = None) -> Response:
    text = str(error)
    if field is None and "at `$." in text:  # msgspec names the path: "... - at `$.qty`"
        field = text.rsplit("at `$.", 1)[1].rstrip("`").split("[")[0].split(".")[0]
    elif field is None and "missing required field `" in text:
        field = text.split("missing required field `", 1)[1].split("`")[0]
    return _error(MALFORMED, text, 422, field=field)


async def order_entry_refusal(
    platform: Backend, principal: Principal
) -> tuple[AuthErrorCode, int] | None:
    """Whether `principal` may enter an order now: raises `AuthError` without the trade scope
    or the second factor, `RateLimiterUnavailable` when the limit cannot be checked; returns
    (code, seconds to wait) when the rate limit refuses."""
    principal.require(Scope.TRADE, mfa=True)
    decision = await platform.limiter.check(str(principal.user_id))
    if decision.allowed:
        return None
    metrics.rate_limited.inc()
    code = AuthErrorCode.TEMPORARILY_BANNED if decision.banned else AuthErrorCode.RATE_LIMITED
    return code, decision.retry_after_s


# ---------------------------------------------------------------------- cold-route schemas


ActivityKind = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]


class SymbolRequest(BaseModel):
    symbol: str = Field(pattern=f"^{SYMBOL_PATTERN}$")
    tick_size: str = Field(default="0", pattern=r"^[0-9]+(\.[0-9]+)?$")
    lot_size: int = Field(default=1, gt=0, le=1_000_000)
    luld_tier: int = Field(default=2, ge=1, le=2)
    reference_price: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)?$")


class AmountRequest(BaseModel):
    amount: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=24)


class StatusRequest(BaseModel):
    status: Literal["active", "restricted", "blocked", "closed"]


class SharesRequest(BaseModel):
    symbol: str = Field(pattern=f"^{SYMBOL_PATTERN}$")
    qty: int = Field(gt=0, le=1_000_000_000)
    cost_price: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=24)


# ---------------------------------------------------------------------- the application


def create_app(platform: Backend) -> FastAPI:
    """The app over a started platform (the caller starts and stops it)."""
    settings = platform.settings
    # The documentation pages' scripts and styles come from the installed package, not a CDN:
    # /docs and /redoc work offline.
    app = FastAPIOffline(
        title="TradingFloor",
        version="0.1.0",
        description="Stock trading platform. Prices and money are decimal strings in dollars.",
    )
    # ------------------------------------------------------------------ errors

    @app.exception_handler(AuthError)
    async def _auth_error(_request: Request, error: AuthError) -> Response:
        body = {"code": error.code.value, "message": error.message}
        retry = error.retry_after_s
        return _json(body, error.code.http_status, None if retry is None else retry_after(retry))

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> Response:
        return _json({"code": error.code, "message": error.message}, error.status, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        location = [str(part) for part in first.get("loc", ()) if part != "body"]
        field = ".".join(location) or None
        message = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))
        return _error(MALFORMED, message, 422, field=field)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 400:  # FastAPI's "error parsing the body": malformed, as ours
            return _error(
                MALFORMED,
                "body: not JSON this route can read (UTF-8, at most a few levels deep)",
                422,
                field="body",
            )
        return _error(error.status_code * 10, str(error.detail), error.status_code)

    @app.exception_handler(Overloaded)
    async def _overloaded(_request: Request, _error_: Overloaded) -> Response:
        return _unavailable(5030, "busy: retry")

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, error: DataError) -> Response:
        # A value a route let through that the database cannot hold (a NUL byte in text):
        # the request's fault, and a validation to add, never a server error.
        log.warning("value the database refused", extra={"path": request.url.path})
        return _error(MALFORMED, "a value the database cannot hold", 422)

    @app.exception_handler(InvalidCommand)
    async def _invalid(_request: Request, error: InvalidCommand) -> Response:
        return _error(MALFORMED, str(error), 422)

    @app.exception_handler(TimeoutError)
    async def _behind(_request: Request, _error_: TimeoutError) -> Response:
        return _unavailable(5032, "the read models are behind: retry")

    @app.exception_handler(JournalUnavailable)
    async def _journal_unavailable(_request: Request, error: JournalUnavailable) -> Response:
        return _unavailable(5036, "journal unavailable: retry", error.retry_after_s)

    @app.exception_handler(SequencerStopped)
    async def _stopped(_request: Request, _error_: SequencerStopped) -> Response:
        return _json({"code": 5031, "message": "not taking commands"}, 503)

    @app.exception_handler(ReadModelsUnavailable)
    async def _read_models_failing(_request: Request, error: ReadModelsUnavailable) -> Response:
        metrics.unavailable.labels("read_models").inc()
        return _unavailable(5033, "read models unavailable: retry", error.retry_after_s)

    # The database cannot answer (down, restarting, a connection dropped, the pool
    # exhausted): a read model or an API key not cached. Other database errors are bugs.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeoutError)
    async def _database_unavailable(_request: Request, _error_: Exception) -> Response:
        metrics.unavailable.labels("database").inc()
        return _unavailable(5033, "read models unavailable: retry")

    @app.exception_handler(RateLimiterUnavailable)
    async def _limiter_unavailable(_request: Request, error: RateLimiterUnavailable) -> Response:
        metrics.unavailable.labels("rate_limiter").inc()
        return _unavailable(5034, "rate limiter unavailable: retry", error.retry_after_s)

    # ------------------------------------------------------------------ auth

    app.state.backend = platform
    app.state.auth = platform.auth

    async def trader(request: Request) -> Principal:
        """Order entry: the trade scope, the second factor, and the rate limit."""
        principal = deps.principal(request)
        refused = await order_entry_refusal(platform, principal)
        if refused is not None:
            raise RateLimited(*refused)
        return principal

    class RateLimited(Exception):
        def __init__(self, code: AuthErrorCode, retry_after_s: int) -> None:
            super().__init__(code.message)
            self.code, self.retry_after_s = code, retry_after_s

    @app.exception_handler(RateLimited)
    async def _rate_limited(_request: Request, error: RateLimited) -> Response:
        body = {"code": error.code.value, "message": error.code.message}
        return _json(body, 429, retry_after(error.retry_after_s))

    # ------------------------------------------------------------------ orders (hot)

    async def submit(command: Command, account: str) -> list[Event]:
        result = await platform.submit(command, account)
        return result.events

    @app.post(
        "/v1/orders",
        tags=["orders"],
        openapi_extra=body_schema("OrderRequest"),
        responses=order_responses(),
    )
    async def place_order(request: Request) -> Response:
        """Place an order. Answered once it is durable, with its status after matching; a
        retry with the same client_order_id (and terms) is answered with that first order as
        it stands, one with other terms refused (422, 1016)."""
        started = time.perf_counter()
        principal = await trader(request)
        try:
            order = _order_decoder.decode(await request.body())
            command = place_command(order, principal.account_id)
        except DECODE_ERRORS as error:
            return _malformed(error)
        except RequestError as error:
            return _error(MALFORMED, str(error), 422, field=error.field)
        status, body = await _place(command)
        metrics.ack_seconds.labels(command.symbol).observe(time.perf_counter() - started)
        return Response(body, status, media_type="application/json")

    async def _place(command: PlaceOrder) -> tuple[int, bytes]:
        account = command.account
        result = await platform.submit(command, account)
        resubmitted = resubmission_of(result.events)
        if resubmitted is not None:  # the read models reach this seq: they hold the first
            first = resubmitted.first_order_id
            row = await platform.read_model(account, queries.get_order, first)
            fills = await platform.read_model(
                account, queries.list_fills, account, first, None, 1_000
            )
            return _stored_answer(row, fills)
        view, reason = answer_of(result.seq, result.seq, result.events)
        if reason is not None or view is None:
            reason = reason or RejectReason.UNKNOWN_ORDER
            metrics.rejects.labels(reason.name).inc()
            made = reason not in NO_ORDER_REJECTS  # else the id names no order of its own
            return _rejection(reason, str(result.seq) if made else None)
        return 200, _encode(view)

    @app.delete("/v1/orders/{order_id}", tags=["orders"], responses=ERROR_RESPONSES)
    async def cancel_order(order_id: str, request: Request) -> Response:
        """Cancel what is left of a live order of yours."""
        principal = await trader(request)
        number = _order_number(order_id)
        live = await platform.live_order(number)
        if live is None or live.order.account != principal.account_id:
            return await _not_live(number, principal)
        events = await submit(
            CancelOrder(number, live.symbol, principal.account_id), principal.account_id
        )
        for event in events:
            if isinstance(event, CancelRejected):
                return _refused(event.reason)
        view = await platform.order_view(number, principal.account_id)
        return _json(view if view is not None else {"id": order_id, "status": "canceled"})

    @app.patch(
        "/v1/orders/{order_id}",
        tags=["orders"],
        openapi_extra=body_schema("ReplaceRequest"),
        responses=order_responses(),
    )
    async def replace_order(order_id: str, request: Request) -> Response:
        """Replace a live order's quantity, limit or stop price: it gets a new id, and keeps
        its time priority only when the quantity goes down at the same price."""
        principal = await trader(request)
        number = _order_number(order_id)
        try:
            replace = _replace_decoder.decode(await request.body())
        except DECODE_ERRORS as error:
            return _malformed(error)
        live = await platform.live_order(number)
        if live is None or live.order.account != principal.account_id:
            return await _not_live(number, principal)
        try:
            command = replace_command(replace, number, live.symbol, principal.account_id)
        except RequestError as error:
            return _error(MALFORMED, str(error), 422, field=error.field)
        result = await platform.submit(command, principal.account_id)
        replaced, reason = replaced_answer(result.events)
        if reason is not None or replaced is None:
            return _refused(reason or RejectReason.UNKNOWN_ORDER)
        view, _ = answer_of(replaced.new_order_id, result.seq, result.events)
        stored = await platform.order_view(replaced.new_order_id, principal.account_id)
        return _json(stored if stored is not None else view)

    async def _not_live(number: int, principal: Principal) -> Response:
        # Another account's live order is refused here, before any command, as a missing one:
        # a refused command would carry its seq (TF-Seq) and tell that the id is live.
        view = await platform.order_view(number, principal.account_id)
        return _refused(
            RejectReason.UNKNOWN_ORDER if view is None else RejectReason.ORDER_NOT_LIVE
        )

    # ------------------------------------------------------------------ reads

    @app.get("/v1/orders/{order_id}", tags=["orders"], responses=order_responses())
    async def get_order(order_id: str, principal: deps.Reader) -> Response:
        """One of your orders (another account's is 404)."""
        view = await platform.order_view(_order_number(order_id), principal.account_id)
        if view is None:
            reason = RejectReason.UNKNOWN_ORDER
            return _error(int(reason), reason.message, 404)
        return _json(view)

    @app.get("/v1/orders", tags=["orders"])
    async def list_orders(
        principal: deps.Reader,
        status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "all",
        symbol: Annotated[str | None, Query(pattern=f"^{SYMBOL_PATTERN}$")] = None,
        after: Annotated[str | None, Query(description="ISO time or ns since epoch")] = None,
        until: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        page_token: Annotated[str | None, Query(pattern="^[0-9]{1,18}$")] = None,
        direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    ) -> Response:
        """Your orders, newest first by default; `next_page_token` continues the listing."""
        orders, next_token = await platform.list_orders(
            principal.account_id,
            status,
            symbol,
            _time_ns(after, "after"),
            _time_ns(until, "until"),
            limit,
            int(page_token) if page_token else None,
            direction,
        )
        return _json({"orders": orders, "next_page_token": next_token})

    @app.get("/v1/positions", tags=["portfolio"])
    async def positions(principal: deps.Reader) -> Response:
        """Open positions with cost basis and P&L at the last trade price."""
        return _json(await platform.positions(principal.account_id))

    @app.get("/v1/account", tags=["portfolio"])
    async def account(principal: deps.Reader) -> Response:
        summary = await platform.account_summary(principal.account_id)
        if summary is None:
            reason = RejectReason.UNKNOWN_ACCOUNT
            return _error(int(reason), reason.message, 404)
        return _json(summary)

    @app.get("/v1/activities", tags=["portfolio"])
    async def activities(
        principal: deps.Reader,
        kind: Annotated[list[ActivityKind] | None, Query(max_length=16)] = None,
        after_seq: Annotated[int, Query(ge=0, le=SQL_INT_MAX)] = 0,
        until_seq: Annotated[int | None, Query(ge=0, le=SQL_INT_MAX)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        """Your transaction history: trades, fees, deposits, withdrawals, settlements."""
        rows = await platform.activities(principal.account_id, kind, after_seq, until_seq, limit)
        return _json(rows)

    @app.get("/v1/quotes/{symbol}", tags=["market data"])
    async def quote(symbol: str, _principal: deps.Reader) -> Response:
        return _json(platform.quote(_known(symbol)))

    @app.get("/v1/book/{symbol}", tags=["market data"])
    async def book(
        symbol: str, _principal: deps.Reader, depth: Annotated[int, Query(ge=1, le=100)] = 10
    ) -> Response:
        return _json(platform.book_depth(_known(symbol), depth))

    @app.get("/v1/trades/{symbol}", tags=["market data"])
    async def trades(
        symbol: str, _principal: deps.Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> Response:
        """The symbol's latest trades, newest first."""
        return _json(platform.recent_trades(_known(symbol), limit))

    def _known(symbol: str) -> str:
        if not platform.known(symbol):
            reason = RejectReason.UNKNOWN_SYMBOL
            raise ApiError(404, int(reason), reason.message)
        return symbol

    # ------------------------------------------------------------------ admin

    async def _command(command: Command, account: str = "") -> Response:
        result = await platform.submit(command, account or None)
        for event in result.events:
            if isinstance(event, CommandRejected):
                return _refused(event.reason)
        return _json({"seq": result.seq, "events": [_event_json(e) for e in result.events]})

    @app.post("/v1/admin/symbols", tags=["admin"], status_code=200)
    async def add_symbol(body: SymbolRequest, _admin: deps.Admin) -> Response:
        tick = _price(body.tick_size, "tick_size")
        result = await _command(
            AddInstrument(Instrument(body.symbol, tick, body.lot_size, luld_tier=body.luld_tier))
        )
        if body.reference_price is not None and result.status_code == 200:
            return await _command(
                SetReferencePrice(body.symbol, _price(body.reference_price, "reference_price"))
            )
        return result

    @app.post("/v1/admin/accounts/{account_id}/deposits", tags=["admin"])
    async def deposit(account_id: str, body: AmountRequest, _admin: deps.Admin) -> Response:
        return await _command(Deposit(account_id, _price(body.amount, "amount")), account_id)

    @app.post("/v1/admin/accounts/{account_id}/withdrawals", tags=["admin"])
    async def withdraw(account_id: str, body: AmountRequest, _admin: deps.Admin) -> Response:
        return await _command(Withdraw(account_id, _price(body.amount, "amount")), account_id)

    @app.post("/v1/admin/accounts/{account_id}/shares", tags=["admin"])
    async def deposit_shares(account_id: str, body: SharesRequest, _admin: deps.Admin) -> Response:
        """Shares delivered in from another broker, at a cost basis per share."""
        cost = _price(body.cost_price, "cost_price")
        return await _command(DepositShares(account_id, body.symbol, body.qty, cost), account_id)

    @app.post("/v1/admin/accounts/{account_id}/status", tags=["admin"])
    async def account_status(account_id: str, body: StatusRequest, _admin: deps.Admin) -> Response:
        """`blocked` is the kill switch: every open order is canceled, and the account's users
        can no longer sign in, refresh a session or use an API key (`closed` alike)."""
        status = AccountStatus[body.status.upper()]
        answer = await _command(SetAccountStatus(account_id, status), account_id)
        if answer.status_code == 200:
            locked_out = status in (AccountStatus.BLOCKED, AccountStatus.CLOSED)
            await asyncio.to_thread(platform.auth.block_account, account_id, locked_out)
        return answer

    @app.post("/v1/admin/halts/{symbol}", tags=["admin"])
    async def halt(symbol: str, _admin: deps.Admin) -> Response:
        """Halt one symbol; `*` halts the whole market."""
        return await _command(HaltTrading(None if symbol == "*" else symbol))

    @app.delete("/v1/admin/halts/{symbol}", tags=["admin"])
    async def resume(symbol: str, _admin: deps.Admin) -> Response:
        return await _command(ResumeTrading(None if symbol == "*" else symbol))

    # ------------------------------------------------------------------ operations

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    metrics_token = settings.metrics_token

    def operator(request: Request) -> None:
        """The metrics token (`Authorization: Bearer <metrics_token>`), or an admin."""
        if metrics_token is not None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            expected = metrics_token.get_secret_value().encode()
            if scheme.lower() == "bearer" and hmac.compare_digest(
                value.strip().encode(), expected
            ):
                return
        deps.admin(request)

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> Response:
        """Ready or not; the metrics token or an admin also gets the problems and the seq
        (internals stay out of public answers)."""
        problems = await platform.problems()
        body: dict[str, Any] = {"status": "not ready" if problems else "ready"}
        try:
            operator(request)
            body.update(problems=problems, seq=platform.fed_seq)
        except AuthError:
            pass
        return _json(body, 503 if problems else 200)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        """Prometheus metrics, for the metrics token or an admin."""
        operator(request)
        body, content_type = metrics.render(platform.fed_seq, platform.projected_seq())
        return Response(body, media_type=content_type)

    auth_routes.install(app, platform)
    user_admin.install(app, platform, _command)
    streams.install(app, platform)
    alpaca.install(app)
    alpaca_stream.install(app, platform)
    install_openapi(app)
    app.add_middleware(OrderEntryFastPath, place_order=place_order, app_handlers=app)
    app.add_middleware(SeqTokens)
    return app


class OrderEntryFastPath:
    """`POST /v1/orders` straight to its handler, past FastAPI's routing, dependency solving
    and exception middleware (the route stays declared for the OpenAPI document). Errors the
    handler raises are answered by the app's own exception handlers."""

    def __init__(self, app: Any, place_order: Any, app_handlers: FastAPI) -> None:
        self.app = app
        self.place_order = place_order
        self.handlers = app_handlers.exception_handlers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/orders" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.place_order(request)
        except Exception as error:
            handler = next(
                (self.handlers[kind] for kind in type(error).__mro__ if kind in self.handlers),
                None,
            )
            if handler is None:
                raise
            handled: Any = handler(request, error)  # every handler here is a coroutine
            response = await handled
        await response(scope, receive, send)


# ---------------------------------------------------------------------- helpers


def _order_number(order_id: str) -> int:
    if not order_id.isdigit() or len(order_id) > 19 or int(order_id) > SQL_INT_MAX:
        reason = RejectReason.UNKNOWN_ORDER
        raise ApiError(404, int(reason), reason.message)
    return int(order_id)


def _price(text: str, field: str) -> int:
    try:
        return parse_price(text)
    except PriceFormatError as error:
        raise ApiError(422, MALFORMED, f"{field}: {error}") from error


def _time_ns(text: str | None, field: str) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        if len(text) > 19 or int(text) > SQL_INT_MAX:
            raise ApiError(422, MALFORMED, f"{field}: ns since the epoch, below 2**63")
        return int(text)
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ApiError(422, MALFORMED, f"{field}: not an ISO time or ns") from error
    if moment.tzinfo is None:
        raise ApiError(422, MALFORMED, f"{field}: give a time zone")
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def _event_json(event: Event) -> Any:
    return msgspec.to_builtins(event)
