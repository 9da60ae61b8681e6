"""Read models of the quote: the book's price levels, and the quote each order arrived to.

Execution-quality reports (Rule 605 and 606 style) measure an order against the best bid and
ask at its arrival. The projector keeps each symbol's resting quantity per price level
(`book_levels`, from the order events alone) and, at each order's arrival (an accepted order,
or the successor of a replace), writes the best bid and ask it found (`arrival_quotes`).
Revision 0009 creates both, its levels from the open orders of the time.

A level is the leaves of the open limit orders (and elected stop limits) at one price: the
orders that rest on the book. Prices are price units, quantities shares, times ns.
"""

from sqlalchemy import BigInteger, Column, String, Table

from tradingfloor.store.readmodels import ROW_ID
from tradingfloor.store.schema import metadata

book_levels = Table(
    "book_levels",
    metadata,
    Column("symbol", String, primary_key=True),
    Column("side", String(4), primary_key=True),  # "buy" or "sell"
    Column("price", BigInteger, primary_key=True),
    Column("qty", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

arrival_quotes = Table(
    "arrival_quotes",
    metadata,
    Column("order_id", ROW_ID, primary_key=True, autoincrement=False),
    Column("symbol", String, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    # None: that side of the book was empty when the order arrived.
    Column("bid", BigInteger, nullable=True),
    Column("bid_qty", BigInteger, nullable=False),
    Column("ask", BigInteger, nullable=True),
    Column("ask_qty", BigInteger, nullable=False),
)

QUOTE_TABLES = (book_levels, arrival_quotes)
