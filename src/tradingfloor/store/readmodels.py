"""Read models: the tables that `tradingfloor.store.projector` projects from the engine's events.

They live on the same `metadata` as the credentials in `schema` (one Alembic history, revision
0002 creates them). Money and prices are integers in price units (1/10,000 dollar), quantities
whole shares, times integer nanoseconds (`*_ts`), and every row says which command last wrote it
(`*_seq`). Enumerations are stored by lowercase name ("buy", "stop_limit", "partially_filled"),
the words the API speaks.

Text columns the engine takes from clients (account, symbol, client order id) have no length
limit here: the projection mirrors what the engine accepted and must never stop on it, so their
limits belong to the gateway that lets them in.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tradingfloor.store.schema import metadata

# On SQLite a column declared exactly INTEGER PRIMARY KEY is the row id: it numbers new rows
# itself (fills, activities) and, given (orders), spares the table a second B-tree for its key.
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

ORDER_STATUSES = (
    "new",
    "partially_filled",
    "filled",
    "canceled",
    "expired",
    "rejected",
    "replaced",
    "pending_trigger",
    "held",
)
OPEN_ORDER_STATUSES = frozenset({"new", "partially_filled", "pending_trigger", "held"})
CLOSED_ORDER_STATUSES = frozenset(ORDER_STATUSES) - OPEN_ORDER_STATUSES
ACTIVITY_KINDS = (
    "trade",
    "fee",
    "deposit",
    "withdrawal",
    "shares_in",
    "shares_out",
    "settlement",
    "day_trade",
    "status",
    "reject",
    "split",
    "dividend",
    "entitlement",
    "symbol_change",
    "good_faith",
    "adjustment",
    "fraction",
    "fraction_split",
)
PROJECTION_NAME_LENGTH_MAX = 64
# No CHECK constraints list the statuses or the kinds: the projector is the only writer and
# writes them from these constants, and on SQLite a CHECK of an IN list would cost more than
# the rest of the row's insert.


orders = Table(
    "orders",
    metadata,
    Column("order_id", ROW_ID, primary_key=True, autoincrement=False),
    Column("account", String, nullable=False),
    Column("symbol", String, nullable=False),
    # Side, type, time in force and quantity are unknown only for an order rejected before
    # `OrderRejected` carried the order's terms (older records).
    Column("side", String(4), nullable=True),
    Column("order_type", String(16), nullable=True),
    Column("tif", String(4), nullable=True),
    Column("qty", BigInteger, nullable=True),
    Column("price", BigInteger, nullable=True),
    Column("stop_price", BigInteger, nullable=True),
    Column("client_order_id", String, nullable=False),
    Column("status", String(16), nullable=False),
    Column("filled_qty", BigInteger, nullable=False),
    Column("leaves_qty", BigInteger, nullable=False),
    # Sum of qty x price over the fills: the average fill price is filled_notional / filled_qty.
    Column("filled_notional", BigInteger, nullable=False),
    Column("reject_code", Integer, nullable=True),
    Column("cancel_reason", String(32), nullable=True),
    Column("replaced_by", BigInteger, nullable=True),
    Column("replaces", BigInteger, nullable=True),
    Column("created_seq", BigInteger, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    # "simple", "bracket", "oco" or "oto"; a leg names its bracket, OCO or OTO order.
    Column("order_class", String(8), nullable=False, server_default="simple"),
    Column("parent_order_id", BigInteger, nullable=True),
    # A fractional order's nano-shares beyond qty, the part filled and its price; a notional
    # order's cash asked.
    Column("fraction", BigInteger, nullable=False, server_default="0"),
    Column("filled_fraction", BigInteger, nullable=False, server_default="0"),
    Column("fraction_price", BigInteger, nullable=True),
    Column("notional", BigInteger, nullable=True),
    Index("ix_orders_account_created_seq", "account", "created_seq"),
    Index("ix_orders_parent_order_id", "parent_order_id"),
    Index("ix_orders_account_status", "account", "status"),
    Index("ix_orders_account_client_order_id", "account", "client_order_id"),
    Index("ix_orders_symbol", "symbol"),
)

fills = Table(
    "fills",
    metadata,
    Column("fill_id", ROW_ID, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("symbol", String, nullable=False),
    Column("trade_id", BigInteger, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("account", String, nullable=False),
    Column("side", String(4), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("liquidity", String(5), nullable=False),  # "maker" or "taker"
    Column("leaves_after", BigInteger, nullable=False),
    # One row per side of a trade: trade ids count per symbol, and a trade has two sides.
    UniqueConstraint("symbol", "trade_id", "liquidity", name="uq_fills_symbol_trade_id_liquidity"),
    Index("ix_fills_account_seq", "account", "seq"),
    Index("ix_fills_order_id", "order_id"),
)

positions = Table(
    "positions",
    metadata,
    Column("account", String, primary_key=True),
    Column("symbol", String, primary_key=True),
    Column("qty", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),  # basis of `qty`, average cost
    Column("realized", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    # Shares whose settlement is done (delivered in, or settled at T+N); `qty - settled_qty`
    # are bought (positive) or sold (negative) and still to settle.
    Column("settled_qty", BigInteger, nullable=False, server_default="0"),
    # Nano-shares beyond `qty` (below one share: a fraction traded with the fractional desk).
    Column("fraction", BigInteger, nullable=False, server_default="0"),
)

account_balances = Table(
    "account_balances",
    metadata,
    Column("account", String, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("settled", BigInteger, nullable=False),
    Column("unsettled", BigInteger, nullable=False),
    Column("deposited", BigInteger, nullable=False),
    Column("withdrawn", BigInteger, nullable=False),
    Column("fees", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    # The shard whose part of the account's cash the row holds (0 on a platform of one).
    Column("shard", SmallInteger, primary_key=True, server_default="0"),
    # Good-faith violations within the rule's window, as of the last one this shard saw,
    # and the last day of the settled-cash-only restriction they brought (None: none).
    Column("good_faith_violations", Integer, nullable=False, server_default="0"),
    Column("restricted_until", String(10), nullable=True),
)

activities = Table(
    "activities",
    metadata,
    Column("activity_id", ROW_ID, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("account", String, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("symbol", String, nullable=True),
    Column("qty", BigInteger, nullable=True),  # signed: shares in (+) or out (-)
    Column("price", BigInteger, nullable=True),
    Column("amount", BigInteger, nullable=True),  # signed cash, this account's point of view
    Column("order_id", BigInteger, nullable=True),
    Column("trade_id", BigInteger, nullable=True),
    Column("description", Text, nullable=False),
    Index("ix_activities_account_seq", "account", "seq"),
)

projection_state = Table(
    "projection_state",
    metadata,
    Column("name", String(PROJECTION_NAME_LENGTH_MAX), primary_key=True),
    # The last command applied: a projector resumes at last_seq + 1.
    Column("last_seq", BigInteger, nullable=False),
)

READ_MODEL_TABLES = (orders, fills, positions, account_balances, activities, projection_state)
