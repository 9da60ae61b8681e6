"""Read models and accounts in SQL: SQLAlchemy Core tables, SQLite or PostgreSQL, Alembic.

`schema` holds the credentials' tables and `readmodels` the tables projected from the engine's
events (`projector`), both on one `metadata`, as the newest migration leaves them;
`settlement_tables` the end of day's (settlement days, breaks, corporate actions);
`audit_tables` the audit trail's anchors;
`surveillance_tables` the surveillance review queue;
`trade_reports` the reporting role's trade reports;
`quote_tables` the book's price levels and the quote at each order's arrival;
`alpaca_tables` `/v2`'s account configurations and watchlists;
`market_history_tables` minute bars and the top of book after each change;
`migrations/versions` holds the history that builds them. `database.upgrade(url)` brings any
database to the newest. `queries` reads the projections for the gateway.
"""

from tradingfloor.store.alpaca_tables import (
    account_configurations,
    watchlist_assets,
    watchlists,
)
from tradingfloor.store.audit_tables import audit_anchors
from tradingfloor.store.database import downgrade, make_engine, upgrade
from tradingfloor.store.market_history_tables import minute_bars, quote_history
from tradingfloor.store.quote_tables import arrival_quotes, book_levels
from tradingfloor.store.readmodels import (
    account_balances,
    activities,
    fills,
    orders,
    positions,
    projection_state,
)
from tradingfloor.store.schema import api_keys, auth_events, metadata, refresh_tokens, users
from tradingfloor.store.settlement_tables import breaks, corporate_actions, settlement_days
from tradingfloor.store.surveillance_tables import surveillance_alerts, surveillance_positions
from tradingfloor.store.trade_reports import trade_reports

__all__ = [
    "account_balances",
    "account_configurations",
    "activities",
    "api_keys",
    "arrival_quotes",
    "audit_anchors",
    "auth_events",
    "book_levels",
    "breaks",
    "corporate_actions",
    "downgrade",
    "fills",
    "make_engine",
    "metadata",
    "minute_bars",
    "orders",
    "positions",
    "projection_state",
    "quote_history",
    "refresh_tokens",
    "settlement_days",
    "surveillance_alerts",
    "surveillance_positions",
    "trade_reports",
    "upgrade",
    "users",
    "watchlist_assets",
    "watchlists",
]
