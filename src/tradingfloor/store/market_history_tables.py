"""Read models of the market's history: minute bars and the top of book after each change.

`minute_bars` holds one row per symbol and minute with a trade: open, high, low and close in
price units, volume and trade count, and the notional (sum of price x qty over the minute's
trades, exact), so that the volume-weighted average price is `notional / volume` and bars of
any length add up from minutes exactly. `start_ts` is the first ns of the minute (UTC).

`quote_history` holds the best bid and ask (price and shares, None when a side is empty) as
each command that changed them left them: at most one row per command and symbol, so it grows
as the orders table does, never faster. Revision 0011 creates both (empty: the history starts
at the upgrade) and an index of the fills by symbol and time, which the trades API reads.
"""

from sqlalchemy import BigInteger, Column, Index, String, Table

from tradingfloor.store.readmodels import ROW_ID, fills
from tradingfloor.store.schema import metadata

minute_bars = Table(
    "minute_bars",
    metadata,
    Column("symbol", String, primary_key=True),
    Column("start_ts", BigInteger, primary_key=True, autoincrement=False),
    Column("open", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    Column("low", BigInteger, nullable=False),
    Column("close", BigInteger, nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("trade_count", BigInteger, nullable=False),
    Column("notional", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

quote_history = Table(
    "quote_history",
    metadata,
    # Numbered in the order written: a symbol's quotes are written in time order (one shard
    # at a time projects a symbol), and seqs are per shard, so (symbol, seq) could repeat.
    Column("quote_id", ROW_ID, primary_key=True, autoincrement=True),
    Column("symbol", String, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("bid", BigInteger, nullable=True),
    Column("bid_qty", BigInteger, nullable=False),
    Column("ask", BigInteger, nullable=True),
    Column("ask_qty", BigInteger, nullable=False),
    Index("ix_quote_history_symbol_ts", "symbol", "ts", "quote_id"),
)

fills_by_symbol_ts = Index("ix_fills_symbol_ts", fills.c.symbol, fills.c.ts)
"""The trades of a symbol in a time range (one row per trade is its taker side)."""

MARKET_HISTORY_TABLES = (minute_bars, quote_history)
