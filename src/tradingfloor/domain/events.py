"""Events: past tense, frozen, each stamped with the sequence number and time of its command.

Events are the engine's only output. Projections (order tables, market data, audit, the answer
to the client) are built from them alone. Every order event names the account of its order, so
that a reader can route it (a stream per account) without looking anything up.

Events are array-like: a field added to an event goes last, with a default, so that records
written before it still decode (an `account` of "" is one of those older records).
"""

import msgspec

from tradingfloor.domain.commands import ANY_COMMAND
from tradingfloor.domain.corporate_actions import CorporateAction
from tradingfloor.domain.enums import (
    AccountKind,
    AccountStatus,
    BreakKind,
    CancelReason,
    HaltReason,
    OrderClass,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import Origin
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings


class Event(msgspec.Struct, frozen=True, gc=False, tag=True, array_like=True):
    """Base of every event: `seq` and `ts` (integer nanoseconds) of the command that caused it."""

    seq: int
    ts: int


class InstrumentAdded(Event, frozen=True, gc=False, tag=True, array_like=True):
    instrument: Instrument


class OrderAccepted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The order passed validation; for stops, it now waits for its trigger."""

    order_id: int
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    qty: int
    price: int | None
    stop_price: int | None
    client_order_id: str


class OrderRejected(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A new order was refused; nothing changed. The refused order's terms as asked (None in
    records from before they were kept, and for a refusal that makes no order:
    `domain.rejections`)."""

    order_id: int
    account: str
    symbol: str
    reason: RejectReason
    client_order_id: str
    side: Side | None = None
    order_type: OrderType | None = None
    tif: TimeInForce | None = None
    qty: int | None = None
    price: int | None = None
    stop_price: int | None = None
    fraction: int = 0
    notional: int | None = None


class CancelRejected(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A cancel was refused; the order, if any, is unchanged. `account` is the one that asked
    (for an operator's cancel, which names none, the order's own if it is live)."""

    order_id: int
    symbol: str
    reason: RejectReason
    account: str = ""


class ReplaceRejected(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A replace was refused; the order, if any, is unchanged. `account` as for
    `CancelRejected`."""

    order_id: int
    new_order_id: int
    symbol: str
    reason: RejectReason
    account: str = ""


class TradeExecuted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """One fill between a resting (maker) and an incoming (taker) order, at the maker's price.

    `*_leaves` are the open quantities after this fill: 0 means the order is done. Fees are
    each side's charge for this fill, in price units.
    """

    symbol: str
    trade_id: int
    price: int
    qty: int
    maker_order_id: int
    taker_order_id: int
    maker_account: str
    taker_account: str
    aggressor: Side
    maker_leaves: int
    taker_leaves: int
    maker_fee: int = 0
    taker_fee: int = 0


class OrderCanceled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """`canceled_qty` left the order; `leaves` is what stays open (non-zero only for an STP
    decrement of part of an order)."""

    order_id: int
    symbol: str
    canceled_qty: int
    leaves: int
    reason: CancelReason
    account: str = ""


class OrderReplaced(Event, frozen=True, gc=False, tag=True, array_like=True):
    """`order_id` is no longer live; `new_order_id` carries its fills with the new terms.

    `client_order_id` is the replacement's own ("" for none): never its predecessor's, so that
    a client order id names one order. None only in records written before replacements had
    their own, when the replacement kept its predecessor's. `tif` is the replacement's time in
    force when the replace changed it (None: its predecessor's).
    """

    order_id: int
    new_order_id: int
    symbol: str
    qty: int
    price: int | None
    stop_price: int | None
    leaves: int
    kept_priority: bool
    account: str = ""
    client_order_id: str | None = None
    tif: TimeInForce | None = None


class StopTriggered(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A stop was elected by a trade at `last_price` and now enters the book."""

    order_id: int
    symbol: str
    stop_price: int
    last_price: int
    account: str = ""


class OrderExpired(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A DAY order reached the end of its session."""

    order_id: int
    symbol: str
    expired_qty: int
    account: str = ""


class OrderResubmitted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A new order repeated, with the same terms, one its account entered before under the
    same client order id: nothing changed. `first_order_id` is that first order (accepted or
    refused), which a retry is answered with."""

    first_order_id: int
    account: str
    symbol: str
    client_order_id: str


class CommandRejected(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A command other than an order entry was refused; nothing changed. `command` is its
    type name, `subject` the account or symbol it named."""

    command: str
    subject: str
    reason: RejectReason


class RiskConfigured(Event, frozen=True, gc=False, tag=True, array_like=True):
    settings: RiskSettings | None


class AccountOpened(Event, frozen=True, gc=False, tag=True, array_like=True):
    account: str
    kind: AccountKind


class AccountStatusChanged(Event, frozen=True, gc=False, tag=True, array_like=True):
    account: str
    status: AccountStatus


class FundsDeposited(Event, frozen=True, gc=False, tag=True, array_like=True):
    account: str
    amount: int


class FundsWithdrawn(Event, frozen=True, gc=False, tag=True, array_like=True):
    account: str
    amount: int


class CashAllocatedOut(Event, frozen=True, gc=False, tag=True, array_like=True):
    """Settled cash moved to another shard (`AllocateCashOut`): in flight until taken in."""

    account: str
    amount: int
    to_shard: str


class CashAllocatedIn(Event, frozen=True, gc=False, tag=True, array_like=True):
    """Cash taken in from another shard: the move its seq `out_seq` there started."""

    account: str
    amount: int
    from_shard: str
    out_seq: int


class SharesDeposited(Event, frozen=True, gc=False, tag=True, array_like=True):
    account: str
    symbol: str
    qty: int
    cost_price: int


class SharesWithdrawn(Event, frozen=True, gc=False, tag=True, array_like=True):
    """`cost` is the cost basis that left with the shares (average cost)."""

    account: str
    symbol: str
    qty: int
    cost: int


class FundsSettled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """`amount` (negative: paid) moved from unsettled to settled cash."""

    account: str
    amount: int


class DayTradeCounted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A sell closed shares bought in the same session; `count` is the account's day trades
    within the window after this one."""

    account: str
    symbol: str
    order_id: int
    count: int


class TradingHalted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """`symbol` None: the whole market. `until_ts` None: until resumed by hand (or, for a
    level 3 market-wide halt, until the next session)."""

    symbol: str | None
    reason: HaltReason
    until_ts: int | None


class TradingResumed(Event, frozen=True, gc=False, tag=True, array_like=True):
    symbol: str | None


class ReferencePriceSet(Event, frozen=True, gc=False, tag=True, array_like=True):
    symbol: str
    price: int


class ShardLeaderChanged(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The shard's journal is written by `node` from this seq on, under lease `epoch`
    (`TakeOverShard`). No order, account or book changed."""

    node: str
    epoch: int


class MovedOrder(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A live order of a symbol that moved between shards, as a market-data book needs it:
    `stop` for a stop waiting for its trigger (`price` its limit, None for a stop market)."""

    order_id: int
    side: Side
    price: int | None
    leaves: int
    stop: bool = False


class SymbolHandedOver(Event, frozen=True, gc=False, tag=True, array_like=True):
    """`symbol` left this shard for `to_shard` (`HandOverSymbol`): its book, the positions
    in it (`shares`: account, quantity) and the cash its open buys held (`cash`: account,
    amount) are in `state` until taken over."""

    symbol: str
    to_shard: str
    cash: list[tuple[str, int]]
    shares: list[tuple[str, int]]
    state: bytes
    fractions: list[tuple[str, int]] = msgspec.field(default_factory=list)
    """The positions' fractions (account, nano-shares), those that hold one."""


class SymbolTakenOver(Event, frozen=True, gc=False, tag=True, array_like=True):
    """`symbol` is this shard's (`shard`) from now on, as `from_shard` handed it over at its
    seq `out_seq`: its live orders (`orders`: resting ones in time priority, then waiting
    stops) and the cash they hold (`cash`) came with it."""

    symbol: str
    from_shard: str
    out_seq: int
    shard: str
    cash: list[tuple[str, int]]
    shares: list[tuple[str, int]]
    orders: list[MovedOrder]
    instrument: Instrument
    last_price: int | None
    reference_price: int | None
    fractions: list[tuple[str, int]] = msgspec.field(default_factory=list)
    """The positions' fractions (account, nano-shares), those that hold one."""


class DayClosed(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The trading day `date` (session index `session` of the calendar) is closed: every fill
    of it precedes this event; `expired` DAY orders expired at its close."""

    date: str
    session: int
    expired: int


class DaySettled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """Settlement date `date` is done: the trade dates `trade_dates` settled on it (their
    `FundsSettled` and `SharesSettled` came before this event)."""

    date: str
    trade_dates: list[str]


class SharesSettled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """`qty` shares of `symbol` (negative: delivered) moved from unsettled to settled."""

    account: str
    symbol: str
    qty: int


class GoodFaithViolation(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A cash account sold shares bought with proceeds that had not settled (order
    `order_id`'s first fill); `count` violations within the rule's window, and the last
    day of its settled-cash-only restriction (`restricted_until`, "" when not restricted)."""

    account: str
    symbol: str
    order_id: int
    count: int
    restricted_until: str


class BreakOpened(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A reconciliation difference in the review queue (fields as `RecordBreak`)."""

    break_id: str
    date: str
    kind: BreakKind
    account: str
    symbol: str
    platform_qty: int
    other_qty: int
    platform_cash: int
    other_cash: int
    detail: str


class BreakResolved(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A break closed by `resolved_by` for `reason`, with the adjustment posted to its
    account (zero when none): cash and shares of its symbol, from the adjustments account."""

    break_id: str
    resolved_by: str
    reason: str
    account: str
    symbol: str
    cash_adjustment: int
    shares_adjustment: int


class CorporateActionAnnounced(Event, frozen=True, gc=False, tag=True, array_like=True):
    action: CorporateAction


class StockSplitApplied(Event, frozen=True, gc=False, tag=True, array_like=True):
    """One account's position in a split: `old_qty` became `new_qty` whole shares, and the
    fraction left was paid as `cash_in_lieu` (settled cash). That fraction was sold: it took
    `basis_sold` of the position's cost with it, and realized `cash_in_lieu - basis_sold`."""

    action_id: str
    account: str
    symbol: str
    old_qty: int
    new_qty: int
    cash_in_lieu: int
    basis_sold: int = 0
    old_fraction: int = 0
    """The position's nano-shares beyond `old_qty` before, and beyond `new_qty` after: a
    forward split of one old share into whole new ones scales the fraction exactly; any
    other pays what is left below a whole new share in lieu."""
    new_fraction: int = 0


class OrderAdjusted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A live order's terms changed by a corporate action (same id, same time priority):
    its quantity, what is left of it, and its prices now."""

    order_id: int
    symbol: str
    account: str
    qty: int
    leaves: int
    price: int | None
    stop_price: int | None
    action_id: str


class DividendEntitled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """At the close before the ex-date: `account` holds `qty` entitled shares and will be
    paid `amount` on the pay date."""

    action_id: str
    account: str
    symbol: str
    qty: int
    amount: int


class DividendPaid(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A dividend paid into settled cash on its pay date."""

    action_id: str
    account: str
    symbol: str
    amount: int


class SymbolChanged(Event, frozen=True, gc=False, tag=True, array_like=True):
    """From now on `symbol` trades as `new_symbol`: book, live orders and positions.
    `shares`: each account's position (account, quantity), which moves to the new name."""

    action_id: str
    symbol: str
    new_symbol: str
    shares: list[tuple[str, int]] = []
    fractions: list[tuple[str, int]] = msgspec.field(default_factory=list)
    """The positions' fractions (account, nano-shares), those that hold one."""


class FractionAttached(Event, frozen=True, gc=False, tag=True, array_like=True):
    """Order `order_id`, just accepted for its whole shares (its `OrderAccepted` has `qty`
    0 when it is all fraction), also asks `fraction` nano-shares, which the fractional desk
    fills once the whole shares are (`engine.fractions`). `notional`: the cash a notional
    order asked for, which sized it (None: sized in shares)."""

    order_id: int
    account: str
    symbol: str
    fraction: int
    notional: int | None = None


class FractionFilled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The fractional desk `desk_account` took the other side of `fraction` nano-shares of
    order `order_id` (`side` is the order's) at `price` per share: `value` is the cash, the
    fraction's value rounded half to even to the price unit, settled at once. The order is
    done. `account_whole` and `desk_whole` are what the fill did to each side's whole shares
    (+1: its fraction passed a share; -1: it broke one; else 0)."""

    order_id: int
    account: str
    symbol: str
    side: Side
    desk_account: str
    price: int
    fraction: int
    value: int
    account_whole: int = 0
    desk_whole: int = 0


class FractionCanceled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The fraction of order `order_id` will not fill (`reason`): the order is done with
    what its whole shares filled."""

    order_id: int
    account: str
    symbol: str
    fraction: int
    reason: CancelReason


class LegsAttached(Event, frozen=True, gc=False, tag=True, array_like=True):
    """Order `order_id` (a bracket or OTO entry, or an OCO's take-profit) was accepted with
    its legs `leg_ids`, each announced next by its `LegHeld` (`engine.order_classes`)."""

    order_id: int
    account: str
    symbol: str
    order_class: OrderClass
    leg_ids: list[int]


class LegHeld(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A leg of `parent_order_id` exists, held outside the book: it enters the book (an
    `OrderAccepted` under its id, for the quantity its entry has filled) when its entry
    fills, at once for an OCO's stop-loss. `qty` is the entry's whole quantity."""

    order_id: int
    parent_order_id: int
    account: str
    symbol: str
    order_class: OrderClass
    side: Side
    order_type: OrderType
    tif: TimeInForce
    qty: int
    price: int | None
    stop_price: int | None


class LegResized(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A live leg grew with its entry's new fill: its quantity and open quantity are now
    `qty` and `leaves`. A resting leg that grows goes to the back of its price level."""

    order_id: int
    symbol: str
    account: str
    qty: int
    leaves: int


class LegCanceled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A held leg (never in the book) was canceled: its entry ended unfilled, or the owner
    canceled it."""

    order_id: int
    symbol: str
    account: str
    reason: CancelReason


class CommandEntered(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The command of this seq as journaled, with who sent it: first on the feed of every
    seq, written by the shard beside the engine's events (never by the engine, which sees no
    origin), so a reader of the feed (the audit trail) has the whole command."""

    command: ANY_COMMAND
    origin: Origin


ANY_EVENT = (
    InstrumentAdded
    | OrderAccepted
    | OrderRejected
    | OrderResubmitted
    | CancelRejected
    | ReplaceRejected
    | TradeExecuted
    | OrderCanceled
    | OrderReplaced
    | StopTriggered
    | OrderExpired
    | CommandRejected
    | RiskConfigured
    | AccountOpened
    | AccountStatusChanged
    | FundsDeposited
    | FundsWithdrawn
    | SharesDeposited
    | SharesWithdrawn
    | FundsSettled
    | DayTradeCounted
    | TradingHalted
    | TradingResumed
    | ReferencePriceSet
    | CashAllocatedOut
    | CashAllocatedIn
    | ShardLeaderChanged
    | SymbolHandedOver
    | SymbolTakenOver
    | DayClosed
    | DaySettled
    | SharesSettled
    | GoodFaithViolation
    | BreakOpened
    | BreakResolved
    | CorporateActionAnnounced
    | StockSplitApplied
    | OrderAdjusted
    | DividendEntitled
    | DividendPaid
    | SymbolChanged
    | LegsAttached
    | LegHeld
    | LegResized
    | LegCanceled
    | FractionAttached
    | FractionFilled
    | FractionCanceled
    | CommandEntered
)
