"""The clearinghouse's store: its SQLite tables (SQLAlchemy Core), one file under its data dir.

- `batches`: every request that changed something (TRD, MOV), by batch id, with a digest of
  its records (a batch id used again for other records is refused) and what its ACK said.
- `confirmations`: every trade record taken, one row per confirmation: `role` is `trade` (a
  trade the clearinghouse recorded and nets; two for a duplicate), `repeat` (a trade ref sent
  again in a new batch with the same terms: answered with the first confirmation, netted
  once) or `refused` (a trade ref sent again with other terms, or settling on a date already
  settled: `accepted` false). `late`/`released`: a confirmation held back.
  `submitted_qty`/`submitted_price` keep the terms sent, before an injected alteration.
- `movements`: settled cash and shares into or out of a participant outside trading (unique by
  ref: a ref sent again is not taken twice).
- `settlements`, `instructions`, `fails`: each settled date, its CNS instructions and the fails
  that arose (carried to the next date).
- `faults`: every injected fault (kind, trade ref, batch, trade date).

Indexes only where a request looks: a trade ref (idempotency), a trade date (CNQ), a settle
date (netting), the held-back confirmations (release). Instructions and fails have none: they
are written once per date and read back only for a repeated settlement or as a whole
(holdings), where a scan is what the query does anyway. A batch's confirmations are a range of
`seq` (kept in `batches`), so a resubmission needs no index of its own.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

batches = Table(
    "batches",
    metadata,
    Column("batch_id", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("participant", String, nullable=False),
    Column("date", String, nullable=False),
    Column("digest", String, nullable=False),
    Column("received", Integer, nullable=False),
    Column("taken", Integer, nullable=False),
    Column("first_seq", Integer, nullable=False),
    Column("last_seq", Integer, nullable=False),
    # The batch's rows of `confirmations` (a trade capture): its answer, were it sent again.
)

confirmations = Table(
    "confirmations",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("batch_id", String, nullable=False),
    Column("role", String, nullable=False),
    Column("clearing_ref", String, nullable=False),
    Column("trade_ref", String, nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("trade_date", String, nullable=False),
    Column("settle_date", String, nullable=False),
    Column("symbol", String, nullable=False),
    Column("buyer", String, nullable=False),
    Column("seller", String, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("submitted_qty", BigInteger, nullable=False),
    Column("submitted_price", BigInteger, nullable=False),
    Column("late", Boolean, nullable=False),
    Column("released", Boolean, nullable=False),
)
Index("confirmations_trade_ref", confirmations.c.trade_ref)
Index("confirmations_trade_date", confirmations.c.trade_date, confirmations.c.seq)
Index("confirmations_settle_date", confirmations.c.settle_date)
Index(
    "confirmations_held",
    confirmations.c.seq,
    sqlite_where=confirmations.c.released.is_(False),
)

movements = Table(
    "movements",
    metadata,
    Column("ref", String, primary_key=True),
    Column("batch_id", String, nullable=False),
    Column("date", String, nullable=False),
    Column("participant", String, nullable=False),
    Column("symbol", String, nullable=False),
    Column("qty", BigInteger, nullable=False),
)

settlements = Table(
    "settlements",
    metadata,
    Column("settle_date", String, primary_key=True),
)

instructions = Table(
    "instructions",
    metadata,
    Column("settle_date", String, nullable=False),
    Column("participant", String, nullable=False),
    Column("symbol", String, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("cash", BigInteger, nullable=False),
)

fails = Table(
    "fails",
    metadata,
    Column("settle_date", String, nullable=False),
    Column("participant", String, nullable=False),
    Column("symbol", String, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("from_date", String, nullable=False),
)

faults = Table(
    "faults",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("kind", String, nullable=False),
    Column("trade_ref", String, nullable=False),
    Column("batch_id", String, nullable=False),
    Column("date", String, nullable=False),
)


def insert_sql(table: Table) -> str:
    """`INSERT` of every column of `table`, in order, with `?` parameters: rows go to the
    driver's `executemany` as tuples, which is several times faster than dicts through the
    statement compiler for the hundred thousand rows of a batch."""
    names = ", ".join(column.name for column in table.columns)
    marks = ", ".join("?" for _ in table.columns)
    return f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
