"""How execution-quality reports sort orders: by type against the quote at arrival, by size.

Rule 605's order types: a market order; a limit order that is marketable (a buy at or above
the ask, a sell at or below the bid); inside the quote (strictly between bid and ask); at the
quote (a buy at the bid, a sell at the ask); near the quote (up to $0.10 worse than that).
An order needs a two-sided quote at its arrival to be covered; stops, limits farther from the
quote, and orders without a recorded quote are not. Rule 606 sorts every order into market,
marketable limit, non-marketable limit and other (stops).
"""

from tradingfloor.domain.prices import CENT
from tradingfloor.store.quality_queries import QuotedOrder

MARKET = "market"
MARKETABLE_LIMIT = "marketable_limit"
INSIDE_THE_QUOTE = "inside_the_quote_limit"
AT_THE_QUOTE = "at_the_quote_limit"
NEAR_THE_QUOTE = "near_the_quote_limit"
RULE_605_TYPES = (MARKET, MARKETABLE_LIMIT, INSIDE_THE_QUOTE, AT_THE_QUOTE, NEAR_THE_QUOTE)
NON_MARKETABLE_LIMIT = "non_marketable_limit"
OTHER = "other"
RULE_606_TYPES = (MARKET, MARKETABLE_LIMIT, NON_MARKETABLE_LIMIT, OTHER)

NEAR_THE_QUOTE_UNITS = 10 * CENT
"""How far from the quote (in price units) a near-the-quote limit order may be: $0.10."""

SIZE_BUCKETS = (
    ("odd_lot", 1, 99),
    ("100_499", 100, 499),
    ("500_1999", 500, 1_999),
    ("2000_4999", 2_000, 4_999),
    ("5000_9999", 5_000, 9_999),
    ("10000_plus", 10_000, None),
)
"""Shares of an order: (name, least, most); odd lots and 10,000 or more are buckets of
their own."""


def size_bucket(shares: int) -> str:
    for name, least, most in SIZE_BUCKETS:
        if shares >= least and (most is None or shares <= most):
            return name
    return SIZE_BUCKETS[0][0]


def rule_605_type(order: QuotedOrder) -> str | None:
    """The order's Rule 605 type, or None when the report does not cover it."""
    bid, ask = order.bid, order.ask
    if not order.quoted or bid is None or ask is None:
        return None
    if order.order_type == MARKET:
        return MARKET
    if order.order_type != "limit" or order.price is None:
        return None
    price = order.price
    if order.side == "buy":
        if price >= ask:
            return MARKETABLE_LIMIT
        distance = bid - price  # how far below the bid
    else:
        if price <= bid:
            return MARKETABLE_LIMIT
        distance = price - ask  # how far above the ask
    if distance < 0:
        return INSIDE_THE_QUOTE
    if distance == 0:
        return AT_THE_QUOTE
    if distance <= NEAR_THE_QUOTE_UNITS:
        return NEAR_THE_QUOTE
    return None


def rule_606_type(order: QuotedOrder) -> str:
    """The order's Rule 606 type: a limit order without a recorded quote counts as not
    marketable (nothing shows it could execute on arrival)."""
    if order.order_type == MARKET:
        return MARKET
    if order.order_type != "limit" or order.price is None:
        return OTHER
    if order.side == "buy":
        marketable = order.ask is not None and order.price >= order.ask
    else:
        marketable = order.bid is not None and order.price <= order.bid
    return MARKETABLE_LIMIT if marketable else NON_MARKETABLE_LIMIT
