"""Order classes (Alpaca's bracket, OCO and OTO): legs held, armed by fills, linked.

A bracket is an entry (market or limit, a buy) with two exit legs on the other side: a
take-profit limit and a stop-loss stop (a stop-limit with a stop-loss limit price). An OTO
has one of the two. The legs are held outside the book (`LegHeld`, status `HELD`) until the
entry fills; each fill of the entry arms them for what it filled: the first enters the book
(`OrderAccepted` under the leg's id), later ones grow it (`LegResized`). So the legs are live
for the entry's filled quantity, never more. An OCO is the take-profit limit itself (the
parent, live at once) with the stop-loss as its one leg, also live at once.

The two legs of a pair form a one-cancels-other pair in the book (`matching.contingent`):
their open quantities stay equal, so a fill of one takes the other down by as much and the
two never fill more than the entry filled. Their sell holds are one hold of the shares
(`ledger`: the stop-loss's hold is shared with the take-profit's).

The rest, where Alpaca is silent or this platform chose (README: order classes):

- canceling the entry while it has filled nothing cancels the held legs (`LegCanceled`);
  once it has filled, the legs stay live for what it filled;
- canceling a live leg cancels its pair's other leg too (one cancels the other); canceling
  a held leg cancels the held legs, and the entry goes on as a simple order;
- when the legs are done (filled or canceled) while the entry is still open, the rest of the
  entry is canceled (`CONTINGENT`): its exit has happened, and more shares would have none;
- an order of a class cannot be replaced (`LEG_NOT_REPLACEABLE`);
- a leg's id is derived from its parent's id (so from the parent's seq): in the parent's
  shard range, above the seq-assigned ids (`leg_id`). Legs take their parent's time in force,
  and a leg of a DAY order expires with its parent's session.

Everything is a function of the events of the command: `settle` runs after every command
and, until nothing more happens, arms, grows and cancels; a snapshot carries the groups.
"""

from typing import TYPE_CHECKING

import msgspec

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import (
    CancelReason,
    OrderClass,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    Event,
    LegCanceled,
    LegHeld,
    LegResized,
    LegsAttached,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    SymbolChanged,
    TradeExecuted,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.rejections import order_rejected
from tradingfloor.domain.shards import leg_id
from tradingfloor.engine.order_class_checks import class_refusal, oco_refusal
from tradingfloor.matching.book import OrderBook

if TYPE_CHECKING:
    from tradingfloor.engine.pipeline import RiskPipeline

TAKE_PROFIT = 0
STOP_LOSS = 1
OCO = OrderClass.OCO


class Leg(msgspec.Struct, array_like=True, gc=False):
    """One leg of a group: its id and terms; `live` once in the book, `done` once ended."""

    order_id: int
    which: int
    order_type: OrderType
    price: int | None
    stop_price: int | None
    live: bool = False
    done: bool = False


class Group(msgspec.Struct, array_like=True):
    """A parent and its legs. `filled` is what the entry filled, `armed` what the legs were
    given of it; `entry_done` once the entry ended (an OCO's parent is a leg: always)."""

    parent_id: int
    account: str
    symbol: str
    order_class: OrderClass
    side: Side
    tif: TimeInForce
    legs: list[Leg]
    filled: int = 0
    armed: int = 0
    entry_done: bool = False


class OrderClassesState(msgspec.Struct, array_like=True):
    groups: list[Group]
    """By parent id."""


class OrderClasses:
    """The groups of orders with legs, by parent id, and the legs' parents."""

    def __init__(self, groups: list[Group] | None = None) -> None:
        self.groups: dict[int, Group] = {}
        self.parents: dict[int, int] = {}
        """Leg id -> parent id, for every leg of a group."""
        for group in groups or []:
            self._add(group)

    def _add(self, group: Group) -> None:
        self.groups[group.parent_id] = group
        for leg in group.legs:
            self.parents[leg.order_id] = group.parent_id

    def _drop(self, group: Group) -> None:
        del self.groups[group.parent_id]
        for leg in group.legs:
            del self.parents[leg.order_id]

    def is_linked(self, order_id: int) -> bool:
        """Whether the order is a parent or a leg of a live group."""
        return order_id in self.groups or order_id in self.parents

    # ------------------------------------------------------------------ entry

    def attach(self, command: PlaceOrder, seq: int, ts: int, out: list[Event]) -> Group:
        """Its entry (or an OCO's take-profit) accepted: the group, `LegsAttached` and a
        `LegHeld` per leg."""
        exit_side = Side.SELL if command.side == Side.BUY else Side.BUY
        parent = command.order_id
        legs = _legs_of(command)
        side = command.side if command.order_class == OCO else exit_side
        group = Group(
            parent,
            command.account,
            command.symbol,
            command.order_class,
            side,
            command.tif,
            legs,
            entry_done=command.order_class == OCO,
        )
        self._add(group)
        out.append(
            LegsAttached(
                seq,
                ts,
                parent,
                command.account,
                command.symbol,
                command.order_class,
                [leg.order_id for leg in legs],
            )
        )
        for leg in legs:
            out.append(self._held(group, leg, command.qty, seq, ts))
        return group

    @staticmethod
    def _held(group: Group, leg: Leg, qty: int, seq: int, ts: int) -> LegHeld:
        return LegHeld(
            seq,
            ts,
            leg.order_id,
            group.parent_id,
            group.account,
            group.symbol,
            group.order_class,
            group.side,
            leg.order_type,
            group.tif,
            qty,
            leg.price,
            leg.stop_price,
        )

    @staticmethod
    def leg_command(group: Group, leg: Leg, qty: int) -> PlaceOrder:
        return PlaceOrder(
            leg.order_id,
            group.account,
            group.symbol,
            group.side,
            leg.order_type,
            qty,
            leg.price,
            leg.stop_price,
            group.tif,
        )

    def place(
        self,
        command: PlaceOrder,
        book: OrderBook,
        risk: "RiskPipeline | None",
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """Place an order of a class: refused as a whole, or its parent placed as any order
        and its legs attached (held; an OCO's stop-loss live with its take-profit)."""
        reason = class_refusal(command)
        if reason is None:
            reason = self._legs_refusal(command, book)
        if reason is None and command.order_class == OCO:
            reason = oco_refusal(command, book, risk, seq, ts, out)
        if reason is not None:
            out.append(order_rejected(command, seq, ts, command.order_id, command.symbol, reason))
            return
        start = len(out)
        if command.order_class == OCO:
            self._place_oco(command, book, risk, seq, ts, out)
        elif risk is None:
            book.place(command, seq, ts, out)
        else:
            risk.place(command, book, seq, ts, out)
        if _accepted(out, start, command.order_id):
            group = self.attach(command, seq, ts, out)
            if command.order_class == OCO:
                group.legs[0].live = True

    def _legs_refusal(self, command: PlaceOrder, book: OrderBook) -> RejectReason | None:
        """A leg the book would refuse as an order (tick, lot, prices)."""
        probe = Group(
            command.order_id,
            command.account,
            command.symbol,
            command.order_class,
            Side.SELL,
            command.tif,
            [],
        )
        for leg in _legs_of(command):
            reason = book.validate(self.leg_command(probe, leg, command.qty))
            if reason is not None:
                return reason
        return None

    def _place_oco(
        self,
        command: PlaceOrder,
        book: OrderBook,
        risk: "RiskPipeline | None",
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """The take-profit and its stop-loss enter the book at once, as a pair."""
        group = Group(
            command.order_id,
            command.account,
            command.symbol,
            OCO,
            command.side,
            command.tif,
            [],
        )
        stop_loss = self.leg_command(group, _legs_of(command)[0], command.qty)
        start = len(out)
        if risk is not None:
            hold_legs(risk, [command, stop_loss])
        book.accept_pair(command, stop_loss, command.order_id, seq, ts, out)
        if risk is not None:
            risk.post(out, start, ts)

    # ------------------------------------------------------------------ after a command

    def settle(
        self,
        books: dict[str, OrderBook],
        risk: "RiskPipeline | None",
        out: list[Event],
        start: int,
        seq: int,
        ts: int,
    ) -> None:
        """Follow the command's events from `start`: arm and grow legs with their entries'
        fills, cancel held legs of entries ended unfilled, end entries whose legs are done.
        What that does may fill more; it is followed too, until nothing more happens (each
        round consumes the book's liquidity or ends groups, so it ends)."""
        index = start
        while index < len(out) and self.groups:
            end = len(out)
            changed = self._scan(out, index, end)
            index = end
            for parent_id in changed:
                group = self.groups.get(parent_id)
                if group is not None:
                    self._advance(group, books[group.symbol], risk, out, seq, ts)

    def _scan(self, out: list[Event], start: int, end: int) -> list[int]:
        """The groups the events change, in the order they first appear (deterministic)."""
        changed: dict[int, None] = {}
        groups = self.groups
        parents = self.parents
        for index in range(start, end):
            event = out[index]
            kind = type(event)
            if kind is TradeExecuted:
                trade: TradeExecuted = event  # type: ignore[assignment]
                for order_id, leaves in (
                    (trade.maker_order_id, trade.maker_leaves),
                    (trade.taker_order_id, trade.taker_leaves),
                ):
                    group = groups.get(order_id)
                    if group is not None and group.order_class != OCO:
                        group.filled += trade.qty
                        group.entry_done = group.entry_done or not leaves
                        changed[order_id] = None
                    elif not leaves:
                        self._ended(order_id, changed)
            elif kind is SymbolChanged:  # the book and its orders go on under the new name
                for group in groups.values():
                    if group.symbol == event.symbol:  # type: ignore[attr-defined]
                        group.symbol = event.new_symbol  # type: ignore[attr-defined]
            elif kind is OrderCanceled or kind is OrderExpired or kind is OrderRejected:
                if kind is OrderCanceled and event.leaves:  # type: ignore[attr-defined]
                    continue
                order_id = event.order_id  # type: ignore[attr-defined]
                group = groups.get(order_id)
                if group is not None and group.order_class != OCO:
                    group.entry_done = True
                    changed[order_id] = None
                elif order_id in parents or group is not None:
                    self._ended(order_id, changed)
        return list(changed)

    def _ended(self, order_id: int, changed: dict[int, None]) -> None:
        """A live leg (or an OCO's parent) ended."""
        parent_id = self.parents.get(order_id, order_id)
        group = self.groups.get(parent_id)
        if group is None:
            return
        if order_id == parent_id:  # an OCO's take-profit: the pair's other leg follows it
            changed[parent_id] = None
            return
        for leg in group.legs:
            if leg.order_id == order_id:
                leg.done = True
        changed[parent_id] = None

    def _advance(
        self,
        group: Group,
        book: OrderBook,
        risk: "RiskPipeline | None",
        out: list[Event],
        seq: int,
        ts: int,
    ) -> None:
        if group.order_class == OCO:
            if not book.is_live(group.parent_id) and all(leg.done for leg in group.legs):
                self._drop(group)
            return
        held = [leg for leg in group.legs if not leg.live and not leg.done]
        if group.filled > group.armed and any(not leg.done for leg in group.legs):
            if held:
                self._arm(group, book, risk, out, seq, ts)
            else:
                self._grow(group, book, risk, out, seq, ts)
        elif group.entry_done and group.filled == 0:
            for leg in held:
                leg.done = True
                out.append(
                    LegCanceled(
                        seq, ts, leg.order_id, group.symbol, group.account, CancelReason.CONTINGENT
                    )
                )
        if all(leg.done for leg in group.legs):
            if not group.entry_done and book.is_live(group.parent_id):
                start = len(out)
                book.cancel(group.parent_id, "", seq, ts, out, CancelReason.CONTINGENT)
                if risk is not None:
                    risk.post(out, start, ts)
                group.entry_done = True
            self._drop(group)

    def _arm(
        self,
        group: Group,
        book: OrderBook,
        risk: "RiskPipeline | None",
        out: list[Event],
        seq: int,
        ts: int,
    ) -> None:
        """The entry's first fill: the held legs enter the book for what it filled."""
        qty = group.filled
        group.armed = qty
        legs = [leg for leg in group.legs if not leg.done]
        for leg in legs:
            leg.live = True
        commands = [self.leg_command(group, leg, qty) for leg in legs]
        start = len(out)
        if risk is not None:
            hold_legs(risk, commands)
        if len(commands) == 2:
            book.accept_pair(commands[0], commands[1], group.parent_id, seq, ts, out)
        else:
            book.accept_leg(commands[0], group.parent_id, seq, ts, out)
        if risk is not None:
            risk.post(out, start, ts)

    def _grow(
        self,
        group: Group,
        book: OrderBook,
        risk: "RiskPipeline | None",
        out: list[Event],
        seq: int,
        ts: int,
    ) -> None:
        """A later fill of the entry: the live legs grow by what it filled."""
        more = group.filled - group.armed
        group.armed = group.filled
        for leg in group.legs:
            if leg.done or not book.is_live(leg.order_id):
                continue
            qty, leaves = book.grow_leg(leg.order_id, more)
            if risk is not None:
                risk.ledger.resize(leg.order_id, leaves)
            out.append(LegResized(seq, ts, leg.order_id, group.symbol, group.account, qty, leaves))

    # ------------------------------------------------------------------ cancel

    def cancel_held(
        self, order_id: int, account: str, seq: int, ts: int, out: list[Event]
    ) -> bool:
        """The owner cancels a held leg: the group's held legs are canceled and the entry
        goes on as a simple order. False when `order_id` is no held leg of `account`'s."""
        parent_id = self.parents.get(order_id)
        group = None if parent_id is None else self.groups.get(parent_id)
        if group is None or (account and group.account != account):
            return False
        leg = next(leg for leg in group.legs if leg.order_id == order_id)
        if leg.live or leg.done:
            return False
        for other in group.legs:
            if not other.live and not other.done:
                other.done = True
                out.append(
                    LegCanceled(
                        seq,
                        ts,
                        other.order_id,
                        group.symbol,
                        group.account,
                        CancelReason.REQUESTED,
                    )
                )
        if all(other.done for other in group.legs):
            self._drop(group)
        return True

    # ------------------------------------------------------------------ snapshots

    def export_state(self) -> OrderClassesState | None:
        if not self.groups:
            return None
        return OrderClassesState([self.groups[key] for key in sorted(self.groups)])

    @classmethod
    def from_state(cls, state: OrderClassesState | None) -> "OrderClasses":
        if state is None:
            return cls()
        return cls([msgspec.structs.replace(group) for group in state.groups])


def _legs_of(command: PlaceOrder) -> list[Leg]:
    """The legs an order of a class names: take-profit first (none for an OCO, whose parent
    is its take-profit), then stop-loss."""
    parent = command.order_id
    legs: list[Leg] = []
    if command.take_profit_price is not None and command.order_class != OCO:
        legs.append(
            Leg(
                leg_id(parent, TAKE_PROFIT),
                TAKE_PROFIT,
                OrderType.LIMIT,
                command.take_profit_price,
                None,
            )
        )
    if command.stop_loss_price is not None:
        limit = command.stop_loss_limit_price
        legs.append(
            Leg(
                leg_id(parent, STOP_LOSS),
                STOP_LOSS,
                OrderType.STOP if limit is None else OrderType.STOP_LIMIT,
                limit,
                command.stop_loss_price,
            )
        )
    return legs


def _accepted(out: list[Event], start: int, order_id: int) -> bool:
    for index in range(start, len(out)):
        event = out[index]
        if type(event) is OrderAccepted and event.order_id == order_id:
            return True
    return False


def hold_legs(risk: "RiskPipeline", commands: list[PlaceOrder]) -> None:
    """Hold the shares the legs sell: once for a pair (the stop-loss shares the
    take-profit's hold), as any sell for a lone leg. The entry's fill has just delivered
    them, so they are there."""
    first = commands[0]
    account = risk.ledger.accounts[first.account]
    risk.ledger.hold(first.order_id, account, first.symbol, first.side, first.qty, 0)
    if len(commands) == 2:
        second = commands[1]
        risk.ledger.hold_shared(
            second.order_id, account, second.symbol, second.qty, first.order_id
        )
