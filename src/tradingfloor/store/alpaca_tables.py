"""What `/v2` keeps per account beyond the engine's state: Alpaca's account configurations and
watchlists. The gateway writes them (not the projector): they are the client's preferences,
no command of the engine. Revision 0010 creates them. Times are integer ns."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from tradingfloor.domain.ids import ACCOUNT_ID_LENGTH_MAX, SYMBOL_LENGTH_MAX
from tradingfloor.store.schema import metadata

WATCHLIST_NAME_LENGTH_MAX = 64
"""Alpaca's limit on a watchlist's name."""
WATCHLIST_ID_LENGTH = 36
"""A UUID's text."""

account_configurations = Table(
    "account_configurations",
    metadata,
    Column("account", String(ACCOUNT_ID_LENGTH_MAX), primary_key=True),
    Column("dtbp_check", String(8), nullable=False),
    Column("pdt_check", String(8), nullable=False),
    Column("trade_confirm_email", String(8), nullable=False),
    Column("suspend_trade", Boolean, nullable=False),
    Column("no_shorting", Boolean, nullable=False),
    Column("fractional_trading", Boolean, nullable=False),
    Column("max_margin_multiplier", String(4), nullable=False),
    Column("ptp_no_exception_entry", Boolean, nullable=False),
    Column("max_options_trading_level", Integer, nullable=True),
    Column("updated_ts", BigInteger, nullable=False),
)

watchlists = Table(
    "watchlists",
    metadata,
    Column("watchlist_id", String(WATCHLIST_ID_LENGTH), primary_key=True),
    Column("account", String(ACCOUNT_ID_LENGTH_MAX), nullable=False, index=True),
    Column("name", String(WATCHLIST_NAME_LENGTH_MAX), nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    UniqueConstraint("account", "name", name="uq_watchlists_account_name"),
)

watchlist_assets = Table(
    "watchlist_assets",
    metadata,
    Column(
        "watchlist_id",
        String(WATCHLIST_ID_LENGTH),
        ForeignKey("watchlists.watchlist_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("symbol", String(SYMBOL_LENGTH_MAX), primary_key=True),
    # The order the symbols were added in (Alpaca lists them so).
    Column("position", Integer, nullable=False),
)
