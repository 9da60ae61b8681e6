"""The surveillance review queue's reads and writes: alerts stored with the role's place in
each feed, listed and read by the gateway, and closed by a reviewer.

As the other queries: lists are newest first (by `ts`, ties by id), bounded by `limit` (1 to
`queries.rows_per_query_max`) and paged by keyset (the id of a page's last alert).
"""

from collections.abc import Iterable
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, or_, select, update

from tradingfloor.store.queries import rows_per_query_max
from tradingfloor.store.schema import users
from tradingfloor.store.surveillance_tables import surveillance_alerts, surveillance_positions

LIKE_ESCAPE = "\\"


class AlertRow(msgspec.Struct, frozen=True):
    alert_id: str
    pattern: str
    shard: str
    accounts: str
    """Comma-separated, sorted."""
    owner: str
    symbol: str
    ts: int
    seq: int
    score: int
    summary: str
    evidence: str
    """JSON: `order_ids`, `events` ([shard, seq] each), `explanation`."""
    state: str
    outcome: str | None = None
    reviewer: str | None = None
    note: str | None = None
    reviewed_ts: int | None = None


class Place(msgspec.Struct, frozen=True):
    """Where the role stands in a shard's feed: `seq`, the last command whose alerts are
    stored; `warm_seq`, where a restart reads from to rebuild its detectors first."""

    seq: int
    warm_seq: int


def positions(connection: Connection) -> dict[str, Place]:
    rows = connection.execute(select(surveillance_positions))
    return {row.shard: Place(int(row.seq), int(row.warm_seq)) for row in rows}


def store_alerts(
    connection: Connection, rows: Iterable[AlertRow], places: dict[str, Place]
) -> int:
    """Write new alerts (an id stored already is left as it is, reviewed or not) and move
    the role's place in the shards `places` names; returns how many alerts were new. Run it
    in the transaction that must hold both."""
    fresh = {row.alert_id: row for row in rows}
    if fresh:
        known = connection.execute(
            select(surveillance_alerts.c.alert_id).where(
                surveillance_alerts.c.alert_id.in_(list(fresh))
            )
        )
        for (alert_id,) in known:
            del fresh[alert_id]
    if fresh:
        connection.execute(
            surveillance_alerts.insert(), [msgspec.structs.asdict(row) for row in fresh.values()]
        )
    for shard, place in places.items():
        values = {"seq": place.seq, "warm_seq": place.warm_seq}
        moved = connection.execute(
            update(surveillance_positions)
            .where(surveillance_positions.c.shard == shard)
            .values(**values)
        )
        if moved.rowcount == 0:
            connection.execute(surveillance_positions.insert().values(shard=shard, **values))
    return len(fresh)


def get_alert(connection: Connection, alert_id: str) -> AlertRow | None:
    query = select(surveillance_alerts).where(surveillance_alerts.c.alert_id == alert_id)
    row = connection.execute(query).first()
    return None if row is None else AlertRow(**row._mapping)


def list_alerts(
    connection: Connection,
    state: str | None = None,
    pattern: str | None = None,
    symbol: str | None = None,
    account: str | None = None,
    limit: int = 50,
    after_alert_id: str | None = None,
) -> list[AlertRow]:
    """Alerts, newest first: of a state ("open", "closed"; None: all), a pattern, a symbol,
    an account (one of the alert's accounts); after the alert `after_alert_id`."""
    table = surveillance_alerts
    query = select(table)
    for column, value in (
        (table.c.state, state),
        (table.c.pattern, pattern),
        (table.c.symbol, symbol),
    ):
        if value is not None:
            query = query.where(column == value)
    if account is not None:
        query = query.where(_names_account(account))
    if after_alert_id is not None:
        after_ts = select(table.c.ts).where(table.c.alert_id == after_alert_id).scalar_subquery()
        query = query.where(
            or_(
                table.c.ts < after_ts,
                and_(table.c.ts == after_ts, table.c.alert_id < after_alert_id),
            )
        )
    query = query.order_by(table.c.ts.desc(), table.c.alert_id.desc())
    if not 1 <= limit <= rows_per_query_max:
        raise ValueError(f"limit must be 1 to {rows_per_query_max}, not {limit}")
    return [AlertRow(**row._mapping) for row in connection.execute(query.limit(limit))]


def _names_account(account: str) -> Any:
    column = surveillance_alerts.c.accounts
    literal = account.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    return or_(
        column == account,
        column.like(f"{literal},%", escape=LIKE_ESCAPE),
        column.like(f"%,{literal}", escape=LIKE_ESCAPE),
        column.like(f"%,{literal},%", escape=LIKE_ESCAPE),
    )


def close_alert(
    connection: Connection, alert_id: str, outcome: str, reviewer: str, note: str, ts: int
) -> bool:
    """Close an open alert as `outcome` ("dismissed", "escalated"); False when it is not
    open (closed already, or no such alert)."""
    table = surveillance_alerts
    closed = connection.execute(
        update(table)
        .where(table.c.alert_id == alert_id, table.c.state == "open")
        .values(state="closed", outcome=outcome, reviewer=reviewer, note=note, reviewed_ts=ts)
    )
    return closed.rowcount == 1


def account_users(connection: Connection) -> dict[str, str]:
    """Account -> the username of the user who trades it (an account several users trade
    is left out: it has no one owner)."""
    found: dict[str, str] = {}
    shared: set[str] = set()
    for account, username in connection.execute(select(users.c.account_id, users.c.username)):
        if account in found:
            shared.add(account)
        found[account] = username
    return {account: owner for account, owner in found.items() if account not in shared}
