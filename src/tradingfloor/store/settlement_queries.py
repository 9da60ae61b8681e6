"""Reads of the end of day's read models for the gateway: breaks, corporate actions, days.

As `queries`: each function takes a `Connection`, returns frozen msgspec structs, and lists
are bounded by `limit` (1 to `queries.rows_per_query_max`) and paged by keyset: the id of
the last row of a page continues the listing after it. Newest first: breaks by the time
they were opened, corporate actions by the time they were announced (ties by id), days by
date.
"""

from typing import Any

import msgspec
from sqlalchemy import Connection, and_, func, or_, select

from tradingfloor.store.queries import rows_per_query_max
from tradingfloor.store.settlement_tables import breaks, corporate_actions, settlement_days


class BreakRow(msgspec.Struct, frozen=True):
    """A reconciliation break: what the platform holds (`platform_*`) against what the
    clearinghouse or the ledger says (`other_*`); its resolution once resolved."""

    break_id: str
    date: str
    kind: str
    account: str
    symbol: str
    platform_qty: int
    other_qty: int
    platform_cash: int
    other_cash: int
    detail: str
    opened_seq: int
    opened_ts: int
    status: str
    resolved_by: str | None
    reason: str | None
    cash_adjustment: int | None
    shares_adjustment: int | None
    resolved_seq: int | None
    resolved_ts: int | None


class CorporateActionRow(msgspec.Struct, frozen=True):
    """A split (`old_shares` become `new_shares` on `ex_date`), a cash dividend
    (`amount_per_share`, `record_date`, `pay_date`) or a symbol change (`new_symbol` from
    `effective_date`): the fields of the other kinds are None."""

    action_id: str
    kind: str
    symbol: str
    new_symbol: str | None
    old_shares: int | None
    new_shares: int | None
    cash_in_lieu_price: int | None
    amount_per_share: int | None
    ex_date: str | None
    record_date: str | None
    pay_date: str | None
    effective_date: str | None
    status: str
    announced_seq: int
    announced_ts: int
    applied_seq: int | None
    paid_seq: int | None


class SettlementDayRow(msgspec.Struct, frozen=True):
    """One trading day across the shards: how many closed it and how many settled it (a
    day is closed, or settled, when every shard has)."""

    date: str
    session: int | None
    shards_closed: int
    shards_settled: int
    closed_ts: int | None
    settled_ts: int | None
    expired: int
    trade_dates: list[str]


def get_break(connection: Connection, break_id: str) -> BreakRow | None:
    row = connection.execute(select(breaks).where(breaks.c.break_id == break_id)).first()
    return None if row is None else BreakRow(**row._mapping)


def list_breaks(
    connection: Connection,
    status: str | None = None,
    date: str | None = None,
    kind: str | None = None,
    account: str | None = None,
    limit: int = 50,
    after_break_id: str | None = None,
) -> list[BreakRow]:
    """Breaks, newest first: of a status ("open", "resolved"; None: all), a date, a kind
    (`BreakKind` by lowercase name), an account; after the break `after_break_id`."""
    query = select(breaks)
    for column, value in (
        (breaks.c.status, status),
        (breaks.c.date, date),
        (breaks.c.kind, kind),
        (breaks.c.account, account),
    ):
        if value is not None:
            query = query.where(column == value)
    if after_break_id is not None:
        query = query.where(_older(breaks.c.opened_ts, breaks.c.break_id, after_break_id))
    query = query.order_by(breaks.c.opened_ts.desc(), breaks.c.break_id.desc())
    return [BreakRow(**row._mapping) for row in _limited(connection, query, limit)]


def count_breaks(connection: Connection, status: str = "open") -> int:
    query = select(func.count()).select_from(breaks).where(breaks.c.status == status)
    return int(connection.execute(query).scalar() or 0)


def get_corporate_action(connection: Connection, action_id: str) -> CorporateActionRow | None:
    query = select(corporate_actions).where(corporate_actions.c.action_id == action_id)
    row = connection.execute(query).first()
    return None if row is None else CorporateActionRow(**row._mapping)


def list_corporate_actions(
    connection: Connection,
    symbol: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    after_action_id: str | None = None,
) -> list[CorporateActionRow]:
    """Corporate actions, newest announcement first; of a symbol (its old or new name),
    a kind ("split", "dividend", "symbol_change")."""
    table = corporate_actions
    query = select(table)
    if symbol is not None:
        query = query.where(or_(table.c.symbol == symbol, table.c.new_symbol == symbol))
    if kind is not None:
        query = query.where(table.c.kind == kind)
    if after_action_id is not None:
        query = query.where(_older(table.c.announced_ts, table.c.action_id, after_action_id))
    query = query.order_by(table.c.announced_ts.desc(), table.c.action_id.desc())
    return [CorporateActionRow(**row._mapping) for row in _limited(connection, query, limit)]


def list_settlement_days(connection: Connection, limit: int = 30) -> list[SettlementDayRow]:
    """The newest `limit` days any shard closed or settled, newest first."""
    days = settlement_days.c
    query = (
        select(
            days.date,
            func.max(days.session).label("session"),
            func.count(days.closed_seq).label("shards_closed"),
            func.count(days.settled_seq).label("shards_settled"),
            func.max(days.closed_ts).label("closed_ts"),
            func.max(days.settled_ts).label("settled_ts"),
            func.coalesce(func.sum(days.expired), 0).label("expired"),
            func.max(days.trade_dates).label("trade_dates"),
        )
        .group_by(days.date)
        .order_by(days.date.desc())
    )
    found = []
    for row in _limited(connection, query, limit):
        values = dict(row._mapping)
        dates = values.pop("trade_dates")
        values["expired"] = int(values["expired"])  # PostgreSQL sums to a numeric
        found.append(SettlementDayRow(**values, trade_dates=dates.split(",") if dates else []))
    return found


def _older(ts_column: Any, id_column: Any, after_id: str) -> Any:
    """Rows after the row `after_id` in a newest-first listing by (time, id); none when
    no row is `after_id`."""
    after_ts = select(ts_column).where(id_column == after_id).scalar_subquery()
    return or_(ts_column < after_ts, and_(ts_column == after_ts, id_column < after_id))


def _limited(connection: Connection, query: Any, limit: int) -> Any:
    if not 1 <= limit <= rows_per_query_max:
        raise ValueError(f"limit must be 1 to {rows_per_query_max}, not {limit}")
    return connection.execute(query.limit(limit))
