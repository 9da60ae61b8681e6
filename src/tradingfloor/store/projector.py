"""The projector: the engine's events into the read-model tables, exactly once per command.

`Projector.apply(batch)` takes what the node's event log and the sequencer's batch listeners
give, `(seq, ts, events)` per command, and applies the commands after the projection's
`last_seq` in one transaction that also moves `last_seq` on. Applying a batch twice, or a
batch that overlaps what was applied before a restart, changes nothing the second time.

Within a batch the projector reads every row the batch touches in a few queries, applies the
events to those rows in memory, in order, then writes them back with one statement per table
and kind (insert or update) for the whole batch (`projection_rows`, `projection_sql`): SQLite by
`executemany`, PostgreSQL by COPY and one `UPDATE ... FROM unnest(arrays)` per table. Nothing is
kept between batches: another process may project next, and a restart resumes from the tables
alone. Larger batches are cheaper per command (a transaction's fixed cost is shared), so a
caller that falls behind should hand over everything pending at once.

Choices:

- Order rows are what the domain's one reducer makes of the events
  (`tradingfloor.domain.order_state`, `order_rows` for the columns).
- A rejected order is a row with status `rejected` and its `reject_code`; its side, type, time
  in force and quantity are NULL (the event does not carry them). A DUPLICATE_ORDER_ID reject
  names an id that may belong to an existing order (even another account's), and a
  CLIENT_ORDER_ID_REUSED one a client order id that names another order: neither touches the
  orders table; each is kept as a `reject` activity of the submitting account. So a client
  order id names one row of its account.
- A replaced order keeps its row (status `replaced`, `replaced_by`, no leaves); its successor
  is a new row with the new terms, the fills so far carried over (filled quantity and
  notional), `replaces` the old id, and its own client order id (none, unless the replace
  named one).
- An `OrderCanceled` with leaves left is a self-trade-prevention decrement: the leaves shrink,
  the status stays; with none left the order is `canceled` and `cancel_reason` names why.
- Positions and balances follow the ledger's arithmetic exactly (`tradingfloor.ledger`,
  `projection_ledger`): on a fill the buyer's side posts before the seller's, average cost on
  sells. Positions rows appear at an account's first fill or share delivery in a symbol and
  stay (realized P&L) when flat.
- Activities, per account, signed from that account's point of view: `trade` (qty positive
  bought, negative sold; amount negative paid, positive received), `fee` (amount negative),
  `deposit`, `withdrawal`, `shares_in` and `shares_out` (qty signed; for shares in, price is
  their cost per share), `settlement` (the amount that moved from unsettled into settled
  cash), `day_trade`, `status` (account opened, or its status changed) and `reject` (above).
  Kinds and amounts are those of the ledger's postings (`tradingfloor.ledger.postings`); the
  store imports only the domain, so the tests, not an import, hold the two together.
- The book's price levels and the quote each order arrived to (`projection_quotes`) follow
  the order events in the same pass: the best bid and ask an execution-quality report
  measures an order against. Minute bars of the trades and the history of each symbol's best
  bid and ask follow them (`projection_history`): what the market-data API reads.
- The commands after `last_seq` must follow it with no gap: a gap means events were lost
  upstream (the event log and the sequencer give every command, events or none), and the
  projection stops (`ProjectionGapError`) rather than go on wrong.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import Event
from tradingfloor.store import projection_ledger, projection_settlement
from tradingfloor.store.database import SQLITE_BEGIN_OPTION
from tradingfloor.store.projection_history import HistoryRows
from tradingfloor.store.projection_quotes import QUOTED_EVENTS, QuoteRows
from tradingfloor.store.projection_rows import Batch, BatchRows
from tradingfloor.store.readmodels import projection_state

HANDLERS = {**projection_ledger.HANDLERS, **projection_settlement.HANDLERS}
"""What each event does to the read models (events not named change none)."""

stream_batch_commands_max = 2_000
"""Commands per transaction when `apply_stream` catches up on a long event log."""


class ProjectionGapError(InvariantViolation):
    """The batch does not continue the projection: commands between were never applied."""


def projection_name(shard_index: int, shard: str) -> str:
    """The name of a shard's projection in `projection_state`: the first shard's is `main`,
    as on a platform of one shard (adding shards leaves its resume point where it was)."""
    return "main" if shard_index == 0 else f"shard:{shard}"


class Projector:
    """Projects event batches into the read-model tables of one database.

    `name` keeps several projections of one database apart in `projection_state` (each has
    its own resume point). Safe to run in several processes at once: a batch holds the
    projection's row locked (PostgreSQL) or the database's write lock (SQLite) from the read
    of `last_seq` to the commit, so each command is applied once.
    """

    def __init__(self, engine: Engine, name: str = "main", shard_index: int = 0) -> None:
        """`shard_index`: the shard whose events these are (its part of each account's cash
        is a balance row of its own)."""
        self.shard_index = shard_index
        # A transaction that reads `last_seq` then writes must take SQLite's write lock at
        # BEGIN: a deferred one could fail to upgrade its read lock under a concurrent writer.
        self.engine = engine.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        self.name = name

    def last_seq(self) -> int:
        """The last command applied (0 before the first): resume at `last_seq() + 1`."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(projection_state.c.last_seq).where(projection_state.c.name == self.name)
            ).scalar()
        return int(found or 0)

    def apply(self, batch: Batch) -> int:
        """Apply the commands of `batch` after `last_seq`, in one transaction; returns how many.

        `batch` holds (seq, ts, events) for consecutive commands, as the event log gives them;
        commands at or below `last_seq` are skipped, and one beyond `last_seq + 1` raises
        `ProjectionGapError` (nothing of the batch is applied).
        """
        with self.engine.begin() as connection:
            commands = self._continuing(batch, self._lock(connection))
            if not commands:
                return 0
            if connection.dialect.name == "postgresql":
                # Without waiting for the WAL flush: a crash may lose the last batches, but
                # with their last_seq, so they are projected again from the event log.
                connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            work = BatchRows(connection, self.shard_index)
            work.load(commands)
            quotes = QuoteRows(connection)
            quotes.load(commands)
            history = HistoryRows(connection, quotes)
            history.load(commands)
            handlers = HANDLERS
            for seq, ts, events in commands:
                for event in events:
                    kind = type(event)
                    handler = handlers.get(kind)
                    if handler is None:
                        continue
                    if kind in QUOTED_EVENTS:
                        quotes.apply(work, event, handler)
                    else:
                        handler(work, event)
                history.after(seq, ts, events)
            work.flush()
            quotes.flush()
            history.flush()
            connection.execute(
                update(projection_state)
                .where(projection_state.c.name == self.name)
                .values(last_seq=commands[-1][0])
            )
        return len(commands)

    def apply_stream(
        self, commands: Iterable[tuple[int, int, list[Event]]], batch_commands_max: int = 0
    ) -> int:
        """Apply a long run of commands (catching up on an event log), a transaction every
        `batch_commands_max` (default `stream_batch_commands_max`); returns how many."""
        size = batch_commands_max or stream_batch_commands_max
        applied = 0
        batch: Batch = []
        for command in commands:
            batch.append(command)
            if len(batch) >= size:
                applied += self.apply(batch)
                batch = []
        if batch:
            applied += self.apply(batch)
        return applied

    def _continuing(self, batch: Batch, last: int) -> Batch:
        """The commands of `batch` after `last`, checked to follow it with no gap."""
        found: Batch = []
        expected = last + 1
        for command in batch:
            seq = command[0]
            if seq < expected:  # applied already, or given twice
                continue
            if seq != expected:
                raise ProjectionGapError(
                    f"projection {self.name!r}: expected seq {expected}, got {seq}"
                )
            found.append(command)
            expected += 1
        return found

    def _lock(self, connection: Connection) -> int:
        """The projection's last_seq, its row locked until commit (created at 0 if new)."""
        query = (
            select(projection_state.c.last_seq)
            .where(projection_state.c.name == self.name)
            .with_for_update()
        )
        found = connection.execute(query).first()
        if found is not None:
            return int(found[0])
        dialect = connection.dialect.name
        if dialect not in _UPSERTS:
            raise NotImplementedError(f"read models need SQLite or PostgreSQL, not {dialect}")
        # Unless a projector in another process has just created it.
        connection.execute(
            _UPSERTS[dialect](projection_state)
            .values(name=self.name, last_seq=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        found = connection.execute(query).first()
        return 0 if found is None else int(found[0])


_UPSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
