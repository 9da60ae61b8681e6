"""Order entry, one path for every API: from a validated command to its outcome.

`/v1` and `/v2` (and a FIX session later) each turn their own request into a `PlaceOrder`,
`CancelOrder` or `ReplaceOrder` (`gateway.orders`) and map the outcome here to their own
answer. Between the two, this module sends the command to the shard and reads its events
through the domain's order-state reducer, as every reader of orders does: a new order is
entered, refused, or a resubmission of one entered before under the same client order id.

Cancel and replace act only on a live order of the caller's account. Another account's order
is told apart from a missing one by nobody: both are refused as unknown before any command is
sequenced, so that neither the answer nor its `TF-Seq` says whether the id is live.
"""

from dataclasses import dataclass

from tradingfloor import observability as metrics
from tradingfloor.domain.commands import CancelOrder, PlaceOrder, ReplaceOrder
from tradingfloor.domain.events import CancelRejected
from tradingfloor.domain.order_state import NO_ORDER_REJECTS, OrderState
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.order_legs import legs_after
from tradingfloor.gateway.orders import replaced_answer, resubmission_of, state_after
from tradingfloor.gateway.schemas import Fill
from tradingfloor.service.ports import LiveOrder
from tradingfloor.store import queries
from tradingfloor.store.queries import OrderRow


@dataclass(frozen=True, slots=True)
class Entered:
    """A new order as its command left it (after matching), and the fills that command gave
    it; `seq` is its command's (and its order id)."""

    seq: int
    state: OrderState
    fills: list[Fill]
    legs: tuple[OrderState, ...] = ()
    """A bracket's, OCO's or OTO's legs (`gateway.order_legs`)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A new order the engine refused; `order_id` is the id the refusal gave it, None when the
    refusal made no order (`NO_ORDER_REJECTS`: the id it names is another order's)."""

    reason: RejectReason
    order_id: int | None


@dataclass(frozen=True, slots=True)
class Resubmitted:
    """A retry of an order entered before with the same client order id and terms: that first
    order as the read models hold it now (None: they do not), and why it was refused, if it
    was."""

    first: OrderRow | None
    reason: RejectReason | None


Placed = Entered | Refused | Resubmitted


@dataclass(frozen=True, slots=True)
class Replaced:
    """A replace the engine took: the replacement's order id, and the command's seq (the read
    models show the replacement once they reach it)."""

    order_id: int
    seq: int


async def place(platform: Backend, command: PlaceOrder) -> Placed:
    """Enter a new order; the answer once it is durable and matched (refused first while
    the read models lag too far: `Backend.admit_order`)."""
    platform.admit_order()
    account = command.account
    result = await platform.submit(command, account)
    resubmitted = resubmission_of(result.events)
    if resubmitted is not None:  # the read models reach this seq: they hold the first
        first = await platform.read_model(account, queries.get_order, resubmitted.first_order_id)
        return Resubmitted(first, None if first is None else stored_reason(first))
    state, fills, reason = state_after(result.seq, result.events)
    if reason is not None or state is None:
        reason = reason or RejectReason.UNKNOWN_ORDER
        metrics.rejects.labels(reason.name).inc()
        return Refused(reason, None if reason in NO_ORDER_REJECTS else result.seq)
    if not command.order_class:
        return Entered(result.seq, state, fills)
    return Entered(result.seq, state, fills, tuple(legs_after(result.seq, result.events)))


def stored_reason(row: OrderRow) -> RejectReason | None:
    """Why an order the read models hold was refused (None: it was not)."""
    if row.status != "rejected":
        return None
    try:
        return RejectReason(row.reject_code or RejectReason.UNKNOWN_ORDER)
    except ValueError:  # a code this version does not know
        return RejectReason.UNKNOWN_ORDER


async def live_order_of(
    platform: Backend, order_id: int, account: str
) -> LiveOrder | RejectReason:
    """The live order `order_id` of `account`, or why it cannot be changed: `ORDER_NOT_LIVE`
    for an order of the account that is done, `UNKNOWN_ORDER` for one it does not have (or
    another account's, told as missing)."""
    live = await platform.live_order(order_id)
    if live is not None:
        return live if live.order.account == account else RejectReason.UNKNOWN_ORDER
    row = await platform.read_model(account, queries.get_order, order_id)
    mine = row is not None and row.account == account
    return RejectReason.ORDER_NOT_LIVE if mine else RejectReason.UNKNOWN_ORDER


async def cancel(platform: Backend, order_id: int, account: str) -> RejectReason | None:
    """Cancel what is left of a live order of `account`: None once canceled, else why not."""
    live = await live_order_of(platform, order_id, account)
    if live == RejectReason.ORDER_NOT_LIVE:  # a held leg, an order below one share: not in
        row = await platform.read_model(account, queries.get_order, order_id)  # the book
        if row is None or row.status not in ("held", "new"):
            return live
        symbol = row.symbol
    elif isinstance(live, RejectReason):
        return live
    else:
        symbol = live.symbol
    result = await platform.submit(CancelOrder(order_id, symbol, account), account)
    for event in result.events:
        if isinstance(event, CancelRejected):
            return event.reason
    return None


async def replace(platform: Backend, command: ReplaceOrder) -> Replaced | RejectReason:
    """Replace a live order (found with `live_order_of`): the replacement, or why not."""
    platform.admit_order()  # a replacement is a new order
    result = await platform.submit(command, command.account)
    replaced, reason = replaced_answer(result.events)
    if reason is not None or replaced is None:
        return reason or RejectReason.UNKNOWN_ORDER
    return Replaced(replaced.new_order_id, result.seq)
