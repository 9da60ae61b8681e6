"""`/v2/watchlists`: Alpaca's watchlists, named lists of listed symbols, per account, kept in
SQL (`store.watchlist_queries`). Each is answered as Alpaca's `Watchlist`, its symbols as `Asset`
objects (the list of all watchlists leaves them out, as Alpaca's does).

Refusals: a symbol that is not listed, 422 (code 1012, as an unknown symbol's order); a
watchlist that is not the caller's, 404 (`WATCHLIST_NOT_FOUND`); a symbol removed that is not
in the list, 404; a name the account already uses, a symbol listed twice or a limit passed
(`watchlists_per_account_max`, `watchlist_symbols_max`), 422 (`WATCHLIST_REFUSED`).
Watchlists need the read scope: they change no order and no money."""

import asyncio
import re
import uuid
from typing import Annotated, Any

import msgspec
from fastapi import Path, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from tradingfloor.domain.ids import SYMBOL_PATTERN
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway import deps
from tradingfloor.gateway.alpaca_asset_routes import listed_asset
from tradingfloor.gateway.alpaca_configuration_routes import immediate
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.gateway.schemas import DECODE_ERRORS
from tradingfloor.store import watchlist_queries as store
from tradingfloor.store.alpaca_tables import WATCHLIST_NAME_LENGTH_MAX
from tradingfloor.store.watchlist_queries import Watchlist, WatchlistProblem

watchlists_per_account_max = 50
"""Watchlists one account keeps at most."""
watchlist_symbols_max = 500
"""Symbols one watchlist holds at most."""
watchlist_body_bytes_max = 32_768
"""A watchlist request's body at most (500 symbols fit)."""
WATCHLIST_NOT_FOUND = 4041
WATCHLIST_REFUSED = 4220
_NOT_FOUND = ("missing", "symbol_not_listed")

routes = RouteTable(tags=["alpaca"])


class WatchlistBody(msgspec.Struct):
    name: str | None = None
    symbols: list[str] | None = None


class SymbolBody(msgspec.Struct):
    symbol: str | None = None


_decode_list = msgspec.json.Decoder(WatchlistBody).decode
_decode_symbol = msgspec.json.Decoder(SymbolBody).decode


@routes.get("/v2/watchlists")
async def get_watchlists(principal: deps.Reader, platform: deps.Platform) -> Response:
    found = await _run(platform, store.list_watchlists, principal.account_id, write=False)
    return json_answer([_json(platform, watchlist, with_assets=False) for watchlist in found])


@routes.post("/v2/watchlists")
async def create_watchlist(
    request: Request, principal: deps.Reader, platform: deps.Platform
) -> Response:
    body = await _body(request, _decode_list)
    if body.name is None:
        raise ApiError(422, MALFORMED, "name: required")
    name, symbols = _name(body.name), _symbols(platform, body.symbols or [])
    made = await _run(
        platform,
        store.create_watchlist,
        principal.account_id,
        str(uuid.uuid4()),
        name,
        symbols,
        platform.clock(),
        (watchlists_per_account_max, watchlist_symbols_max),
    )
    return json_answer(_json(platform, made))


@routes.get("/v2/watchlists/{watchlist_id}")
async def get_watchlist(
    watchlist_id: str, principal: deps.Reader, platform: deps.Platform
) -> Response:
    account, list_id = principal.account_id, _id(watchlist_id)
    found = await _run(platform, store.get_watchlist, account, list_id, write=False)
    return json_answer(_json(platform, found))


@routes.put("/v2/watchlists/{watchlist_id}")
async def update_watchlist(
    watchlist_id: str, request: Request, principal: deps.Reader, platform: deps.Platform
) -> Response:
    """Rename the list and/or replace its symbols."""
    body = await _body(request, _decode_list)
    name = None if body.name is None else _name(body.name)
    symbols = None if body.symbols is None else _symbols(platform, body.symbols)
    changed = await _run(
        platform,
        store.update_watchlist,
        principal.account_id,
        _id(watchlist_id),
        name,
        symbols,
        platform.clock(),
        watchlist_symbols_max,
    )
    return json_answer(_json(platform, changed))


@routes.post("/v2/watchlists/{watchlist_id}")
async def add_asset_to_watchlist(
    watchlist_id: str, request: Request, principal: deps.Reader, platform: deps.Platform
) -> Response:
    body = await _body(request, _decode_symbol)
    if body.symbol is None:
        raise ApiError(422, MALFORMED, "symbol: required")
    (symbol,) = _symbols(platform, [body.symbol])
    changed = await _run(
        platform,
        store.add_symbol,
        principal.account_id,
        _id(watchlist_id),
        symbol,
        platform.clock(),
        watchlist_symbols_max,
    )
    return json_answer(_json(platform, changed))


@routes.delete("/v2/watchlists/{watchlist_id}/{symbol}")
async def remove_asset_from_watchlist(
    watchlist_id: str,
    symbol: Annotated[str, Path(max_length=40)],
    principal: deps.Reader,
    platform: deps.Platform,
) -> Response:
    account, list_id = principal.account_id, _id(watchlist_id)
    changed = await _run(platform, store.remove_symbol, account, list_id, symbol, platform.clock())
    return json_answer(_json(platform, changed))


@routes.delete("/v2/watchlists/{watchlist_id}", status_code=204)
async def delete_watchlist(
    watchlist_id: str, principal: deps.Reader, platform: deps.Platform
) -> Response:
    await _run(platform, store.delete_watchlist, principal.account_id, _id(watchlist_id))
    return Response(status_code=204)


def _json(platform: Backend, watchlist: Watchlist, with_assets: bool = True) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": watchlist.watchlist_id,
        "account_id": str(views.account_uuid(watchlist.account)),
        "name": watchlist.name,
        "created_at": views.iso_utc(watchlist.created_ts),
        "updated_at": views.iso_utc(watchlist.updated_ts),
    }
    if with_assets:
        answer["assets"] = [_asset(platform, symbol) for symbol in watchlist.symbols]
    return answer


def _asset(platform: Backend, symbol: str) -> dict[str, Any]:
    """The symbol as an asset; one delisted since it was added is shown inactive."""
    if not platform.known(symbol):
        listed = views.asset(symbol, 0, 1, tradable=False)
        return {**listed, "status": "inactive"}
    return listed_asset(platform, symbol)


async def _body(request: Request, decode: Any) -> Any:
    raw = await request.body()
    if len(raw) > watchlist_body_bytes_max:
        raise ApiError(422, MALFORMED, f"body: at most {watchlist_body_bytes_max} bytes")
    try:
        return decode(raw)
    except DECODE_ERRORS as error:
        raise ApiError(422, MALFORMED, str(error)) from error


def _name(name: str) -> str:
    if not 1 <= len(name) <= WATCHLIST_NAME_LENGTH_MAX or not name.isprintable():
        raise ApiError(
            422, MALFORMED, f"name: 1 to {WATCHLIST_NAME_LENGTH_MAX} printable characters"
        )
    return name


def _symbols(platform: Backend, symbols: list[str]) -> list[str]:
    """The symbols, each listed on the platform (else 422, as Alpaca refuses them)."""
    if len(symbols) > watchlist_symbols_max:
        raise ApiError(422, WATCHLIST_REFUSED, f"at most {watchlist_symbols_max} symbols")
    for symbol in symbols:
        if not platform.known(symbol):
            shown = symbol if _looks_like_symbol(symbol) else "symbol"
            raise ApiError(422, int(RejectReason.UNKNOWN_SYMBOL), f"asset not found: {shown}")
    return symbols


def _looks_like_symbol(text: str) -> bool:
    return re.fullmatch(SYMBOL_PATTERN, text) is not None


def _id(watchlist_id: str) -> str:
    """A watchlist id as stored (a UUID's text; anything else names no list)."""
    try:
        return str(uuid.UUID(watchlist_id))
    except ValueError as error:
        raise ApiError(404, WATCHLIST_NOT_FOUND, "watchlist not found") from error


async def _run(platform: Backend, change: Any, *args: Any, write: bool = True) -> Any:
    """One change (or read: `write=False`) in one transaction, with the write lock from its
    start on SQLite (a change reads before it writes), its problem answered as a refusal."""

    def run() -> Any:
        engine = immediate(platform.store) if write else platform.store
        with engine.begin() as connection:
            return change(connection, *args)

    try:
        return await asyncio.to_thread(run)
    except WatchlistProblem as problem:
        if problem.kind in _NOT_FOUND:
            raise ApiError(404, WATCHLIST_NOT_FOUND, str(problem)) from problem
        raise ApiError(422, WATCHLIST_REFUSED, str(problem)) from problem
    except IntegrityError as error:  # a name taken by a change that committed first
        raise ApiError(422, WATCHLIST_REFUSED, "that name or symbol is taken") from error
