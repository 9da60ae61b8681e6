"""The surveillance review queue in SQL: alerts, and where the role stands in each feed.

The surveillance role writes both in one transaction per batch of the feed (revision 0007
creates them): an alert is stored exactly when the role's place moves past the command that
raised it, so a restart neither loses nor repeats one. Reviewers close an alert (dismissed
or escalated) with a note; nothing else changes it.
"""

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from tradingfloor.store.schema import metadata

ALERT_STATES = ("open", "closed")
ALERT_OUTCOMES = ("dismissed", "escalated")

surveillance_alerts = Table(
    "surveillance_alerts",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("pattern", String(32), nullable=False),
    Column("shard", String(32), nullable=False),
    Column("accounts", Text, nullable=False),  # comma-separated, sorted
    Column("owner", String, nullable=False),
    Column("symbol", String, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("score", BigInteger, nullable=False),
    Column("summary", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON: order ids, (shard, seq), explanation
    Column("state", String(8), nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("reviewer", String, nullable=True),
    Column("note", Text, nullable=True),
    Column("reviewed_ts", BigInteger, nullable=True),
    # The queue: newest first, of a state; by pattern, symbol, owner.
    Index("ix_surveillance_alerts_state_ts", "state", "ts"),
    Index("ix_surveillance_alerts_ts", "ts"),
    Index("ix_surveillance_alerts_symbol", "symbol"),
)

surveillance_positions = Table(
    "surveillance_positions",
    metadata,
    Column("shard", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),  # the last command whose alerts are stored
    # Where a restart reads the feed from: far enough back to rebuild the detectors.
    Column("warm_seq", BigInteger, nullable=False),
)
