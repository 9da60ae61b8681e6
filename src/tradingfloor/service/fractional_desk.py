"""The fractional desk's inventory, squared on the book: a role that follows every shard's
event feed and keeps the desk's whole shares of each symbol within a band.

The engine fills fractions of a share against the desk account (`engine.fractions`): a
customer's fractional buy takes nano-shares from the desk's position, a fractional sale
gives it some. This role watches the desk's fills (`FractionFilled`) and the fractions it
could not take for lack of shares (`FractionCanceled` with `FRACTIONAL_DESK`), and for each
symbol they name reads the desk's position through the shard's port: with fewer than
`inventory_min_shares` whole shares free it buys up to the middle of the band; with more
than `inventory_max_shares` whole shares it sells down to the middle. Its orders are
ordinary market day orders of the desk account on the book, in whole shares: the shard's
risk checks apply to them as to any member's, and one that finds no liquidity ends (the
desk's next fill in the symbol tries again).

It keeps no state of its own: at start it squares every symbol each shard lists, then
follows the feeds from their ends, so a restart resumes from what the shards say.
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import msgspec

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import CancelReason, OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    Event,
    FractionCanceled,
    FractionFilled,
    OrderRejected,
    TradeExecuted,
)
from tradingfloor.domain.fractions import NANO
from tradingfloor.domain.origin import role_origin
from tradingfloor.service.ports import EventBatch, ShardPort

log = logging.getLogger("tradingfloor.fractional_desk")
DESK_ORIGIN = role_origin("fractional-desk")


class DeskBand(msgspec.Struct, frozen=True):
    """The whole shares of each symbol the desk keeps: at least `min_shares` free for
    customers' fractional buys, at most `max_shares` from their fractional sales."""

    min_shares: int
    max_shares: int

    @property
    def target(self) -> int:
        return (self.min_shares + self.max_shares + 1) // 2


class DeskOrder(msgspec.Struct, frozen=True):
    """One squaring order the role sent, and what came of it (for its log and tests)."""

    shard: str
    symbol: str
    side: Side
    qty: int
    filled: int
    refused: int | None = None
    """The reject code, when the shard refused it."""


class FractionalDesk:
    """Follows every shard's feed and squares the desk's inventory (see the module)."""

    def __init__(self, ports: Mapping[str, ShardPort], account: str, band: DeskBand) -> None:
        if not 0 <= band.min_shares <= band.max_shares:
            raise ValueError("the desk's band needs 0 <= min_shares <= max_shares")
        self.ports = dict(ports)
        self.account = account
        self.band = band
        self.orders: list[DeskOrder] = []
        """The orders sent, oldest first (bounded: the newest `orders_kept_max`)."""
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Square every listed symbol once, then follow each shard's feed from its end."""
        for name, port in self.ports.items():
            start = await port.last_seq() + 1
            for instrument in await port.instruments():
                await self.square(name, instrument.symbol)
            self._tasks.append(asyncio.create_task(self._follow(name, start)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _follow(self, name: str, start: int) -> None:
        async for batch in self.ports[name].follow(start):
            for symbol in sorted(self.symbols_to_square(batch)):
                try:
                    await self.square(name, symbol)
                except Exception as error:  # the shard unreachable: its next fill retries
                    log.warning("squaring %s on shard %s: %r", symbol, name, error)

    def symbols_to_square(self, batch: EventBatch) -> set[str]:
        """The symbols whose desk inventory `batch` changed, or found short."""
        found = set()
        for _, _, events in batch:
            for event in events:
                if self._touches_desk(event):
                    found.add(event.symbol)  # type: ignore[attr-defined]
        return found

    def _touches_desk(self, event: Event) -> bool:
        if isinstance(event, FractionFilled):
            return event.desk_account == self.account
        if isinstance(event, FractionCanceled):
            return event.reason == CancelReason.FRACTIONAL_DESK
        return False

    async def square(self, shard: str, symbol: str) -> DeskOrder | None:
        """Bring the desk's whole shares of `symbol` back within the band (None: they are)."""
        port = self.ports[shard]
        positions = await port.positions(self.account)
        held = next((view for view in positions if view.symbol == symbol), None)
        if held is None and await port.account(self.account, 0) is None:
            return None  # not opened yet: an operator opens and funds it
        qty = 0 if held is None else held.qty
        free = 0 if held is None else held.available_nano // NANO
        band = self.band
        if free < band.min_shares:
            side, size = Side.BUY, band.target - free
        elif qty > band.max_shares:
            side, size = Side.SELL, min(qty - band.target, free)
        else:
            return None
        if size <= 0:
            return None
        command = PlaceOrder(
            0, self.account, symbol, side, OrderType.MARKET, size, tif=TimeInForce.DAY
        )
        result = await port.submit(command, DESK_ORIGIN)
        order = _outcome(shard, symbol, side, size, result.events)
        self.orders.append(order)
        del self.orders[:-orders_kept_max]
        if order.refused is not None:
            log.warning("desk %s %d %s refused: %d", side.name, size, symbol, order.refused)
        return order


orders_kept_max = 1_000
"""Squaring orders the role remembers (for its log and tests)."""


def _outcome(shard: str, symbol: str, side: Side, size: int, events: list[Event]) -> DeskOrder:
    filled = 0
    for event in events:
        if type(event) is OrderRejected:
            return DeskOrder(shard, symbol, side, size, 0, int(event.reason))
        if type(event) is TradeExecuted:
            filled += event.qty
    return DeskOrder(shard, symbol, side, size, filled)
