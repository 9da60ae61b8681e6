"""Commands: imperative, frozen, and the only way state changes.

A command carries no sequence number or time: the sequencer gives it both, and the engine
receives them as arguments (`Engine.apply(command, seq, ts)`), so the same journal replays to the
same events. Commands are tagged msgspec structs so the journal can encode any of them.
"""

import msgspec

from tradingfloor.domain.corporate_actions import CorporateAction
from tradingfloor.domain.enums import (
    AccountKind,
    AccountStatus,
    BreakKind,
    OrderClass,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.settings import RiskSettings


class Command(msgspec.Struct, frozen=True, gc=False, tag=True, array_like=True):
    """Base of every command."""


class AddInstrument(Command, frozen=True, gc=False, tag=True, array_like=True):
    """List a symbol: its order book exists from this command on."""

    instrument: Instrument


class PlaceOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Enter a new order.

    `order_id` is assigned before the engine (by the sequencer) and must exceed every order id the
    engine has seen. Prices are integer price units. `trail_price` (price units) or `trail_bps`
    (hundredths of a percent) sets a trailing stop's distance; `stp` overrides the instrument's
    self-trade rule for this order.

    `order_class` links legs to the order (`engine.order_classes`): a take-profit limit at
    `take_profit_price` and a stop-loss at `stop_loss_price` (a stop-limit when
    `stop_loss_limit_price` is given), both on the other side and for the same quantity.
    A bracket or OTO order is the entry whose fills arm its legs; an OCO order is the
    take-profit limit itself (`price` is `take_profit_price`), its stop-loss the one leg.
    """

    order_id: int
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: int | None = None
    stop_price: int | None = None
    tif: TimeInForce = TimeInForce.DAY
    trail_price: int | None = None
    trail_bps: int | None = None
    stp: SelfTradePrevention | None = None
    client_order_id: str = ""
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit_price: int | None = None
    stop_loss_price: int | None = None
    stop_loss_limit_price: int | None = None
    fraction: int = 0
    """Nano-shares (1e-9 share) beyond the whole `qty`: a fractional order (`engine.fractions`):
    the whole shares trade on the book, the fraction against the platform's fractional desk."""
    notional: int | None = None
    """A notional order (market, price units of cash): the engine sizes it, to the nano-share,
    at the other side's best price; `qty` and `fraction` are then 0."""


class CancelOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cancel what is left of a live order. An empty `account` skips the owner check (admin)."""

    order_id: int
    symbol: str
    account: str = ""


class ReplaceOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cancel/replace: the live order `order_id` becomes `new_order_id` with new terms.

    `qty` is the new total quantity (fills carry over); `None` keeps a term as it is. Lowering the
    quantity at the same price keeps time priority; any other change loses it.
    `client_order_id` is the replacement's ("" for none): it must not name another order of the
    account, and the predecessor's is never carried over (as FIX's ClOrdID on a replace).
    `tif` changes the time in force; `trail_price` or `trail_bps` a trailing stop's trail, of
    the kind it was placed with (its stop follows from its watermark with the new trail).
    """

    order_id: int
    new_order_id: int
    symbol: str
    account: str = ""
    qty: int | None = None
    price: int | None = None
    stop_price: int | None = None
    client_order_id: str = ""
    tif: TimeInForce | None = None
    trail_price: int | None = None
    trail_bps: int | None = None


class ExpireOrders(Command, frozen=True, gc=False, tag=True, array_like=True):
    """End of session: every live DAY order (of `symbol`, or of all symbols) expires."""

    symbol: str | None = None


class ConfigureRisk(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Switch risk and ledger on (with these settings) or off (`None`: matching only).

    Switching on or off needs a market with no live order; new settings apply at any time.
    """

    settings: RiskSettings | None


class OpenAccount(Command, frozen=True, gc=False, tag=True, array_like=True):
    account: str
    kind: AccountKind = AccountKind.CASH


class SetAccountStatus(Command, frozen=True, gc=False, tag=True, array_like=True):
    """`BLOCKED` is the kill switch and `CLOSED` the end: both cancel every open order.

    `from_status` makes the change conditional: applied only if the account's status is that
    one (the owner's own suspension, `ACTIVE` <-> `SUSPENDED`, never lifts an operator's
    block); if not, refused with the account's status as the reason, unless the status is
    already the one asked (nothing to do, no event)."""

    account: str
    status: AccountStatus
    from_status: AccountStatus | None = None


class Deposit(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cash in, settled at once (a wire that has arrived)."""

    account: str
    amount: int


class Withdraw(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cash out, from settled cash that no open order or unsettled purchase needs."""

    account: str
    amount: int


class AllocateCashOut(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Move settled cash that nothing needs here to shard `to_shard`, where the account
    trades other symbols (accounts across shards: a shard spends only the cash it holds).
    The receiving shard takes it in with `AllocateCashIn` naming this command's seq."""

    account: str
    amount: int
    to_shard: str


class AllocateCashIn(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Take in cash that shard `from_shard` moved out at its seq `out_seq`. A shard takes
    the moves of one source in order, each once: an `out_seq` at or below the last one taken
    from that source is refused (a retry after a lost answer changes nothing)."""

    account: str
    amount: int
    from_shard: str
    out_seq: int


class DepositShares(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Shares delivered in (a transfer from another broker) at a cost basis per share."""

    account: str
    symbol: str
    qty: int
    cost_price: int


class WithdrawShares(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Shares delivered out, from those no open sell holds."""

    account: str
    symbol: str
    qty: int


class SettleFunds(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Move every unsettled amount whose settlement day (trade day + N sessions) has come,
    as of this command's time, into settled cash."""


class HaltTrading(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Manual halt of one symbol, or of the whole market when `symbol` is None."""

    symbol: str | None = None


class ResumeTrading(Command, frozen=True, gc=False, tag=True, array_like=True):
    symbol: str | None = None


class SetReferencePrice(Command, frozen=True, gc=False, tag=True, array_like=True):
    """The price collars and bands start from until the symbol trades (e.g. the prior close)."""

    symbol: str
    price: int


class UpdateMarketIndex(Command, frozen=True, gc=False, tag=True, array_like=True):
    """The reference index (S&P 500) for market-wide circuit breakers, in price units.

    A `reference` (the prior close) starts a new day; levels are measured against it.
    """

    value: int
    reference: int | None = None


class TakeOverShard(Command, frozen=True, gc=False, tag=True, array_like=True):
    """The fence a shard's new primary appends before it serves: from this record on, the
    journal is `node`'s, under lease `epoch`. It changes nothing but the epoch the engine
    records; an earlier primary's next append, expecting the journal to end before it, is
    refused by the journal itself (`Nats-Expected-Last-Sequence`)."""

    node: str
    epoch: int


class HandOverSymbol(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Move the halted `symbol` to shard `to_shard`: its book (every live order in its time
    priority), its halt and price guards, every account's position in it and the cash its
    open buys hold leave this shard, in the event (`SymbolHandedOver`), for the takeover
    there (`TakeOverSymbol` naming this command's seq)."""

    symbol: str
    to_shard: str


class TakeOverSymbol(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Take over `symbol` as shard `from_shard` handed it over at its seq `out_seq`, `state`
    its handover's (opaque to all but the engine). Taken in the source's order with its
    moves of cash (`AllocateCashIn`), each once. `shard` is this shard's name, told in the
    event so that routers learn where the symbol is now."""

    symbol: str
    from_shard: str
    out_seq: int
    shard: str
    state: bytes


class CloseDay(Command, frozen=True, gc=False, tag=True, array_like=True):
    """End of the trading day `date` (ISO): every live DAY order accepted in that session or
    before expires, corporate actions taking effect at the next session are applied, and the
    day is closed (`DayClosed`): its fills are final, to be netted and cleared. Refused before
    the session's close (`DAY_NOT_OVER`), for a day closed already (`DAY_ALREADY_CLOSED`:
    running it twice changes nothing) or when an earlier session is not closed
    (`DAY_OUT_OF_ORDER`)."""

    date: str


class SettleDay(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Settlement date `date`: the cash and shares of every closed trade date whose T+N
    settlement date is `date` or earlier move from unsettled to settled, and dividends
    payable on `date` are paid. Refused before `date`'s session (`DAY_NOT_OVER`) and for a
    date settled already (`DAY_ALREADY_CLOSED`)."""

    date: str


class RecordBreak(Command, frozen=True, gc=False, tag=True, array_like=True):
    """A difference reconciliation found, into the review queue. `break_id` is derived from
    what was compared (date, kind, the trade or the account and symbol), so the same
    difference found twice is refused the second time (`BREAK_EXISTS`). `platform_*` is
    what the platform holds, `other_*` what the clearinghouse (or the ledger) says."""

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


class ResolveBreak(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Close a break with a reason and who resolved it, optionally posting an adjustment to
    the break's account: cash and shares (of the break's symbol) from or to the platform's
    adjustments account. `account` and `symbol` are the break's (they route the command)."""

    break_id: str
    resolved_by: str
    reason: str
    account: str
    symbol: str
    cash_adjustment: int = 0
    shares_adjustment: int = 0


class AnnounceCorporateAction(Command, frozen=True, gc=False, tag=True, array_like=True):
    """A split, cash dividend or symbol change (`domain.corporate_actions`), applied by the
    end-of-day commands on its dates; an `action_id` is used once."""

    action: CorporateAction


ANY_COMMAND = (
    AddInstrument
    | PlaceOrder
    | CancelOrder
    | ReplaceOrder
    | ExpireOrders
    | ConfigureRisk
    | OpenAccount
    | SetAccountStatus
    | Deposit
    | Withdraw
    | DepositShares
    | WithdrawShares
    | SettleFunds
    | HaltTrading
    | ResumeTrading
    | SetReferencePrice
    | UpdateMarketIndex
    | AllocateCashOut
    | AllocateCashIn
    | TakeOverShard
    | HandOverSymbol
    | TakeOverSymbol
    | CloseDay
    | SettleDay
    | RecordBreak
    | ResolveBreak
    | AnnounceCorporateAction
)
