"""Small integer enums shared by commands, events and the order book.

They are `IntEnum`s so that the hot path compares plain ints and the journal stores one byte.
"""

from enum import IntEnum


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrderType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP = 3
    """Stop-market: rests unseen until the last trade reaches the stop, then enters as market."""
    STOP_LIMIT = 4
    """Rests unseen until the last trade reaches the stop, then enters as a limit order."""
    TRAILING_STOP = 5
    """A stop-market whose stop follows the best last price by an offset or a percentage."""


STOP_ORDER_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})
"""Order types that wait unseen for a trigger before they enter the book."""


class TimeInForce(IntEnum):
    DAY = 1
    GTC = 2
    IOC = 3
    FOK = 4


class SelfTradePrevention(IntEnum):
    """NYSE Rule 7.31(i)(2) self-trade prevention modifiers."""

    NONE = 0
    CANCEL_NEWEST = 1
    CANCEL_OLDEST = 2
    CANCEL_BOTH = 3
    DECREMENT = 4


class OrderStatus(IntEnum):
    NEW = 1
    PARTIALLY_FILLED = 2
    FILLED = 3
    CANCELED = 4
    REJECTED = 5
    PENDING_TRIGGER = 6
    EXPIRED = 7
    REPLACED = 8
    HELD = 9
    """A leg of a bracket or OTO order, waiting outside the book until its entry fills."""

    @property
    def is_live(self) -> bool:
        return self in _LIVE


_LIVE = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_TRIGGER})


class CancelReason(IntEnum):
    """Why an order (or what was left of it) stopped being live without filling."""

    REQUESTED = 1
    """The owner asked for it."""
    IOC_REMAINDER = 2
    """An IOC order's unfilled remainder."""
    MARKET_NO_LIQUIDITY = 3
    """A market order's remainder: market orders never rest."""
    SELF_TRADE = 4
    """Self-trade prevention removed it."""
    ADMIN = 5
    """An operator or the risk system (kill switch) canceled it."""
    FOK_NOT_FILLABLE = 6
    """An elected fill-or-kill stop could not fill in full."""
    PRICE_PROTECTION = 7
    """A market (or elected stop) order's remainder: the book beyond its protection price was
    not taken (the price collar or the LULD band it was held at)."""
    KILL_SWITCH = 8
    """The account's kill switch canceled every open order."""
    CORPORATE_ACTION = 9
    """A corporate action the order cannot follow (a reverse split) canceled it."""
    CONTINGENT = 10
    """Its order class ended it: the other leg of its one-cancels-other pair filled or was
    canceled, its entry ended unfilled, or its legs were done before its entry was."""
    FRACTIONAL_DESK = 11
    """The fractional desk could not take the fraction: it lacks the shares or the cash."""
    FRACTION_UNSETTLED = 12
    """A fraction settles on the platform's books at once: its buyer lacked the settled cash,
    or its seller the settled share its fraction had to break."""
    SESSION_END = 13
    """An order below one share (outside the book) reached the end of its session."""


class OrderClass(IntEnum):
    """How an order is linked to others (Alpaca's `order_class`)."""

    SIMPLE = 0
    BRACKET = 1
    """An entry, then a take-profit limit and a stop-loss stop that cancel each other."""
    OCO = 2
    """A take-profit limit (the parent) and a stop-loss stop: one cancels the other."""
    OTO = 3
    """An entry, then one exit leg (take-profit or stop-loss)."""


class AccountKind(IntEnum):
    CASH = 1
    """Buys are paid in full; selling shares not held is refused."""
    MARGIN = 2
    """Subject to the day-trade rule; borrowing (buying power above cash) comes later."""


class AccountStatus(IntEnum):
    ACTIVE = 1
    RESTRICTED = 2
    """Closing only: sells of shares held; no buys."""
    BLOCKED = 3
    """Kill switch: every open order canceled, no new order, until set ACTIVE again."""
    CLOSED = 4
    """No orders and no deposits; withdrawals of what is left are still allowed."""
    SUSPENDED = 5
    """Trading suspended by the account's owner (Alpaca's `suspend_trade`): no new order and
    no replace; open orders stay, and may be canceled."""


class DayTradePolicy(IntEnum):
    NONE = 0
    PDT = 1
    """FINRA 4210 pattern day trader: a margin account under the equity minimum with the
    day-trade maximum reached in 5 business days may not open new positions."""
    INTRADAY_MARGIN = 2
    """Intraday exposure (positions at market plus open buy orders) bounded by equity."""


class HaltReason(IntEnum):
    MANUAL = 1
    PRICE_MOVE = 2
    """The last trade moved more than the set percentage within the set window."""
    MARKET_WIDE_LEVEL_1 = 3
    MARKET_WIDE_LEVEL_2 = 4
    MARKET_WIDE_LEVEL_3 = 5


class BreakKind(IntEnum):
    """What a reconciliation found different; each break names one account (and symbol)."""

    UNCONFIRMED = 1
    """A trade the platform submitted that the clearinghouse did not confirm by the cutoff."""
    CONFIRMATION_DIFFERS = 2
    """The clearinghouse confirmed a trade with other terms (quantity, price, parties)."""
    UNKNOWN_AT_PLATFORM = 3
    """A confirmation of a trade the platform does not have, or a second one of a trade."""
    LATE_CONFIRMATION = 4
    """A confirmation that came after the day's reconciliation."""
    OBLIGATION_DIFFERS = 5
    """A net share or cash obligation differs from the clearinghouse's instruction."""
    FAIL_TO_DELIVER = 6
    """The clearinghouse could not deliver (or receive) all the shares due."""
    POSITION_DIFFERS = 7
    """Settled shares at the platform differ from the clearinghouse's record."""
    CASH_DIFFERS = 8
    """Settled cash at the platform differs from the clearinghouse's record."""
    LEDGER_DIFFERS = 9
    """The day's fills, netted, differ from what the ledger settled."""
