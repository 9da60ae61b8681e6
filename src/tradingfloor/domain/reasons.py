"""Stable reject codes, grouped by area: 1xxx validation, 2xxx risk, 3xxx matching, 4xxx auth,
6xxx end of day, settlement and corporate actions.

Codes never change meaning once published; new reasons take new numbers.
"""

from enum import IntEnum


class RejectReason(IntEnum):
    # validation: the command itself is malformed for this instrument
    INVALID_QUANTITY = 1001
    QUANTITY_NOT_LOT_MULTIPLE = 1002
    INVALID_PRICE = 1003
    PRICE_NOT_ON_TICK = 1004
    PRICE_REQUIRED = 1005
    PRICE_NOT_ALLOWED = 1006
    STOP_PRICE_REQUIRED = 1007
    STOP_PRICE_NOT_ALLOWED = 1008
    INVALID_STOP_PRICE = 1009
    TRAIL_REQUIRED = 1010
    INVALID_TRAIL = 1011
    UNKNOWN_SYMBOL = 1012
    DUPLICATE_ORDER_ID = 1013
    TRAIL_NOT_ALLOWED = 1014
    REPLACE_NOTHING_TO_CHANGE = 1015
    CLIENT_ORDER_ID_REUSED = 1016
    UNKNOWN_SHARD = 1017
    """A client order id already names an order with other terms: a retry must repeat them."""
    ORDER_CLASS_LEGS = 1030
    """A bracket and an OCO need both legs; an OTO exactly one; a simple order none."""
    ORDER_CLASS_TIME_IN_FORCE = 1031
    ORDER_CLASS_ORDER_TYPE = 1032
    ORDER_CLASS_SIDE = 1033
    ORDER_CLASS_PRICES = 1034
    LEG_NOT_REPLACEABLE = 1035
    FRACTIONAL_TERMS = 1036
    """Fractional orders are market or limit, day, simple; notional orders market, day."""
    INVALID_FRACTION = 1037
    """A fraction is 1 to 999,999,999 nano-shares; a notional amount is positive and comes
    without a quantity."""
    FRACTIONAL_NOT_REPLACEABLE = 1038

    # risk: the command is well formed but the account, the symbol or a limit forbids it
    UNKNOWN_ACCOUNT = 2001
    ACCOUNT_RESTRICTED = 2002
    ACCOUNT_CLOSED = 2003
    ACCOUNT_BLOCKED = 2004
    SYMBOL_HALTED = 2005
    MARKET_HALTED = 2006
    QUANTITY_ABOVE_MAX = 2007
    NOTIONAL_ABOVE_MAX = 2008
    PRICE_OUTSIDE_COLLAR = 2009
    PRICE_OUTSIDE_BAND = 2010
    INSUFFICIENT_BUYING_POWER = 2011
    INSUFFICIENT_SHARES = 2012
    OPEN_ORDERS_ABOVE_MAX = 2013
    PATTERN_DAY_TRADER = 2014
    INTRADAY_EXPOSURE_ABOVE_EQUITY = 2015
    NO_REFERENCE_PRICE = 2016
    INVALID_AMOUNT = 2017
    INSUFFICIENT_FUNDS = 2018
    ACCOUNT_EXISTS = 2019
    RISK_CONFIG_LOCKED = 2020
    RISK_OFF = 2021
    INVALID_SETTINGS = 2022
    ALLOCATION_ALREADY_TAKEN = 2023
    SYMBOL_NOT_HALTED = 2024
    SYMBOL_EXISTS = 2025
    ACCOUNT_SUSPENDED = 2026
    """The account's owner suspended its trading; or a change of status that expected another
    status than the account's (`SetAccountStatus.from_status`)."""
    FRACTIONAL_NOT_OFFERED = 2027
    """No fractional desk is configured (`fractional_desk_account`), or it has no account."""
    NOTIONAL_NO_PRICE = 2028
    """A notional order is sized at the other side's best price: there is none."""
    NOTIONAL_TOO_SMALL = 2029
    """The notional amount buys less than one nano-share."""
    FRACTIONAL_ORDERS_WAITING = 2030
    """A symbol with fractional orders waiting for their fraction cannot move shards."""

    # matching: the command is well formed but the book cannot do it
    UNKNOWN_ORDER = 3001
    """The id is above every order id the engine has seen."""
    ORDER_NOT_LIVE = 3002
    """No live order with this id in this book: filled, canceled, expired, replaced, or never
    placed here (ids come from the sequencer, so an engine keeps no memory of dead ones)."""
    FOK_NOT_FILLABLE = 3003
    REPLACE_QTY_NOT_ABOVE_FILLED = 3004
    ACCOUNT_MISMATCH = 3005

    # end of day, settlement, breaks and corporate actions
    NOT_A_SESSION = 6001
    """The date is not a trading day of the platform's calendar (or outside its range)."""
    DAY_NOT_OVER = 6002
    """The day's session has not closed yet (or, to settle, the date has not come)."""
    DAY_ALREADY_CLOSED = 6003
    """This day is closed (or settled) already: doing it again would change nothing."""
    DAY_OUT_OF_ORDER = 6004
    """Days close in calendar order: an earlier session is still open."""
    DAY_NOT_CLOSED = 6005
    """Settlement of a trade date that has not been closed."""
    BREAK_EXISTS = 6006
    UNKNOWN_BREAK = 6007
    BREAK_RESOLVED = 6008
    CORPORATE_ACTION_EXISTS = 6009
    INVALID_CORPORATE_ACTION = 6010
    SETTLED_CASH_REQUIRED = 6011
    """A cash account restricted after good-faith violations buys with settled cash only."""
    OPEN_BREAKS_ABOVE_MAX = 6012
    """The review queue holds `open_breaks_max` open breaks: resolve some first."""

    # compliance: surveillance alerts
    UNKNOWN_ALERT = 7001
    ALERT_CLOSED = 7002
    """The alert was reviewed already (dismissed or escalated): a review closes it once."""

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES: dict[RejectReason, str] = {
    RejectReason.INVALID_QUANTITY: "quantity must be a positive whole number of shares",
    RejectReason.QUANTITY_NOT_LOT_MULTIPLE: "quantity is not a multiple of the lot size",
    RejectReason.INVALID_PRICE: "price must be positive",
    RejectReason.PRICE_NOT_ON_TICK: "price is not a multiple of the tick size",
    RejectReason.PRICE_REQUIRED: "this order type needs a limit price",
    RejectReason.PRICE_NOT_ALLOWED: "this order type takes no limit price",
    RejectReason.STOP_PRICE_REQUIRED: "this order type needs a stop price",
    RejectReason.STOP_PRICE_NOT_ALLOWED: "this order type takes no stop price",
    RejectReason.INVALID_STOP_PRICE: "stop price must be positive and on the tick",
    RejectReason.TRAIL_REQUIRED: "a trailing stop needs one of trail price or trail percent",
    RejectReason.INVALID_TRAIL: "trail price or trail percent must be positive",
    RejectReason.UNKNOWN_SYMBOL: "no such symbol",
    RejectReason.DUPLICATE_ORDER_ID: "order id already used",
    RejectReason.TRAIL_NOT_ALLOWED: "only a trailing stop takes a trail",
    RejectReason.REPLACE_NOTHING_TO_CHANGE: "replace must change price, quantity or stop price",
    RejectReason.CLIENT_ORDER_ID_REUSED: (
        "client order id already used for an order with other terms"
    ),
    RejectReason.ORDER_CLASS_LEGS: (
        "bracket and oco orders need take_profit and stop_loss, oto exactly one of them,"
        " a simple order neither"
    ),
    RejectReason.ORDER_CLASS_TIME_IN_FORCE: (
        "bracket, oco and oto orders take time in force day or gtc"
    ),
    RejectReason.ORDER_CLASS_ORDER_TYPE: (
        "a bracket or oto entry is a market or limit order; an oco order is a limit order"
    ),
    RejectReason.ORDER_CLASS_SIDE: (
        "order classes exit long positions: bracket and oto entries buy, oco orders sell"
    ),
    RejectReason.ORDER_CLASS_PRICES: (
        "take_profit.limit_price must be above stop_loss.stop_price (buy entry), and the"
        " entry's limit price between them"
    ),
    RejectReason.LEG_NOT_REPLACEABLE: (
        "an order of a bracket, oco or oto cannot be replaced: cancel and place it again"
    ),
    RejectReason.FRACTIONAL_TERMS: (
        "fractional orders are market or limit orders, notional orders market orders;"
        " both day and simple"
    ),
    RejectReason.INVALID_FRACTION: (
        "a fraction is 1 to 999999999 nano-shares; a notional amount is positive, without qty"
    ),
    RejectReason.FRACTIONAL_NOT_REPLACEABLE: (
        "a fractional or notional order cannot be replaced: cancel and place it again"
    ),
    RejectReason.FRACTIONAL_NOT_OFFERED: "fractional trading is not offered",
    RejectReason.NOTIONAL_NO_PRICE: "no price on the other side to size a notional order",
    RejectReason.NOTIONAL_TOO_SMALL: "the notional amount buys less than one nano-share",
    RejectReason.FRACTIONAL_ORDERS_WAITING: (
        "fractional orders wait in this symbol: it moves once they end"
    ),
    RejectReason.UNKNOWN_ACCOUNT: "no such account",
    RejectReason.ACCOUNT_RESTRICTED: "account is restricted to closing orders",
    RejectReason.ACCOUNT_CLOSED: "account is closed",
    RejectReason.ACCOUNT_BLOCKED: "account is blocked by its kill switch",
    RejectReason.ACCOUNT_SUSPENDED: "trading is suspended by the account's owner",
    RejectReason.SYMBOL_HALTED: "trading in this symbol is halted",
    RejectReason.MARKET_HALTED: "market-wide trading halt",
    RejectReason.QUANTITY_ABOVE_MAX: "quantity above the maximum per order",
    RejectReason.NOTIONAL_ABOVE_MAX: "order value above the maximum per order",
    RejectReason.PRICE_OUTSIDE_COLLAR: "price too far from the reference price (collar)",
    RejectReason.PRICE_OUTSIDE_BAND: "price outside the limit up-limit down band",
    RejectReason.INSUFFICIENT_BUYING_POWER: "insufficient buying power",
    RejectReason.INSUFFICIENT_SHARES: "insufficient shares to sell",
    RejectReason.OPEN_ORDERS_ABOVE_MAX: "too many open orders in this symbol",
    RejectReason.PATTERN_DAY_TRADER: (
        "pattern day trader under the equity minimum: opening orders are refused"
    ),
    RejectReason.INTRADAY_EXPOSURE_ABOVE_EQUITY: "intraday exposure would exceed equity",
    RejectReason.NO_REFERENCE_PRICE: "no reference price yet: market orders are refused",
    RejectReason.INVALID_AMOUNT: "amount must be a positive whole number",
    RejectReason.INSUFFICIENT_FUNDS: "insufficient settled cash",
    RejectReason.UNKNOWN_SHARD: "no such shard, or the symbol is on it already",
    RejectReason.ALLOCATION_ALREADY_TAKEN: "this move between shards is already in",
    RejectReason.SYMBOL_NOT_HALTED: "a symbol moves between shards only while halted",
    RejectReason.SYMBOL_EXISTS: "this shard lists the symbol already",
    RejectReason.ACCOUNT_EXISTS: "account already exists",
    RejectReason.RISK_CONFIG_LOCKED: (
        "risk and ledger can be switched on or off only while no order is live"
    ),
    RejectReason.RISK_OFF: "accounts, halts and limits are off: this engine only matches",
    RejectReason.INVALID_SETTINGS: "risk settings are not usable",
    RejectReason.UNKNOWN_ORDER: "no such order",
    RejectReason.ORDER_NOT_LIVE: "no live order with this id in this book",
    RejectReason.FOK_NOT_FILLABLE: "fill-or-kill order cannot be filled in full",
    RejectReason.REPLACE_QTY_NOT_ABOVE_FILLED: "new quantity must exceed the quantity filled",
    RejectReason.ACCOUNT_MISMATCH: "order belongs to another account",
    RejectReason.NOT_A_SESSION: "not a trading day of the calendar",
    RejectReason.DAY_NOT_OVER: "that trading day has not ended yet",
    RejectReason.DAY_ALREADY_CLOSED: "that day is done already",
    RejectReason.DAY_OUT_OF_ORDER: "an earlier trading day is not closed yet",
    RejectReason.DAY_NOT_CLOSED: "the trade date to settle has not been closed",
    RejectReason.BREAK_EXISTS: "a break with this id is recorded already",
    RejectReason.UNKNOWN_BREAK: "no such break",
    RejectReason.BREAK_RESOLVED: "this break is resolved already",
    RejectReason.CORPORATE_ACTION_EXISTS: "a corporate action with this id exists already",
    RejectReason.INVALID_CORPORATE_ACTION: "corporate action terms are not usable",
    RejectReason.SETTLED_CASH_REQUIRED: (
        "good-faith violations: this cash account buys with settled cash only"
    ),
    RejectReason.OPEN_BREAKS_ABOVE_MAX: "too many open breaks: resolve some first",
    RejectReason.UNKNOWN_ALERT: "no such alert",
    RejectReason.ALERT_CLOSED: "this alert is closed already",
}
