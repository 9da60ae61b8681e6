"""The audit trail's second place: anchors of its head, and its reading of `auth_events`.

The trail itself is files under `DATA/audit/` (`compliance.audit_chain`); from time to time
the audit role writes the head it has made durable here (`audit_anchors`: record `n` and its
hash), so that records removed from the end of the files, which nothing in the files could
show, are found by `tradingfloor audit verify`. Rows are only ever added (revision 0006).
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, insert, select
from sqlalchemy.engine import Engine

from tradingfloor.store.schema import auth_events, metadata

ROW_ID = BigInteger().with_variant(Integer(), "sqlite")
HASH_LENGTH = 64

audit_anchors = Table(
    "audit_anchors",
    metadata,
    Column("anchor_id", ROW_ID, primary_key=True, autoincrement=True),
    Column("n", BigInteger, nullable=False),
    Column("hash", String(HASH_LENGTH), nullable=False),
    Column("ts", BigInteger, nullable=False),
)


def write_anchor(engine: Engine, n: int, head_hash: str, ts: int) -> None:
    """Anchor record `n` of the trail, whose hash is `head_hash`."""
    with engine.begin() as connection:
        connection.execute(insert(audit_anchors).values(n=n, hash=head_hash, ts=ts))


def read_anchors(engine: Engine) -> dict[int, str]:
    """Every anchor: record n -> its hash (two anchors of one n that differ: the later)."""
    query = select(audit_anchors.c.n, audit_anchors.c.hash).order_by(audit_anchors.c.anchor_id)
    with engine.connect() as connection:
        return {row.n: row.hash for row in connection.execute(query)}


def access_events_after(
    engine: Engine, event_id: int, ts_before: int, limit: int
) -> list[Mapping[str, Any]]:
    """`auth_events` rows after `event_id`, in id order, written before `ts_before` (a row
    of a transaction still open may commit after a later id: the wait lets it land first)."""
    query = (
        select(auth_events)
        .where(auth_events.c.event_id > event_id, auth_events.c.ts < ts_before)
        .order_by(auth_events.c.event_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
