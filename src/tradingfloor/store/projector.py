"""The projector: the engine's events into the read-model tables, exactly once per command.

`Projector.apply(batch)` takes what the node's event log and the sequencer's batch listeners
give, `(seq, ts, events)` per command, and applies the commands after the projection's
`last_seq` in one transaction that also moves `last_seq` on. Applying a batch twice, or a
batch that overlaps what was applied before a restart, changes nothing the second time.

Within a batch the projector reads every row the batch touches in a few queries, applies the
events to those rows in memory, in order, then writes them back with one statement per table
and kind (insert or update) for the whole batch: SQLite by `executemany`, PostgreSQL by COPY
and one `UPDATE ... FROM unnest(arrays)` per table. Nothing is kept between batches: another
process may project next, and a restart resumes from the tables alone. Larger batches are
cheaper per command (a transaction's fixed cost is shared), so a caller that falls behind
should hand over everything pending at once.

Choices:

- A rejected order is a row with status `rejected` and its `reject_code`; its side, type, time
  in force and quantity are NULL (the event does not carry them). A DUPLICATE_ORDER_ID reject
  names an id that may belong to an existing order (even another account's): it never touches
  the orders table, and is kept as a `reject` activity of the submitting account.
- A replaced order keeps its row (status `replaced`, `replaced_by`, no leaves); its successor
  is a new row with the new terms, the fills so far carried over (filled quantity and
  notional), `replaces` the old id, and the same client order id: the newest row of a client
  order id is the live one.
- An `OrderCanceled` with leaves left is a self-trade-prevention decrement: the leaves shrink,
  the status stays; with none left the order is `canceled` and `cancel_reason` names why.
- Positions and balances follow the ledger's arithmetic exactly (`tradingfloor.ledger`): on a
  fill the buyer's side posts before the seller's, average cost on sells. Positions rows appear
  at an account's first fill or share delivery in a symbol and stay (realized P&L) when flat.
- Activities, per account, signed from that account's point of view: `trade` (qty positive
  bought, negative sold; amount negative paid, positive received), `fee` (amount negative),
  `deposit`, `withdrawal`, `shares_in` and `shares_out` (qty signed; for shares in, price is
  their cost per share), `settlement` (the amount that moved from unsettled into settled
  cash), `day_trade`, `status` (account opened, or its status changed) and `reject` (above).
  Kinds and amounts are those of the ledger's postings (`tradingfloor.ledger.postings`); the
  store imports only the domain, so the tests, not an import, hold the two together.
- The commands after `last_seq` must follow it with no gap: a gap means events were lost
  upstream (the event log and the sequencer give every command, events or none), and the
  projection stops (`ProjectionGapError`) rather than go on wrong.
"""

from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tradingfloor.domain.enums import (
    STOP_ORDER_TYPES,
    AccountKind,
    AccountStatus,
    CancelReason,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    AccountOpened,
    AccountStatusChanged,
    DayTradeCounted,
    Event,
    FundsDeposited,
    FundsSettled,
    FundsWithdrawn,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    SharesDeposited,
    SharesWithdrawn,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.domain.prices import format_price
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.store.database import SQLITE_BEGIN_OPTION
from tradingfloor.store.readmodels import (
    account_balances,
    activities,
    fills,
    orders,
    positions,
    projection_state,
)

Row = dict[str, Any]
Batch = list[tuple[int, int, list[Event]]]

in_list_size_max = 500
"""Keys per `IN (...)` when a batch reads the rows it touches."""
stream_batch_commands_max = 2_000
"""Commands per transaction when `apply_stream` catches up on a long event log."""

BUY = Side.BUY
DUPLICATE_ORDER_ID = RejectReason.DUPLICATE_ORDER_ID
_SIDE = {Side.BUY: "buy", Side.SELL: "sell"}
_ORDER_TYPE = {kind: kind.name.lower() for kind in OrderType}
_TIF = {tif: tif.name.lower() for tif in TimeInForce}
_CANCEL_REASON = {reason: reason.name.lower() for reason in CancelReason}
_ACCOUNT_KIND = {kind: kind.name.lower() for kind in AccountKind}
_ACCOUNT_STATUS = {status: status.name.lower() for status in AccountStatus}

SURROGATE_KEYS = frozenset({"fill_id", "activity_id"})
FILL_COLUMNS = (
    "seq",
    "ts",
    "symbol",
    "trade_id",
    "order_id",
    "account",
    "side",
    "price",
    "qty",
    "fee",
    "liquidity",
    "leaves_after",
)
"""The order of a fill row's tuple: fills and activities are only ever inserted, so the
projector builds their rows as tuples, ready for the driver."""
ACTIVITY_COLUMNS = (
    "seq",
    "ts",
    "account",
    "kind",
    "symbol",
    "qty",
    "price",
    "amount",
    "order_id",
    "trade_id",
    "description",
)
_ORDER_MUTABLE = (
    "qty",
    "price",
    "stop_price",
    "status",
    "filled_qty",
    "leaves_qty",
    "filled_notional",
    "cancel_reason",
    "replaced_by",
    "updated_seq",
    "updated_ts",
)
_POSITION_MUTABLE = ("qty", "cost", "realized", "updated_seq")
_BALANCE_MUTABLE = (
    "status",
    "settled",
    "unsettled",
    "deposited",
    "withdrawn",
    "fees",
    "updated_seq",
)


class ProjectionGapError(InvariantViolation):
    """The batch does not continue the projection: commands between were never applied."""


class Projector:
    """Projects event batches into the read-model tables of one database.

    `name` keeps several projections of one database apart in `projection_state` (each has
    its own resume point). Safe to run in several processes at once: a batch holds the
    projection's row locked (PostgreSQL) or the database's write lock (SQLite) from the read
    of `last_seq` to the commit, so each command is applied once.
    """

    def __init__(self, engine: Engine, name: str = "main") -> None:
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
            work = _Work(connection)
            work.load(commands)
            handlers = _HANDLERS
            for _, _, events in commands:
                for event in events:
                    handler = handlers.get(type(event))
                    if handler is not None:
                        handler(work, event)
            work.flush()
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


class _TableSql:
    """One table's SELECT and INSERT as the driver's own SQL.

    Rows reach the driver as tuples, untouched by SQLAlchemy, whose processing of each row's
    parameters costs more than SQLite's writing the row. SQLite takes them in one prepared
    `executemany`; PostgreSQL by COPY, several times faster there than a statement per row.
    """

    def __init__(self, dialect: Dialect, table: Table) -> None:
        marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}
        if dialect.paramstyle not in marks:
            raise NotImplementedError(f"read models need SQLite or PostgreSQL, not {dialect.name}")
        self.mark = mark = marks[dialect.paramstyle]
        self.quote = quote = dialect.identifier_preparer.quote
        self.postgresql = dialect.name == "postgresql"
        # Casts name the base type: a cast to varchar(n) would truncate instead of failing.
        self.casts = {
            column.name: column.type.compile(dialect).split("(")[0] for column in table.c
        }
        self.name = name = quote(table.name)
        self.all_columns = tuple(column.name for column in table.c)
        selected = ", ".join(quote(column) for column in self.all_columns)
        self.select = f"SELECT {selected} FROM {name}"
        self.columns = tuple(
            column.name for column in table.c if column.name not in SURROGATE_KEYS
        )
        listed = ", ".join(quote(column) for column in self.columns)
        marks_listed = ", ".join(mark for _ in self.columns)
        self.insert = f"INSERT INTO {name} ({listed}) VALUES ({marks_listed})"
        self.copy = f"COPY {name} ({listed}) FROM STDIN"
        self.insert_values: Callable[[Row], tuple[Any, ...]] = itemgetter(*self.columns)

    def select_where_in(self, column: str, count: int) -> str:
        marks = ", ".join(self.mark for _ in range(count))
        return f"{self.select} WHERE {self.quote(column)} IN ({marks})"

    def insert_rows(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        if not self.postgresql:
            connection.exec_driver_sql(self.insert, rows)
            return
        # psycopg's own connection, inside the transaction SQLAlchemy began.
        driver: Any = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(self.copy) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)


class _MutableTableSql(_TableSql):
    """And an UPDATE of the `mutable` columns of the rows with the given `keys`: on
    PostgreSQL one statement for all rows, their values passed as one array per column."""

    def __init__(
        self, dialect: Dialect, table: Table, keys: tuple[str, ...], mutable: tuple[str, ...]
    ) -> None:
        super().__init__(dialect, table)
        quote, mark, name = self.quote, self.mark, self.name
        self.update_values: Callable[[Row], tuple[Any, ...]] = itemgetter(*mutable, *keys)
        if not self.postgresql:
            assignments = ", ".join(f"{quote(column)} = {mark}" for column in mutable)
            condition = " AND ".join(f"{quote(column)} = {mark}" for column in keys)
            self.update = f"UPDATE {name} SET {assignments} WHERE {condition}"
            return
        listed = mutable + keys
        assigned = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in mutable)
        arrays = ", ".join(f"{mark}::{self.casts[column]}[]" for column in listed)
        named = ", ".join(quote(column) for column in listed)
        matched = " AND ".join(f"t.{quote(column)} = v.{quote(column)}" for column in keys)
        self.update = (
            f"UPDATE {name} AS t SET {assigned} FROM unnest({arrays}) AS v ({named})"
            f" WHERE {matched}"
        )

    def update_rows(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        if self.postgresql:
            arrays = tuple(list(column) for column in zip(*rows, strict=True))
            connection.exec_driver_sql(self.update, arrays)
        else:
            connection.exec_driver_sql(self.update, rows)


class _Statements:
    def __init__(self, dialect: Dialect) -> None:
        self.orders = _MutableTableSql(dialect, orders, ("order_id",), _ORDER_MUTABLE)
        self.positions = _MutableTableSql(
            dialect, positions, ("account", "symbol"), _POSITION_MUTABLE
        )
        self.balances = _MutableTableSql(dialect, account_balances, ("account",), _BALANCE_MUTABLE)
        self.fills = _TableSql(dialect, fills)
        self.activities = _TableSql(dialect, activities)
        if self.fills.columns != FILL_COLUMNS or self.activities.columns != ACTIVITY_COLUMNS:
            raise InvariantViolation("the projector's row tuples no longer match the tables")


_statements: dict[tuple[str, str], _Statements] = {}
"""Per (dialect, paramstyle): SQL text, which no restart or other process can make stale."""


def _statements_for(dialect: Dialect) -> _Statements:
    key = (dialect.name, dialect.paramstyle)
    found = _statements.get(key)
    if found is None:
        found = _statements[key] = _Statements(dialect)
    return found


class _Work:
    """The rows one batch touches, read once, changed in memory, written back at the end."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sql = _statements_for(connection.dialect)
        self.orders: dict[int, Row] = {}
        self.new_orders: list[Row] = []
        self.positions: dict[tuple[str, str], Row] = {}
        self.new_positions: list[Row] = []
        self.balances: dict[str, Row] = {}
        self.new_balances: list[Row] = []
        self.fills: list[tuple[Any, ...]] = []
        self.activities: list[tuple[Any, ...]] = []
        self._loaded_orders: list[Row] = []
        self._loaded_positions: list[Row] = []
        self._loaded_balances: list[Row] = []

    # ------------------------------------------------------------------ read and write

    def load(self, commands: Batch) -> None:
        """Read every existing row the batch's events name."""
        order_ids: set[int] = set()
        created: set[int] = set()
        position_keys: set[tuple[str, str]] = set()
        accounts: set[str] = set()
        opened: set[str] = set()
        for _, _, events in commands:
            for event in events:
                kind = type(event)
                if kind is TradeExecuted:
                    trade: TradeExecuted = event  # type: ignore[assignment]
                    order_ids.add(trade.maker_order_id)
                    order_ids.add(trade.taker_order_id)
                    position_keys.add((trade.maker_account, trade.symbol))
                    position_keys.add((trade.taker_account, trade.symbol))
                    accounts.add(trade.maker_account)
                    accounts.add(trade.taker_account)
                elif kind is OrderAccepted:
                    created.add(event.order_id)  # type: ignore[attr-defined]
                elif kind is OrderCanceled or kind is OrderExpired or kind is StopTriggered:
                    order_ids.add(event.order_id)  # type: ignore[attr-defined]
                elif kind is OrderReplaced:
                    order_ids.add(event.order_id)  # type: ignore[attr-defined]
                    created.add(event.new_order_id)  # type: ignore[attr-defined]
                elif kind is OrderRejected:
                    if event.reason != DUPLICATE_ORDER_ID:  # type: ignore[attr-defined]
                        created.add(event.order_id)  # type: ignore[attr-defined]
                elif kind is SharesDeposited or kind is SharesWithdrawn:
                    position_keys.add((event.account, event.symbol))  # type: ignore[attr-defined]
                elif kind is AccountOpened:
                    opened.add(event.account)  # type: ignore[attr-defined]
                elif kind in _BALANCE_EVENTS:
                    accounts.add(event.account)  # type: ignore[attr-defined]
        self._load_orders(order_ids - created)
        self._load_positions(position_keys)
        self._load_balances(accounts - opened)

    def _load_orders(self, order_ids: set[int]) -> None:
        found = self.orders
        for row in self._select(self.sql.orders, "order_id", sorted(order_ids)):
            found[row["order_id"]] = row
        missing = order_ids - found.keys()
        if missing:
            raise InvariantViolation(
                f"events name orders the read model never saw: {sorted(missing)[:10]}"
            )
        self._loaded_orders = list(found.values())

    def _load_positions(self, keys: set[tuple[str, str]]) -> None:
        found = self.positions
        accounts = sorted({account for account, _ in keys})
        for row in self._select(self.sql.positions, "account", accounts):
            key = (row["account"], row["symbol"])
            if key in keys:
                found[key] = row
        self._loaded_positions = list(found.values())

    def _load_balances(self, accounts: set[str]) -> None:
        found = self.balances
        for row in self._select(self.sql.balances, "account", sorted(accounts)):
            found[row["account"]] = row
        self._loaded_balances = list(found.values())

    def _select(self, table: "_TableSql", column: str, keys: list[Any]) -> Iterator[Row]:
        """The rows of `table` whose `column` is one of `keys`, as dicts."""
        names = table.all_columns
        execute = self.connection.exec_driver_sql
        for start in range(0, len(keys), in_list_size_max):
            chunk = tuple(keys[start : start + in_list_size_max])
            for values in execute(table.select_where_in(column, len(chunk)), chunk):
                yield dict(zip(names, values, strict=True))

    def flush(self) -> None:
        """Write every new and changed row: one statement per table and kind (or a few)."""
        sql = self.sql
        connection = self.connection
        for table, inserted, updated in (
            (sql.orders, self.new_orders, self._loaded_orders),
            (sql.positions, self.new_positions, self._loaded_positions),
            (sql.balances, self.new_balances, self._loaded_balances),
        ):
            if inserted:
                values = table.insert_values
                table.insert_rows(connection, [values(row) for row in inserted])
            if updated:
                values = table.update_values
                table.update_rows(connection, [values(row) for row in updated])
        if self.fills:
            sql.fills.insert_rows(connection, self.fills)
        if self.activities:
            sql.activities.insert_rows(connection, self.activities)

    # ------------------------------------------------------------------ rows

    def position(self, account: str, symbol: str, seq: int) -> Row:
        key = (account, symbol)
        row = self.positions.get(key)
        if row is None:
            row = self.positions[key] = {
                "account": account,
                "symbol": symbol,
                "qty": 0,
                "cost": 0,
                "realized": 0,
                "updated_seq": seq,
            }
            self.new_positions.append(row)
        return row

    def balance(self, account: str) -> Row:
        row = self.balances.get(account)
        if row is None:
            raise InvariantViolation(f"events name an account never opened: {account!r}")
        return row

    def activity(
        self,
        event: Event,
        account: str,
        kind: str,
        description: str,
        symbol: str | None = None,
        qty: int | None = None,
        price: int | None = None,
        amount: int | None = None,
        order_id: int | None = None,
        trade_id: int | None = None,
    ) -> None:
        """One row of `ACTIVITY_COLUMNS`."""
        self.activities.append(
            (
                event.seq,
                event.ts,
                account,
                kind,
                symbol,
                qty,
                price,
                amount,
                order_id,
                trade_id,
                description,
            )
        )

    # ------------------------------------------------------------------ orders

    def accepted(self, event: OrderAccepted) -> None:
        order_type = event.order_type
        seq, ts = event.seq, event.ts
        row = {
            "order_id": event.order_id,
            "account": event.account,
            "symbol": event.symbol,
            "side": _SIDE[event.side],
            "order_type": _ORDER_TYPE[order_type],
            "tif": _TIF[event.tif],
            "qty": event.qty,
            "price": event.price,
            "stop_price": event.stop_price,
            "client_order_id": event.client_order_id,
            "status": "pending_trigger" if order_type in STOP_ORDER_TYPES else "new",
            "filled_qty": 0,
            "leaves_qty": event.qty,
            "filled_notional": 0,
            "reject_code": None,
            "cancel_reason": None,
            "replaced_by": None,
            "replaces": None,
            "created_seq": seq,
            "created_ts": ts,
            "updated_seq": seq,
            "updated_ts": ts,
        }
        self.orders[event.order_id] = row
        self.new_orders.append(row)

    def rejected(self, event: OrderRejected) -> None:
        reason = event.reason
        if reason == DUPLICATE_ORDER_ID:
            self.activity(
                event,
                event.account,
                "reject",
                f"order {event.order_id} rejected: {reason.message} ({int(reason)})",
                symbol=event.symbol,
                order_id=event.order_id,
            )
            return
        row = {
            "order_id": event.order_id,
            "account": event.account,
            "symbol": event.symbol,
            "side": None,
            "order_type": None,
            "tif": None,
            "qty": None,
            "price": None,
            "stop_price": None,
            "client_order_id": event.client_order_id,
            "status": "rejected",
            "filled_qty": 0,
            "leaves_qty": 0,
            "filled_notional": 0,
            "reject_code": int(reason),
            "cancel_reason": None,
            "replaced_by": None,
            "replaces": None,
            "created_seq": event.seq,
            "created_ts": event.ts,
            "updated_seq": event.seq,
            "updated_ts": event.ts,
        }
        self.orders[event.order_id] = row
        self.new_orders.append(row)

    def canceled(self, event: OrderCanceled) -> None:
        row = self.orders[event.order_id]
        row["leaves_qty"] = event.leaves
        if not event.leaves:  # else a self-trade decrement: the order stays live
            row["status"] = "canceled"
            row["cancel_reason"] = _CANCEL_REASON[event.reason]
        row["updated_seq"] = event.seq
        row["updated_ts"] = event.ts

    def expired(self, event: OrderExpired) -> None:
        row = self.orders[event.order_id]
        row["leaves_qty"] = 0
        row["status"] = "expired"
        row["updated_seq"] = event.seq
        row["updated_ts"] = event.ts

    def triggered(self, event: StopTriggered) -> None:
        row = self.orders[event.order_id]
        row["status"] = "partially_filled" if row["filled_qty"] else "new"
        row["stop_price"] = event.stop_price  # a trailing stop's, where it ended
        row["updated_seq"] = event.seq
        row["updated_ts"] = event.ts

    def replaced(self, event: OrderReplaced) -> None:
        old = self.orders[event.order_id]
        if old["status"] == "pending_trigger":
            status = "pending_trigger"
        else:
            status = "partially_filled" if old["filled_qty"] else "new"
        new = dict(old)
        new.update(
            order_id=event.new_order_id,
            qty=event.qty,
            price=event.price,
            stop_price=event.stop_price,
            status=status,
            leaves_qty=event.leaves,
            replaces=event.order_id,
            replaced_by=None,
            created_seq=event.seq,
            created_ts=event.ts,
            updated_seq=event.seq,
            updated_ts=event.ts,
        )
        self.orders[event.new_order_id] = new
        self.new_orders.append(new)
        old["status"] = "replaced"
        old["leaves_qty"] = 0
        old["replaced_by"] = event.new_order_id
        old["updated_seq"] = event.seq
        old["updated_ts"] = event.ts

    # ------------------------------------------------------------------ fills

    def trade(self, trade: TradeExecuted) -> None:
        """Both orders and their fills; positions, balances and activities of both sides."""
        value = trade.qty * trade.price
        self._fill(trade, trade.maker_order_id, trade.maker_account, "maker", value)
        self._fill(trade, trade.taker_order_id, trade.taker_account, "taker", value)
        if trade.aggressor == BUY:
            buyer, seller = trade.taker_account, trade.maker_account
            buy_order, sell_order = trade.taker_order_id, trade.maker_order_id
            buy_fee, sell_fee = trade.taker_fee, trade.maker_fee
        else:
            buyer, seller = trade.maker_account, trade.taker_account
            buy_order, sell_order = trade.maker_order_id, trade.taker_order_id
            buy_fee, sell_fee = trade.maker_fee, trade.taker_fee
        self._post(trade, buyer, seller, value, buy_fee, sell_fee)
        shown = f"{trade.qty} {trade.symbol} at ${format_price(trade.price)}"
        self._traded(trade, buyer, buy_order, trade.qty, -value, "bought " + shown)
        if buy_fee:
            self._fee(trade, buyer, buy_order, buy_fee)
        self._traded(trade, seller, sell_order, -trade.qty, value, "sold " + shown)
        if sell_fee:
            self._fee(trade, seller, sell_order, sell_fee)

    def _fill(
        self, trade: TradeExecuted, order_id: int, account: str, liquidity: str, value: int
    ) -> None:
        """One side's order after the fill, and its row of `FILL_COLUMNS`."""
        maker = liquidity == "maker"
        leaves = trade.maker_leaves if maker else trade.taker_leaves
        row = self.orders[order_id]
        row["filled_qty"] += trade.qty
        row["filled_notional"] += value
        row["leaves_qty"] = leaves
        row["status"] = "partially_filled" if leaves else "filled"
        row["updated_seq"] = trade.seq
        row["updated_ts"] = trade.ts
        fee = trade.maker_fee if maker else trade.taker_fee
        self.fills.append(
            (trade.seq, trade.ts, trade.symbol, trade.trade_id, order_id, account, row["side"],
             trade.price, trade.qty, fee, liquidity, leaves)
        )  # fmt: skip

    def _post(
        self,
        trade: TradeExecuted,
        buyer: str,
        seller: str,
        value: int,
        buy_fee: int,
        sell_fee: int,
    ) -> None:
        """Positions and cash of both sides, as the ledger posts a fill."""
        seq, symbol, qty = trade.seq, trade.symbol, trade.qty
        # The buyer posts first, as in the ledger: a self-trade's sell then sees the shares.
        position = self.position(buyer, symbol, seq)
        position["qty"] += qty
        position["cost"] += value
        position["updated_seq"] = seq
        position = self.position(seller, symbol, seq)
        held = position["qty"]
        cost = position["cost"]
        removed = cost if qty == held else cost * qty // held
        position["cost"] = cost - removed
        position["qty"] = held - qty
        position["realized"] += value - removed
        position["updated_seq"] = seq
        balance = self.balance(buyer)
        balance["unsettled"] -= value + buy_fee
        balance["fees"] += buy_fee
        balance["updated_seq"] = seq
        balance = self.balance(seller)
        balance["unsettled"] += value - sell_fee
        balance["fees"] += sell_fee
        balance["updated_seq"] = seq

    def _traded(
        self,
        trade: TradeExecuted,
        account: str,
        order_id: int,
        qty: int,
        amount: int,
        description: str,
    ) -> None:
        self.activities.append(
            (trade.seq, trade.ts, account, "trade", trade.symbol, qty, trade.price, amount,
             order_id, trade.trade_id, description)
        )  # fmt: skip

    def _fee(self, trade: TradeExecuted, account: str, order_id: int, fee: int) -> None:
        symbol = trade.symbol
        self.activity(
            trade,
            account,
            "fee",
            f"fee ${format_price(fee)} on trade {trade.trade_id} in {symbol}",
            symbol,
            amount=-fee,
            order_id=order_id,
            trade_id=trade.trade_id,
        )

    # ------------------------------------------------------------------ accounts

    def opened(self, event: AccountOpened) -> None:
        if event.account in self.balances:
            raise InvariantViolation(f"account {event.account!r} opened twice")
        kind = _ACCOUNT_KIND[event.kind]
        row = {
            "account": event.account,
            "kind": kind,
            "status": _ACCOUNT_STATUS[AccountStatus.ACTIVE],
            "settled": 0,
            "unsettled": 0,
            "deposited": 0,
            "withdrawn": 0,
            "fees": 0,
            "updated_seq": event.seq,
        }
        self.balances[event.account] = row
        self.new_balances.append(row)
        self.activity(event, event.account, "status", f"{kind} account opened")

    def status_changed(self, event: AccountStatusChanged) -> None:
        row = self.balance(event.account)
        status = _ACCOUNT_STATUS[event.status]
        row["status"] = status
        row["updated_seq"] = event.seq
        self.activity(event, event.account, "status", f"account {status}")

    def deposited(self, event: FundsDeposited) -> None:
        row = self.balance(event.account)
        row["settled"] += event.amount
        row["deposited"] += event.amount
        row["updated_seq"] = event.seq
        shown = format_price(event.amount)
        self.activity(event, event.account, "deposit", f"deposit ${shown}", amount=event.amount)

    def withdrawn(self, event: FundsWithdrawn) -> None:
        row = self.balance(event.account)
        row["settled"] -= event.amount
        row["withdrawn"] += event.amount
        row["updated_seq"] = event.seq
        self.activity(
            event,
            event.account,
            "withdrawal",
            f"withdrawal ${format_price(event.amount)}",
            amount=-event.amount,
        )

    def settled(self, event: FundsSettled) -> None:
        row = self.balance(event.account)
        row["unsettled"] -= event.amount
        row["settled"] += event.amount
        row["updated_seq"] = event.seq
        verb = "received" if event.amount >= 0 else "paid"
        self.activity(
            event,
            event.account,
            "settlement",
            f"settlement: ${format_price(abs(event.amount))} {verb}",
            amount=event.amount,
        )

    def shares_deposited(self, event: SharesDeposited) -> None:
        row = self.position(event.account, event.symbol, event.seq)
        row["qty"] += event.qty
        row["cost"] += event.qty * event.cost_price
        row["updated_seq"] = event.seq
        self.activity(
            event,
            event.account,
            "shares_in",
            f"{event.qty} {event.symbol} delivered in at ${format_price(event.cost_price)}",
            event.symbol,
            event.qty,
            event.cost_price,
        )

    def shares_withdrawn(self, event: SharesWithdrawn) -> None:
        row = self.position(event.account, event.symbol, event.seq)
        row["qty"] -= event.qty
        row["cost"] -= event.cost
        row["updated_seq"] = event.seq
        self.activity(
            event,
            event.account,
            "shares_out",
            f"{event.qty} {event.symbol} delivered out, cost basis ${format_price(event.cost)}",
            event.symbol,
            -event.qty,
        )

    def day_trade(self, event: DayTradeCounted) -> None:
        self.activity(
            event,
            event.account,
            "day_trade",
            f"day trade in {event.symbol}: {event.count} within the window",
            event.symbol,
            order_id=event.order_id,
        )


_BALANCE_EVENTS = frozenset({AccountStatusChanged, FundsDeposited, FundsWithdrawn, FundsSettled})

_HANDLERS: dict[type[Event], Callable[[_Work, Any], None]] = {
    TradeExecuted: _Work.trade,
    OrderAccepted: _Work.accepted,
    OrderCanceled: _Work.canceled,
    OrderRejected: _Work.rejected,
    OrderReplaced: _Work.replaced,
    OrderExpired: _Work.expired,
    StopTriggered: _Work.triggered,
    AccountOpened: _Work.opened,
    AccountStatusChanged: _Work.status_changed,
    FundsDeposited: _Work.deposited,
    FundsWithdrawn: _Work.withdrawn,
    FundsSettled: _Work.settled,
    SharesDeposited: _Work.shares_deposited,
    SharesWithdrawn: _Work.shares_withdrawn,
    DayTradeCounted: _Work.day_trade,
}
"""The events that change a read model; the rest (book and market state) change none."""
