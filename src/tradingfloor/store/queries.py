"""Reads of the read models for the gateway: orders, fills, positions, balances, activities.

Each function takes a `Connection` (the caller owns the transaction) and returns frozen msgspec
structs, ready to encode (`msgspec.structs.asdict` gives a dict). Lists are bounded by `limit`
(1 to `rows_per_query_max`) and paged by keyset: pass the id of the last row of a page as
`after_*` to get the next one, in the same direction.

Order ids grow with the sequence number of the command that created the order (the engine
refuses any id not above every id before it), so orders sort by `created_seq` and by `order_id`
alike; fills and activities sort by (`seq`, id).
"""

from collections.abc import Collection
from typing import Any, Literal

import msgspec
from sqlalchemy import Connection, Select, and_, or_, select

from tradingfloor.domain.fractions import average_fill_price
from tradingfloor.store.readmodels import (
    CLOSED_ORDER_STATUSES,
    OPEN_ORDER_STATUSES,
    ORDER_STATUSES,
    account_balances,
    activities,
    fills,
    orders,
    positions,
)

rows_per_query_max = 10_000
"""The most rows one list call returns."""

Direction = Literal["asc", "desc"]


class OrderRow(msgspec.Struct, frozen=True):
    """One order as projected. Side, type, time in force and quantity are None for a rejected
    order (its event does not carry them). Prices are in price units."""

    order_id: int
    account: str
    symbol: str
    side: str | None
    order_type: str | None
    tif: str | None
    qty: int | None
    price: int | None
    stop_price: int | None
    client_order_id: str
    status: str
    filled_qty: int
    leaves_qty: int
    filled_notional: int
    reject_code: int | None
    cancel_reason: str | None
    replaced_by: int | None
    replaces: int | None
    created_seq: int
    created_ts: int
    updated_seq: int
    updated_ts: int
    order_class: str = "simple"
    parent_order_id: int | None = None
    fraction: int = 0
    filled_fraction: int = 0
    fraction_price: int | None = None
    notional: int | None = None

    @property
    def average_fill_price(self) -> int | None:
        """The mean fill price in price units, rounded down; None before the first fill.
        (`filled_notional / filled_qty` is the exact value without a fraction.)"""
        return average_fill_price(
            self.filled_qty, self.filled_notional, self.filled_fraction, self.fraction_price
        )


class FillRow(msgspec.Struct, frozen=True):
    """One side of one trade: the order's account, side, and maker or taker liquidity."""

    fill_id: int
    seq: int
    ts: int
    symbol: str
    trade_id: int
    order_id: int
    account: str
    side: str
    price: int
    qty: int
    fee: int
    liquidity: str
    leaves_after: int


class TradeRow(msgspec.Struct, frozen=True):
    """A public trade: no account, no order; `side` is the aggressor's (the taker's)."""

    symbol: str
    trade_id: int
    seq: int
    ts: int
    price: int
    qty: int
    side: str


class PositionRow(msgspec.Struct, frozen=True):
    """`cost` is the basis of `qty` (average cost); `realized` the P&L of what was sold."""

    account: str
    symbol: str
    qty: int
    cost: int
    realized: int
    updated_seq: int
    settled_qty: int = 0
    """Shares settled; `qty - settled_qty` are still to settle (negative: sold)."""
    fraction: int = 0
    """Nano-shares beyond `qty` (`domain.fractions`)."""

    @property
    def unsettled_qty(self) -> int:
        return self.qty - self.settled_qty

    @property
    def average_cost(self) -> int:
        """Cost per share, rounded down to the price unit (0 when flat), as the ledger's."""
        return self.cost // self.qty if self.qty else 0


class BalanceRow(msgspec.Struct, frozen=True):
    """Cash is `settled + unsettled` (unsettled is negative while purchases are owed).
    `good_faith_violations` within the rule's window, and the last day of the restriction
    to settled cash they brought (None: not restricted)."""

    account: str
    kind: str
    status: str
    settled: int
    unsettled: int
    deposited: int
    withdrawn: int
    fees: int
    updated_seq: int
    good_faith_violations: int = 0
    restricted_until: str | None = None

    @property
    def cash(self) -> int:
        return self.settled + self.unsettled


class ActivityRow(msgspec.Struct, frozen=True):
    """One entry of an account's history; `qty` and `amount` are signed from its side."""

    activity_id: int
    seq: int
    ts: int
    account: str
    kind: str
    symbol: str | None
    qty: int | None
    price: int | None
    amount: int | None
    order_id: int | None
    trade_id: int | None
    description: str


def get_order(connection: Connection, order_id: int) -> OrderRow | None:
    """The order with this id, any account (the caller checks ownership), or None."""
    row = connection.execute(select(orders).where(orders.c.order_id == order_id)).first()
    return None if row is None else OrderRow(**row._mapping)


legs_per_read_max = 1_000
"""Legs one `list_legs` reads at most (a page of parents has two legs each at most)."""


def list_legs(connection: Connection, parent_order_ids: list[int]) -> list[OrderRow]:
    """The legs of these bracket, OCO or OTO orders, by order id."""
    query = (
        select(orders)
        .where(orders.c.parent_order_id.in_(parent_order_ids[: legs_per_read_max // 2]))
        .order_by(orders.c.order_id)
        .limit(legs_per_read_max)
    )
    return [OrderRow(**row._mapping) for row in connection.execute(query)]


def get_order_by_client_id(
    connection: Connection, account: str, client_order_id: str
) -> OrderRow | None:
    """The account's order with this client order id; None for the empty id, which names no
    order. An id names one order (a replacement has its own); in rows projected before that
    a replacement shared its predecessor's, and the newest, the live one, is the answer."""
    if not client_order_id:
        return None
    query = (
        select(orders)
        .where(orders.c.account == account, orders.c.client_order_id == client_order_id)
        .order_by(orders.c.order_id.desc())
        .limit(1)
    )
    row = connection.execute(query).first()
    return None if row is None else OrderRow(**row._mapping)


def list_orders(
    connection: Connection,
    account: str,
    status: str | None = None,
    symbol: str | None = None,
    after_ts: int | None = None,
    until_ts: int | None = None,
    limit: int = 50,
    after_order_id: int | None = None,
    direction: Direction = "desc",
) -> list[OrderRow]:
    """The account's orders, newest first by default.

    `status`: None or "all", "open" (new, partially filled, pending trigger), "closed" (every
    other), or one status by name. `after_ts` and `until_ts` bound the creation time, both
    exclusive. `after_order_id` continues a listing after that order, in `direction`.
    """
    query = select(orders).where(orders.c.account == account)
    if status is not None and status != "all":
        query = query.where(orders.c.status.in_(sorted(_statuses(status))))
    if symbol is not None:
        query = query.where(orders.c.symbol == symbol)
    if after_ts is not None:
        query = query.where(orders.c.created_ts > after_ts)
    if until_ts is not None:
        query = query.where(orders.c.created_ts < until_ts)
    descending = _descending(direction)
    if after_order_id is not None:
        # Seeks on (account, created_seq) instead of filtering from the first order.
        after_seq = (
            select(orders.c.created_seq)
            .where(orders.c.order_id == after_order_id)
            .scalar_subquery()
        )
        if descending:
            query = query.where(
                orders.c.created_seq <= after_seq, orders.c.order_id < after_order_id
            )
        else:
            query = query.where(
                orders.c.created_seq >= after_seq, orders.c.order_id > after_order_id
            )
    keys = (orders.c.created_seq, orders.c.order_id)
    query = query.order_by(*(key.desc() if descending else key for key in keys))
    return [OrderRow(**row._mapping) for row in _limited(connection, query, limit)]


def list_fills(
    connection: Connection,
    account: str,
    order_id: int | None = None,
    symbol: str | None = None,
    limit: int = 100,
    after_seq: int | None = None,
    after_fill_id: int | None = None,
    direction: Direction = "asc",
) -> list[FillRow]:
    """The account's fills, oldest first by default: of one order, one symbol, or all.

    `after_seq` keeps fills of commands after that sequence number (read your writes: a
    client that was answered at seq N asks for what followed); `after_fill_id` continues a
    listing after that fill, in `direction`.
    """
    query = select(fills).where(fills.c.account == account)
    if order_id is not None:
        query = query.where(fills.c.order_id == order_id)
    if symbol is not None:
        query = query.where(fills.c.symbol == symbol)
    if after_seq is not None:
        query = query.where(fills.c.seq > after_seq)
    descending = _descending(direction)
    if after_fill_id is not None:
        query = _after(query, fills, fills.c.fill_id, after_fill_id, descending)
    query = query.order_by(*_ordering(fills, fills.c.fill_id, descending))
    return [FillRow(**row._mapping) for row in _limited(connection, query, limit)]


def fills_of_orders(
    connection: Connection, account: str, order_ids: Collection[int]
) -> dict[int, list[FillRow]]:
    """The fills of each of the account's `order_ids` (at most a page of orders), oldest
    first."""
    found: dict[int, list[FillRow]] = {order_id: [] for order_id in order_ids}
    if not found:
        return found
    query = (
        select(fills)
        .where(fills.c.account == account, fills.c.order_id.in_(sorted(found)))
        .order_by(*_ordering(fills, fills.c.fill_id, False))
    )
    for row in connection.execute(query):
        found[row.order_id].append(FillRow(**row._mapping))
    return found


def list_activities(
    connection: Connection,
    account: str,
    kinds: Collection[str] | None = None,
    after_seq: int | None = None,
    until_seq: int | None = None,
    limit: int = 100,
    after_activity_id: int | None = None,
    direction: Direction = "asc",
) -> list[ActivityRow]:
    """The account's activities, oldest first by default, of `kinds` if given (see
    `readmodels.ACTIVITY_KINDS`), with `after_seq < seq <= until_seq`."""
    query = select(activities).where(activities.c.account == account)
    if kinds is not None:
        query = query.where(activities.c.kind.in_(sorted(kinds)))
    if after_seq is not None:
        query = query.where(activities.c.seq > after_seq)
    if until_seq is not None:
        query = query.where(activities.c.seq <= until_seq)
    descending = _descending(direction)
    if after_activity_id is not None:
        query = _after(query, activities, activities.c.activity_id, after_activity_id, descending)
    query = query.order_by(*_ordering(activities, activities.c.activity_id, descending))
    return [ActivityRow(**row._mapping) for row in _limited(connection, query, limit)]


def list_positions(connection: Connection, account: str) -> list[PositionRow]:
    """The account's open positions, and closed ones with realized P&L, by symbol (as the
    engine's own position view)."""
    query = (
        select(positions)
        .where(
            positions.c.account == account,
            or_(positions.c.qty != 0, positions.c.realized != 0),
        )
        .order_by(positions.c.symbol)
    )
    return [PositionRow(**row._mapping) for row in connection.execute(query)]


def get_balances(connection: Connection, account: str) -> BalanceRow | None:
    """The account's cash and status, or None if it was never opened: on a platform of
    several shards, the sums of every shard's part (the first shard's row tells the kind and
    status, which every shard shares)."""
    query = (
        select(account_balances)
        .where(account_balances.c.account == account)
        .order_by(account_balances.c.shard)
    )
    rows = [row._mapping for row in connection.execute(query)]
    if not rows:
        return None
    summed = {
        name: sum(row[name] for row in rows)
        for name in ("settled", "unsettled", "deposited", "withdrawn", "fees")
    }
    first = rows[0]
    restrictions = [row["restricted_until"] for row in rows if row["restricted_until"]]
    return BalanceRow(
        account,
        first["kind"],
        first["status"],
        updated_seq=max(row["updated_seq"] for row in rows),
        # Each shard counts the violations of the sales it matched: the account's is the
        # newest count any shard told, and the latest restriction.
        good_faith_violations=max(row["good_faith_violations"] for row in rows),
        restricted_until=max(restrictions) if restrictions else None,
        **summed,
    )


def trades_for_symbol(connection: Connection, symbol: str, limit: int = 100) -> list[TradeRow]:
    """The symbol's most recent trades, newest first (one row per trade: its taker side)."""
    query = (
        select(
            fills.c.symbol,
            fills.c.trade_id,
            fills.c.seq,
            fills.c.ts,
            fills.c.price,
            fills.c.qty,
            fills.c.side,
        )
        .where(fills.c.symbol == symbol, fills.c.liquidity == "taker")
        .order_by(fills.c.trade_id.desc())
    )
    return [TradeRow(**row._mapping) for row in _limited(connection, query, limit)]


def _statuses(status: str) -> frozenset[str]:
    if status == "open":
        return OPEN_ORDER_STATUSES
    if status == "closed":
        return CLOSED_ORDER_STATUSES
    if status in ORDER_STATUSES:
        return frozenset({status})
    raise ValueError(f"unknown order status {status!r}")


def _descending(direction: str) -> bool:
    if direction not in ("asc", "desc"):
        raise ValueError(f"direction must be 'asc' or 'desc', not {direction!r}")
    return direction == "desc"


def _after(query: Select[Any], table: Any, id_column: Any, after_id: int, descending: bool) -> Any:
    """Rows after (`seq`, id) of the row `after_id` in the listing's direction."""
    after_seq = select(table.c.seq).where(id_column == after_id).scalar_subquery()
    if descending:
        later = or_(table.c.seq < after_seq, and_(table.c.seq == after_seq, id_column < after_id))
    else:
        later = or_(table.c.seq > after_seq, and_(table.c.seq == after_seq, id_column > after_id))
    return query.where(later)


def _ordering(table: Any, id_column: Any, descending: bool) -> tuple[Any, ...]:
    if descending:
        return table.c.seq.desc(), id_column.desc()
    return table.c.seq, id_column


def _limited(connection: Connection, query: Select[Any], limit: int) -> Any:
    if not 1 <= limit <= rows_per_query_max:
        raise ValueError(f"limit must be 1 to {rows_per_query_max}, not {limit}")
    return connection.execute(query.limit(limit))
