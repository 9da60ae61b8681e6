"""An Alpaca-compatible Trading API under `/v2`: the official `alpaca-py` SDK works unchanged
(`TradingClient(key_id, secret, url_override=...)` with one of our API keys).

Same engine, same checks as `/v1`: order entry needs the trade scope, the second factor and
the rate limit (a limiter whose Redis is down refuses: 503, code 5034, from the app's handler);
reads need the read scope. Refusals keep our stable codes: the HTTP status of
`errors.http_status` and a `{"code", "message"}` body, which the SDK raises as `APIError`.
What Alpaca offers and we do not (notional and fractional orders, extended hours, bracket
and other order classes, `opg`/`cls`) is refused with a 422 that names the field.
"""

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response

from tradingfloor import observability as metrics
from tradingfloor.domain.commands import CancelOrder, PlaceOrder
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.events import CancelRejected
from tradingfloor.domain.ids import CLIENT_ORDER_ID_PATTERN, SYMBOL_PATTERN
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway import deps
from tradingfloor.gateway.alpaca_orders import (
    MALFORMED,
    AlpacaError,
    OrderBody,
    ReplaceBody,
    order_request,
    replace_request,
)
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.deps import Reader
from tradingfloor.gateway.errors import http_status, public_reason, retry_after
from tradingfloor.gateway.orders import (
    RequestError,
    place_command,
    replace_command,
    replaced_answer,
    resubmission_of,
    state_after,
)
from tradingfloor.gateway.schemas import DECODE_ERRORS
from tradingfloor.identity import Principal
from tradingfloor.risk.calendar import calendar_for
from tradingfloor.store import queries
from tradingfloor.store.order_rows import order_row
from tradingfloor.store.queries import ActivityRow, FillRow, OrderRow
from tradingfloor.store.readmodels import OPEN_ORDER_STATUSES

orders_per_page_max = 500
"""`GET /v2/orders?limit=`: Alpaca's maximum."""
activities_per_page_max = 100
"""`GET /v2/account/activities?page_size=`: Alpaca's maximum."""
cancel_all_orders_max = 10_000
"""Open orders `DELETE /v2/orders` cancels in one call at most."""

_encode = msgspec.json.Encoder().encode
_order_decoder = msgspec.json.Decoder(OrderBody)
_replace_decoder = msgspec.json.Decoder(ReplaceBody)


def _json(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status, media_type="application/json")


def _refusal(reason: RejectReason) -> AlpacaError:
    reason = public_reason(reason)
    return AlpacaError(http_status(reason), int(reason), reason.message)


def install(app: FastAPI, platform: Backend) -> None:
    """Add the `/v2` routes to `app`; callers authenticate as on `/v1` (`gateway.deps`: the SDK
    sends `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY`)."""

    @app.exception_handler(AlpacaError)
    async def _alpaca_error(_request: Request, error: AlpacaError) -> Response:
        body = _encode({"code": error.code, "message": error.message})
        return Response(body, error.status, error.headers, media_type="application/json")

    # The sync dependency may read an API key from the database: FastAPI runs it in a thread.
    async def trader(principal: deps.Authenticated) -> Principal:
        """Order entry: the trade scope, the second factor, and the rate limit (as /v1;
        Redis down is a 503 with code 5034, answered by the app's handler)."""
        from tradingfloor.gateway.app import order_entry_refusal

        refused = await order_entry_refusal(platform, principal)
        if refused is not None:
            code, retry_after_s = refused
            raise AlpacaError(429, code.value, code.message, retry_after(retry_after_s))
        return principal

    Trader = Annotated[Principal, Depends(trader)]

    read = platform.read_model

    async def live_order(row: OrderRow) -> Any:
        """The book's order while it lives, for what only the book knows: a trailing stop's
        trail, high-water mark and current stop (other orders need no question)."""
        if row.order_type != "trailing_stop" or row.status not in OPEN_ORDER_STATUSES:
            return None
        live = await platform.live_order(row.order_id)
        return None if live is None else live.order

    async def order_json(row: OrderRow) -> dict[str, Any]:
        return views.alpaca_order(row, live=await live_order(row))

    async def own_order(order_id: str, account: str) -> OrderRow:
        number = views.order_id_of(order_id)
        row = None if number is None else await read(account, queries.get_order, number)
        if row is None or row.account != account:
            raise _refusal(RejectReason.UNKNOWN_ORDER)
        return row  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ orders

    async def place(command: PlaceOrder, account: str) -> dict[str, Any]:
        result = await platform.submit(command, account)
        resubmitted = resubmission_of(result.events)
        if resubmitted is not None:  # the read models reach this seq: they hold the first
            first = await read(account, queries.get_order, resubmitted.first_order_id)
            if first is None or first.status == "rejected":
                raise _refusal(_reason_of(first))
            return await order_json(first)
        state, _, reason = state_after(result.seq, result.events)
        if reason is not None or state is None:
            reason = reason or RejectReason.UNKNOWN_ORDER
            metrics.rejects.labels(reason.name).inc()
            raise _refusal(reason)
        live = None
        if command.order_type is OrderType.TRAILING_STOP:
            found = await platform.live_order(result.seq)
            live = None if found is None else found.order
        return views.alpaca_order(order_row(state), live=live)

    @app.post("/v2/orders", tags=["alpaca"])
    async def submit_order(request: Request, principal: Trader) -> Response:
        """Place an order (Alpaca's `POST /v2/orders`); answered once durable, with its
        status after matching. A client order id already used is answered as on `/v1`: with
        the same terms, with that first order as it stands; with other terms, refused (422,
        1016)."""
        try:
            body = _order_decoder.decode(await request.body())
            order = order_request(body)
            command = place_command(order, principal.account_id)
        except DECODE_ERRORS as error:
            raise AlpacaError(422, MALFORMED, str(error)) from error
        except RequestError as error:
            raise AlpacaError(422, MALFORMED, str(error)) from error
        if order.client_order_id is None:  # Alpaca names every order
            command = msgspec.structs.replace(command, client_order_id=str(uuid.uuid4()))
        return _json(await place(command, principal.account_id))

    @app.get("/v2/orders", tags=["alpaca"])
    async def get_orders(
        principal: Reader,
        status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
        limit: Annotated[int, Query(ge=1, le=orders_per_page_max)] = 50,
        after: Annotated[str | None, Query(max_length=40)] = None,
        until: Annotated[str | None, Query(max_length=40)] = None,
        direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
        side: Annotated[str | None, Query(pattern="^(buy|sell)$")] = None,
        symbols: Annotated[
            str | None, Query(max_length=2_000, pattern=f"^{SYMBOL_PATTERN}(,{SYMBOL_PATTERN})*$")
        ] = None,
        nested: Annotated[bool, Query()] = False,
    ) -> Response:
        """Your orders, newest first by default, open ones unless `status` says otherwise
        (Alpaca's default). `after` and `until` bound the submission time (ISO 8601)."""
        account = principal.account_id
        wanted: list[str | None] = [s for s in (symbols or "").split(",") if s] or [None]
        rows: list[OrderRow] = []
        for symbol in wanted[:100]:
            rows += await read(
                account,
                queries.list_orders,
                account,
                status,
                symbol,
                _time_ns(after, "after"),
                _time_ns(until, "until"),
                limit,
                None,
                direction,
            )
        if side is not None:
            rows = [row for row in rows if row.side == side]
        rows.sort(key=lambda row: row.order_id, reverse=direction == "desc")
        return _json([await order_json(row) for row in rows[:limit]])

    @app.delete("/v2/orders", tags=["alpaca"], status_code=207)
    async def cancel_orders(principal: Trader) -> Response:
        """Cancel every open order of yours: 207 with each order's own status."""
        account = principal.account_id
        open_rows: list[OrderRow] = await read(
            account,
            queries.list_orders,
            account,
            "open",
            None,
            None,
            None,
            cancel_all_orders_max,
            None,
            "asc",
        )
        answers: list[dict[str, Any]] = []
        canceled: list[int] = []
        for row in open_rows:
            answer: dict[str, Any] = {"id": str(views.order_uuid(row.order_id)), "status": 200}
            try:
                await cancel(row.order_id, account)
                canceled.append(row.order_id)
            except AlpacaError as error:
                answer.update(status=error.status, body=_error_body(error))
            answers.append(answer)
        done: list[OrderRow] = await read(account, _orders_by_id, canceled)
        after = {row.order_id: row for row in done}
        for answer in answers:
            found = after.get(views.order_id_of(answer["id"]) or 0)
            if found is not None and answer["status"] == 200:
                answer["body"] = await order_json(found)
        return _json(answers, 207)

    async def cancel(order_id: int, account: str) -> None:
        live = await platform.live_order(order_id)
        if live is None:
            row = await read(account, queries.get_order, order_id)
            mine = row is not None and row.account == account
            raise _refusal(RejectReason.ORDER_NOT_LIVE if mine else RejectReason.UNKNOWN_ORDER)
        if live.order.account != account:  # another's order: as if it did not exist
            raise _refusal(RejectReason.UNKNOWN_ORDER)
        result = await platform.submit(CancelOrder(order_id, live.symbol, account), account)
        for event in result.events:
            if isinstance(event, CancelRejected):
                raise _refusal(event.reason)

    @app.get("/v2/orders:by_client_order_id", tags=["alpaca"])
    async def get_order_by_client_id(
        principal: Reader,
        client_order_id: Annotated[str, Query(pattern=f"^{CLIENT_ORDER_ID_PATTERN}$")],
    ) -> Response:
        """Your order with this client order id (a replacement has one of its own)."""
        account = principal.account_id
        row: OrderRow | None = await read(
            account, queries.get_order_by_client_id, account, client_order_id
        )
        if row is None:  # an order placed without one answers to its own id
            number = views.order_id_of(client_order_id)
            found = None if number is None else await read(account, queries.get_order, number)
            if found is not None and found.account == account and not found.client_order_id:
                row = found
        if row is None:
            raise _refusal(RejectReason.UNKNOWN_ORDER)
        return _json(await order_json(row))

    @app.get("/v2/orders/{order_id}", tags=["alpaca"])
    async def get_order(order_id: str, principal: Reader, nested: bool = False) -> Response:
        return _json(await order_json(await own_order(order_id, principal.account_id)))

    @app.delete("/v2/orders/{order_id}", tags=["alpaca"], status_code=204)
    async def cancel_order(order_id: str, principal: Trader) -> Response:
        """Cancel what is left of a live order: 204, or 422 when it is no longer live."""
        number = views.order_id_of(order_id)
        if number is None:
            raise _refusal(RejectReason.UNKNOWN_ORDER)
        await cancel(number, principal.account_id)
        return Response(status_code=204)

    @app.patch("/v2/orders/{order_id}", tags=["alpaca"])
    async def replace_order(order_id: str, request: Request, principal: Trader) -> Response:
        """Replace a live order's qty, limit or stop price: the answer is the new order."""
        account = principal.account_id
        row = await own_order(order_id, account)
        try:
            body = _replace_decoder.decode(await request.body())
            replace = replace_request(body, row.tif)
        except DECODE_ERRORS as error:
            raise AlpacaError(422, MALFORMED, str(error)) from error
        except RequestError as error:
            raise AlpacaError(422, MALFORMED, str(error)) from error
        symbol = await platform.live_symbol_of(row.order_id)
        if symbol is None:
            raise _refusal(RejectReason.ORDER_NOT_LIVE)
        if replace.client_order_id is None:  # Alpaca names the replacement anew
            replace = msgspec.structs.replace(replace, client_order_id=str(uuid.uuid4()))
        try:
            command = replace_command(replace, row.order_id, symbol, account)
        except RequestError as error:
            raise AlpacaError(422, MALFORMED, str(error)) from error
        result = await platform.submit(command, account)
        replaced, reason = replaced_answer(result.events)
        if reason is not None or replaced is None:
            raise _refusal(reason or RejectReason.UNKNOWN_ORDER)
        new = await read(account, queries.get_order, replaced.new_order_id)
        return _json(await order_json(new))

    _install_portfolio(app, platform, Trader, read, place)


def _install_portfolio(
    app: FastAPI,
    platform: Backend,
    Trader: Any,
    read: Callable[..., Any],
    place: Callable[..., Any],
) -> None:
    """Positions, account, activities, assets and the clock."""

    async def position_in(account: str, symbol_or_asset_id: str) -> Any:
        symbol = _symbol_of(platform, symbol_or_asset_id)
        for view in await platform.open_positions(account):
            if view.symbol == symbol:
                return view
        raise AlpacaError(404, POSITION_NOT_FOUND, f"no open position in {symbol}")

    @app.get("/v2/positions", tags=["alpaca"])
    async def get_all_positions(principal: Reader) -> Response:
        positions = await platform.open_positions(principal.account_id)
        return _json([views.position(view) for view in positions])

    @app.get("/v2/positions/{symbol_or_asset_id}", tags=["alpaca"])
    async def get_open_position(symbol_or_asset_id: str, principal: Reader) -> Response:
        return _json(views.position(await position_in(principal.account_id, symbol_or_asset_id)))

    @app.delete("/v2/positions/{symbol_or_asset_id}", tags=["alpaca"])
    async def close_position(
        symbol_or_asset_id: str,
        principal: Trader,
        qty: Annotated[Decimal | None, Query()] = None,
        percentage: Annotated[Decimal | None, Query(gt=0, le=100)] = None,
    ) -> Response:
        """Close all of a position (or `qty` shares, or `percentage` of it, rounded down)
        with a market order: the answer is that order."""
        account = principal.account_id
        view = await position_in(account, symbol_or_asset_id)
        held = abs(view.qty)
        if qty is not None and percentage is not None:
            raise AlpacaError(422, MALFORMED, "give one of qty and percentage")
        shares = held
        if qty is not None:
            if qty != qty.to_integral_value() or not 0 < qty <= held:
                raise AlpacaError(422, MALFORMED, f"qty: a whole number from 1 to {held}")
            shares = int(qty)
        elif percentage is not None:
            shares = int(held * percentage / 100)
            if shares == 0:
                raise AlpacaError(422, MALFORMED, "percentage: less than one share")
        side = Side.SELL if view.qty > 0 else Side.BUY
        command = PlaceOrder(
            0,
            account,
            view.symbol,
            side,
            OrderType.MARKET,
            shares,
            client_order_id=str(uuid.uuid4()),
        )
        return _json(await place(command, account))

    @app.get("/v2/account", tags=["alpaca"])
    async def get_account(principal: Reader) -> Response:
        summary = await platform.account(principal.account_id)
        if summary is None:
            raise _refusal(RejectReason.UNKNOWN_ACCOUNT)
        return _json(views.account(summary))

    async def activities(
        account: str,
        types: list[str],
        direction: str,
        page_size: int,
        page_token: str | None,
    ) -> list[dict[str, Any]]:
        kinds = {kind for name in types for kind in views.ACTIVITY_TYPES.get(name, ())}
        if not kinds:
            return []
        after_id = None
        if page_token is not None:
            after_id = views.activity_number(page_token)
            if after_id is None:
                raise AlpacaError(422, MALFORMED, "page_token: not an activity id")
        rows: list[ActivityRow] = await read(
            account,
            queries.list_activities,
            account,
            kinds,
            None,
            None,
            page_size,
            after_id,
            direction,
        )
        order_ids = sorted({row.order_id for row in rows if row.kind == "trade" and row.order_id})
        fills, orders = await read(account, _fills_of_orders, account, order_ids)
        calendar = calendar_for()
        answer = []
        for row in rows:
            fill = fills.get((row.order_id, row.trade_id)) if row.kind == "trade" else None
            order = orders.get(row.order_id) if fill is not None else None
            day = views.moment(row.ts).astimezone(calendar.timezone).date()
            answer.append(views.activity(row, fill, order, day))
        return answer

    ActivityQuery = Annotated[str | None, Query(max_length=400)]

    @app.get("/v2/account/activities", tags=["alpaca"])
    async def get_activities(
        principal: Reader,
        activity_types: ActivityQuery = None,
        direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
        page_size: Annotated[int, Query(ge=1, le=activities_per_page_max)] = 100,
        page_token: ActivityQuery = None,
    ) -> Response:
        """Fills (FILL), fees (FEE), deposits (CSD), withdrawals (CSW), share transfers
        (ACATS), newest first by default; `page_token` is the last id of a page."""
        names = activity_types.split(",") if activity_types else list(views.ACTIVITY_TYPES)
        found = await activities(principal.account_id, names, direction, page_size, page_token)
        return _json(found)

    @app.get("/v2/account/activities/{activity_type}", tags=["alpaca"])
    async def get_activities_of_type(
        activity_type: str,
        principal: Reader,
        direction: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
        page_size: Annotated[int, Query(ge=1, le=activities_per_page_max)] = 100,
        page_token: ActivityQuery = None,
    ) -> Response:
        found = await activities(
            principal.account_id, [activity_type], direction, page_size, page_token
        )
        return _json(found)

    @app.get("/v2/assets", tags=["alpaca"])
    async def get_all_assets(
        _principal: Reader,
        status: Annotated[str | None, Query(max_length=16)] = None,
        asset_class: Annotated[str | None, Query(max_length=16)] = None,
        exchange: Annotated[str | None, Query(max_length=16)] = None,
    ) -> Response:
        """Every listed symbol (all active, all `us_equity` on one exchange)."""
        if status not in (None, "active") or asset_class not in (None, views.ASSET_CLASS):
            return _json([])
        if exchange not in (None, views.EXCHANGE):
            return _json([])
        return _json([_asset(platform, symbol) for symbol in platform.symbols()])

    @app.get("/v2/assets/{symbol_or_asset_id}", tags=["alpaca"])
    async def get_asset(symbol_or_asset_id: str, _principal: Reader) -> Response:
        return _json(_asset(platform, _symbol_of(platform, symbol_or_asset_id)))

    @app.get("/v2/clock", tags=["alpaca"])
    async def get_clock(_principal: Reader) -> Response:
        """Whether the market (XNYS sessions) is open now, and its next open and close."""
        calendar = calendar_for()
        now = platform.clock()
        open_ts, close_ts = calendar.session_bounds(now)
        if now >= close_ts:  # the closing instant still belongs to the closing session
            open_ts, close_ts = calendar.session_bounds(close_ts + 1)
        next_open = calendar.session_bounds(close_ts + 1)[0]
        return _json(views.clock(now, open_ts, close_ts, next_open, calendar.timezone))


POSITION_NOT_FOUND = 4040
"""No open position in the symbol: the code `/v1` gives any 404 without a reason of its own."""


def _symbol_of(platform: Backend, symbol_or_asset_id: str) -> str:
    if platform.known(symbol_or_asset_id):
        return symbol_or_asset_id
    for symbol in platform.symbols():
        if str(views.asset_uuid(symbol)) == symbol_or_asset_id.lower():
            return symbol
    raise AlpacaError(404, int(RejectReason.UNKNOWN_SYMBOL), "asset not found")


def _asset(platform: Backend, symbol: str) -> dict[str, Any]:
    instrument = platform.instrument(symbol)
    return views.asset(symbol, instrument.tick_size, instrument.lot_size, tradable=True)


def _reason_of(row: OrderRow | None) -> RejectReason:
    """Why a refused order was refused, as its row keeps it."""
    code = None if row is None else row.reject_code
    try:
        return RejectReason.UNKNOWN_ORDER if code is None else RejectReason(code)
    except ValueError:
        return RejectReason.UNKNOWN_ORDER


def _error_body(error: AlpacaError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message}


def _orders_by_id(connection: Any, order_ids: list[int]) -> list[OrderRow]:
    found = (queries.get_order(connection, order_id) for order_id in order_ids)
    return [row for row in found if row is not None]


def _fills_of_orders(
    connection: Any, account: str, order_ids: list[int]
) -> tuple[dict[tuple[int | None, int | None], FillRow], dict[int | None, OrderRow]]:
    """The fills and rows of these orders, by (order id, trade id) and by order id."""
    fills: dict[tuple[int | None, int | None], FillRow] = {}
    orders: dict[int | None, OrderRow] = {}
    for order_id in order_ids:
        for fill in queries.list_fills(connection, account, order_id, None, 10_000):
            fills[(fill.order_id, fill.trade_id)] = fill
        row = queries.get_order(connection, order_id)
        if row is not None:
            orders[order_id] = row
    return fills, orders


def _time_ns(text: str | None, field: str) -> int | None:
    """An RFC 3339 time (the SDK sends `2024-01-02T15:04:05+00:00`) as integer ns."""
    if text is None:
        return None
    import datetime

    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise AlpacaError(422, MALFORMED, f"{field}: not an RFC 3339 time") from error
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return views.ts_of(value)
