"""Watchlists (`/v2/watchlists`): named lists of symbols, per account, written by the gateway.

Each change runs in one transaction of the caller's. A change to a list first stamps its row
(`updated_ts`), which locks it (a row lock on PostgreSQL, the write lock on SQLite), so that
two changes of one list apply one after the other and its symbol count stays within the
limit. A problem is raised as `WatchlistProblem` before anything is written."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from tradingfloor.store.alpaca_tables import watchlist_assets as assets
from tradingfloor.store.alpaca_tables import watchlists as lists


class WatchlistProblem(Exception):
    """Why a change was refused: `kind` is `missing`, `name_taken`, `too_many_lists`,
    `too_many_symbols`, `symbol_listed` or `symbol_not_listed`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Watchlist:
    watchlist_id: str
    account: str
    name: str
    created_ts: int
    updated_ts: int
    symbols: tuple[str, ...]


def list_watchlists(connection: Connection, account: str) -> list[Watchlist]:
    """The account's watchlists, oldest first, without their symbols."""
    query = select(lists).where(lists.c.account == account).order_by(lists.c.created_ts)
    return [Watchlist(**row._mapping, symbols=()) for row in connection.execute(query)]


def get_watchlist(connection: Connection, account: str, watchlist_id: str) -> Watchlist:
    """The account's watchlist with its symbols (in the order they were added)."""
    query = select(lists).where(lists.c.watchlist_id == watchlist_id, lists.c.account == account)
    row = connection.execute(query).first()
    if row is None:
        raise WatchlistProblem("missing", "watchlist not found")
    symbols = connection.execute(
        select(assets.c.symbol)
        .where(assets.c.watchlist_id == watchlist_id)
        .order_by(assets.c.position)
    ).scalars()
    return Watchlist(**row._mapping, symbols=tuple(symbols))


def create_watchlist(
    connection: Connection,
    account: str,
    watchlist_id: str,
    name: str,
    symbols: list[str],
    ts: int,
    limits: tuple[int, int],
) -> Watchlist:
    """A new list; `limits` are (lists per account, symbols per list) at most."""
    lists_max, symbols_max = limits
    count = connection.execute(
        select(func.count()).select_from(lists).where(lists.c.account == account)
    ).scalar_one()
    if count >= lists_max:
        raise WatchlistProblem("too_many_lists", f"at most {lists_max} watchlists an account")
    _check_name(connection, account, name, None)
    _check_symbols(symbols, symbols_max)
    connection.execute(
        insert(lists).values(
            watchlist_id=watchlist_id, account=account, name=name, created_ts=ts, updated_ts=ts
        )
    )
    _insert_symbols(connection, watchlist_id, symbols, 0)
    return get_watchlist(connection, account, watchlist_id)


def update_watchlist(
    connection: Connection,
    account: str,
    watchlist_id: str,
    name: str | None,
    symbols: list[str] | None,
    ts: int,
    symbols_max: int,
) -> Watchlist:
    """Rename the list and/or replace its symbols (None: as they are)."""
    _stamp(connection, account, watchlist_id, ts)
    if name is not None:
        _check_name(connection, account, name, watchlist_id)
        connection.execute(
            update(lists).where(lists.c.watchlist_id == watchlist_id).values(name=name)
        )
    if symbols is not None:
        _check_symbols(symbols, symbols_max)
        connection.execute(delete(assets).where(assets.c.watchlist_id == watchlist_id))
        _insert_symbols(connection, watchlist_id, symbols, 0)
    return get_watchlist(connection, account, watchlist_id)


def add_symbol(
    connection: Connection,
    account: str,
    watchlist_id: str,
    symbol: str,
    ts: int,
    symbols_max: int,
) -> Watchlist:
    _stamp(connection, account, watchlist_id, ts)
    held = get_watchlist(connection, account, watchlist_id).symbols
    if symbol in held:
        raise WatchlistProblem("symbol_listed", f"{symbol} is already in the watchlist")
    _check_symbols([*held, symbol], symbols_max)
    last = connection.execute(
        select(func.max(assets.c.position)).where(assets.c.watchlist_id == watchlist_id)
    ).scalar()
    _insert_symbols(connection, watchlist_id, [symbol], (last or 0) + 1)
    return get_watchlist(connection, account, watchlist_id)


def remove_symbol(
    connection: Connection, account: str, watchlist_id: str, symbol: str, ts: int
) -> Watchlist:
    _stamp(connection, account, watchlist_id, ts)
    removed = connection.execute(
        delete(assets).where(assets.c.watchlist_id == watchlist_id, assets.c.symbol == symbol)
    )
    if removed.rowcount == 0:
        raise WatchlistProblem("symbol_not_listed", f"{symbol} is not in the watchlist")
    return get_watchlist(connection, account, watchlist_id)


def delete_watchlist(connection: Connection, account: str, watchlist_id: str) -> None:
    connection.execute(delete(assets).where(assets.c.watchlist_id == _own(account, watchlist_id)))
    removed = connection.execute(
        delete(lists).where(lists.c.watchlist_id == watchlist_id, lists.c.account == account)
    )
    if removed.rowcount == 0:
        raise WatchlistProblem("missing", "watchlist not found")


def _own(account: str, watchlist_id: str) -> Any:
    """The list's id when it is the account's (a subquery: another's deletes nothing)."""
    return (
        select(lists.c.watchlist_id)
        .where(lists.c.watchlist_id == watchlist_id, lists.c.account == account)
        .scalar_subquery()
    )


def _stamp(connection: Connection, account: str, watchlist_id: str, ts: int) -> None:
    """Mark the list changed, which locks it for the rest of the transaction."""
    stamped = connection.execute(
        update(lists)
        .where(lists.c.watchlist_id == watchlist_id, lists.c.account == account)
        .values(updated_ts=ts)
    )
    if stamped.rowcount == 0:
        raise WatchlistProblem("missing", "watchlist not found")


def _check_name(connection: Connection, account: str, name: str, own_id: str | None) -> None:
    query = select(lists.c.watchlist_id).where(lists.c.account == account, lists.c.name == name)
    found = connection.execute(query).scalar()
    if found is not None and found != own_id:
        raise WatchlistProblem("name_taken", f"a watchlist named {name!r} exists")


def _check_symbols(symbols: list[str], symbols_max: int) -> None:
    if len(symbols) > symbols_max:
        raise WatchlistProblem("too_many_symbols", f"at most {symbols_max} symbols a watchlist")
    if len(set(symbols)) != len(symbols):
        raise WatchlistProblem("symbol_listed", "a symbol is listed twice")


def _insert_symbols(
    connection: Connection, watchlist_id: str, symbols: list[str], first: int
) -> None:
    if symbols:
        rows = [
            {"watchlist_id": watchlist_id, "symbol": symbol, "position": first + index}
            for index, symbol in enumerate(symbols)
        ]
        connection.execute(insert(assets), rows)
