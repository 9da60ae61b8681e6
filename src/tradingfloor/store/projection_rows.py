"""The rows one batch of events touches: read once, changed in memory, written back at the end.

`BatchRows.load` reads every existing row the batch's events name in a few queries; the
handlers (`tradingfloor.store.projection_ledger`) change them in memory, in event order; `flush`
writes them back with one statement per table and kind. Orders are `OrderState`s, changed by
the domain's one reducer (`tradingfloor.domain.order_state`); positions and balances are dicts
of their columns; fills and activities, only ever inserted, are tuples ready for the driver.
"""

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    AccountOpened,
    AccountStatusChanged,
    BreakResolved,
    CashAllocatedIn,
    CashAllocatedOut,
    DividendPaid,
    Event,
    FractionFilled,
    FundsDeposited,
    FundsSettled,
    FundsWithdrawn,
    GoodFaithViolation,
    LegHeld,
    OrderAccepted,
    OrderRejected,
    OrderReplaced,
    SharesDeposited,
    SharesSettled,
    SharesWithdrawn,
    StockSplitApplied,
    SymbolChanged,
    SymbolHandedOver,
    SymbolTakenOver,
    TradeExecuted,
)
from tradingfloor.domain.order_state import (
    NO_ORDER_REJECTS,
    ORDER_EVENTS,
    OrderStates,
    order_ids_of,
)
from tradingfloor.domain.shards import is_leg_id
from tradingfloor.store.order_rows import row_values, state_of_values
from tradingfloor.store.projection_sql import Row, TableSql, statements_for
from tradingfloor.store.readmodels import OPEN_ORDER_STATUSES, projection_state
from tradingfloor.store.readmodels import orders as orders_table

Batch = list[tuple[int, int, list[Event]]]

in_list_size_max = 500
"""Keys per `IN (...)` when a batch reads the rows it touches."""

BALANCE_EVENTS = frozenset(
    {
        AccountStatusChanged,
        FundsDeposited,
        FundsWithdrawn,
        FundsSettled,
        CashAllocatedOut,
        CashAllocatedIn,
        DividendPaid,
        GoodFaithViolation,
    }
)
"""Events that change an existing account's balance row (an opening makes one)."""
POSITION_EVENTS = frozenset({SharesDeposited, SharesWithdrawn, SharesSettled})
"""Events that change one position (a fill changes two)."""


class ProjectionBehind(RuntimeError):
    """Another shard's projection has to go further first (the batch is tried again)."""


class BatchRows:
    """The rows of one batch, in one transaction of `connection`."""

    def __init__(self, connection: Connection, shard_index: int = 0) -> None:
        self.connection = connection
        self.shard_index = shard_index
        """The shard whose events these are: its balance rows only."""
        self.sql = statements_for(connection.dialect)
        self.orders = OrderStates()
        self.positions: dict[tuple[str, str], Row] = {}
        self.new_positions: list[Row] = []
        self.balances: dict[str, Row] = {}
        self.new_balances: list[Row] = []
        self.fills: list[tuple[Any, ...]] = []
        self.activities: list[tuple[Any, ...]] = []
        self.deleted_positions: list[tuple[str, str]] = []
        """(account, symbol) of loaded position rows that moved to another symbol."""
        self.renamed_orders: list[tuple[str, int]] = []
        """(new symbol, order id) of the live orders a symbol change renamed: the symbol is
        not among the columns an order's update writes (it never changes otherwise)."""
        self.actions: dict[str, Row | None] = {}
        """Corporate actions' rows read in this batch, by id (`projection_settlement`)."""
        self.actions_marked: set[tuple[str, str]] = set()
        """(action id, status) of the corporate actions this batch has marked."""
        self._loaded_orders: set[int] = set()
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
        renamed: set[str] = set()
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
                elif kind is FractionFilled:
                    fill: FractionFilled = event  # type: ignore[assignment]
                    order_ids.add(fill.order_id)
                    for account in (fill.account, fill.desk_account):
                        position_keys.add((account, fill.symbol))
                        accounts.add(account)
                elif kind is OrderAccepted:
                    order_id = event.order_id  # type: ignore[attr-defined]
                    if is_leg_id(order_id) and order_id not in created:
                        order_ids.add(order_id)  # a held leg enters the book
                    else:
                        created.add(order_id)
                elif kind is LegHeld:
                    created.add(event.order_id)  # type: ignore[attr-defined]
                elif kind is OrderRejected:
                    if event.reason not in NO_ORDER_REJECTS:  # type: ignore[attr-defined]
                        created.add(event.order_id)  # type: ignore[attr-defined]
                elif kind is OrderReplaced:
                    order_ids.add(event.order_id)  # type: ignore[attr-defined]
                    created.add(event.new_order_id)  # type: ignore[attr-defined]
                elif kind in ORDER_EVENTS:
                    order_ids.update(order_ids_of(event))
                elif kind in POSITION_EVENTS:
                    position_keys.add((event.account, event.symbol))  # type: ignore[attr-defined]
                elif kind is AccountOpened:
                    opened.add(event.account)  # type: ignore[attr-defined]
                elif kind in BALANCE_EVENTS:
                    accounts.add(event.account)  # type: ignore[attr-defined]
                elif kind is SymbolHandedOver or kind is SymbolTakenOver:
                    accounts.update(account for account, _ in event.cash)  # type: ignore[attr-defined]
                elif kind is StockSplitApplied or kind is BreakResolved:
                    position_keys.add((event.account, event.symbol))  # type: ignore[attr-defined]
                    accounts.add(event.account)  # type: ignore[attr-defined]
                elif kind is SymbolChanged:
                    renamed.add(event.symbol)  # type: ignore[attr-defined]
                    renamed.add(event.new_symbol)  # type: ignore[attr-defined]
        self._load_orders(order_ids - created)
        self._load_positions(position_keys)
        self._load_balances(accounts - opened)
        if renamed:
            self._load_symbols(sorted(renamed), created)

    def _load_orders(self, order_ids: set[int]) -> None:
        orders = self.orders
        for values in self._select(self.sql.orders, "order_id", sorted(order_ids)):
            orders.add(state_of_values(values))
        missing = order_ids - orders.orders.keys()
        if missing:
            raise InvariantViolation(
                f"events name orders the read model never saw: {sorted(missing)[:10]}"
            )
        self._loaded_orders = set(order_ids)

    def _load_positions(self, keys: set[tuple[str, str]]) -> None:
        found = self.positions
        accounts = sorted({account for account, _ in keys})
        names = self.sql.positions.all_columns
        for values in self._select(self.sql.positions, "account", accounts):
            row = dict(zip(names, values, strict=True))
            key = (row["account"], row["symbol"])
            if key in keys:
                found[key] = row
        self._loaded_positions = list(found.values())

    def _load_symbols(self, symbols: list[str], created: set[int]) -> None:
        """For a symbol change: every position in the symbols (the old and the new name) and
        every open order of them, besides the rows `load` read already. Positions have no
        index by symbol (a scan, once per symbol change: rare, and an index would cost every
        fill's insert)."""
        positions = self.positions
        names = self.sql.positions.all_columns
        for values in self._select(self.sql.positions, "symbol", symbols):
            row = dict(zip(names, values, strict=True))
            key = (row["account"], row["symbol"])
            if key not in positions:
                positions[key] = row
                self._loaded_positions.append(row)
        orders = self.orders
        query = select(orders_table).where(
            orders_table.c.symbol.in_(symbols),
            orders_table.c.status.in_(sorted(OPEN_ORDER_STATUSES)),
        )
        for values in self.connection.execute(query):
            state = state_of_values(tuple(values))
            if state.order_id not in orders.orders and state.order_id not in created:
                orders.add(state)
                self._loaded_orders.add(state.order_id)

    def _load_balances(self, accounts: set[str]) -> None:
        found = self.balances
        names = self.sql.balances.all_columns
        for values in self._select(self.sql.balances, "account", sorted(accounts)):
            row = dict(zip(names, values, strict=True))
            if row["shard"] == self.shard_index:
                found[row["account"]] = row
        self._loaded_balances = list(found.values())

    def _select(self, table: TableSql, column: str, keys: list[Any]) -> Iterator[tuple[Any, ...]]:
        """The rows of `table` whose `column` is one of `keys`, in its column order."""
        execute = self.connection.exec_driver_sql
        for start in range(0, len(keys), in_list_size_max):
            chunk = tuple(keys[start : start + in_list_size_max])
            yield from execute(table.select_where_in(column, len(chunk)), chunk)

    def flush(self) -> None:
        """Write every new and changed row: one statement per table and kind (or a few)."""
        sql = self.sql
        connection = self.connection
        loaded = self._loaded_orders
        inserted_orders = []
        updated_orders = []
        update_values = sql.orders.update_values_of_tuple
        for order_id, state in self.orders.orders.items():
            if order_id in loaded:
                updated_orders.append(update_values(row_values(state)))
            else:
                inserted_orders.append(row_values(state))
        if inserted_orders:
            sql.orders.insert_rows(connection, inserted_orders)
        if updated_orders:
            sql.orders.update_rows(connection, updated_orders)
        if self.renamed_orders:
            connection.execute(
                update(orders_table)
                .where(orders_table.c.order_id == bindparam("renamed_id"))
                .values(symbol=bindparam("new_symbol")),
                [
                    {"new_symbol": new, "renamed_id": order_id}
                    for new, order_id in self.renamed_orders
                ],
            )
        if self.deleted_positions:
            sql.positions.delete_rows(connection, self.deleted_positions)
        for table, inserted, updated in (
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
                "settled_qty": 0,
                "fraction": 0,
            }
            self.new_positions.append(row)
        return row

    def rename_positions(self, symbol: str, new_symbol: str, seq: int) -> list[Row]:
        """Move every position in `symbol` to `new_symbol` (added to one there, if any);
        returns the rows in `new_symbol` that took one in."""
        moved = []
        for key in [key for key in self.positions if key[1] == symbol]:
            row = self.positions.pop(key)
            if any(new is row for new in self.new_positions):
                self.new_positions = [new for new in self.new_positions if new is not row]
            else:
                self._loaded_positions = [old for old in self._loaded_positions if old is not row]
                self.deleted_positions.append(key)
            target = self.position(key[0], new_symbol, seq)
            for column in ("qty", "cost", "realized", "settled_qty", "fraction"):
                target[column] += row[column]
            target["updated_seq"] = seq
            moved.append(target)
        return moved

    def require_projected(self, shard: str, seq: int) -> None:
        """Refuse (`ProjectionBehind`, retried) while shard `shard`'s projection has not
        reached `seq`: a symbol that moved here at `seq` there has rows (its orders, its
        positions) that shard's projector must have written first."""
        names = (f"shard:{shard}", "main")  # the first shard's projection is `main`
        found = dict(
            self.connection.execute(
                select(projection_state.c.name, projection_state.c.last_seq).where(
                    projection_state.c.name.in_(names)
                )
            ).all()
        )
        reached = int(found.get(names[0], found.get(names[1])) or 0)
        if reached < seq:
            raise ProjectionBehind(f"shard {shard}'s read models are at {reached}, not {seq}")

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
