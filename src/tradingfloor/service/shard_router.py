"""`ShardPort` over the platform's symbol shards: each command to the shard that owns it.

A platform of K shards (`domain.shards.ShardMap`) gives each symbol one writer. The router is
what a caller holds instead of one shard's port:

- an order, a listing, a reference price, shares in or out: the shard of its symbol;
- a cancel or a replace: the shard of its symbol (the order's);
- a symbol's handover to another shard: the shard that has it;
- a corporate action's announcement: the shard of the symbol it is about;
- a halt, a resume or an expiry of one symbol: the shard of the symbol;
- the same for the whole market, an account's opening and status, risk settings, the market
  index, settling funds: every shard, in the map's order;
- a deposit or a withdrawal of cash: the account's home shard (`home_shard`).

An answer's `seq` is a token (`domain.shards.seq_token`): the shard's index and its seq in
one number, equal to the order id the command's seq gave a new order, so read-your-writes
tokens and order ids both name their shard (`last_tokens` gives every shard's newest).

A command sent to every shard answers with the first shard's result once all have applied
it; one refused by a shard fails the whole (`BroadcastFailed`) after the others, which a retry
makes whole (opening an account that exists is refused as `ACCOUNT_EXISTS`, harmless).
Moves between shards (`AllocateCashOut`, `AllocateCashIn`, `TakeOverSymbol`) name their
shards and are the allocator's (`service.allocator`), sent to a shard's own port: the router
refuses them. A symbol that moved is routed to its new shard once the router has seen the
takeover in a feed (`learn`, a feed listener): the map in settings says where symbols start.
A symbol change (`SymbolChanged`) is learnt the same way: the new symbol is where the old was.

The questions merge the shards' answers: an account's summary sums its cash, holds and values
over every shard (each shard holds the cash allocated to it); positions and instruments are
the union. `last_seq` and `follow` are a shard's: a caller that follows events holds one
port per shard (`ports`).
"""

import zlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from tradingfloor.domain.commands import (
    AddInstrument,
    AllocateCashIn,
    AllocateCashOut,
    AnnounceCorporateAction,
    CancelOrder,
    Command,
    Deposit,
    DepositShares,
    ExpireOrders,
    HaltTrading,
    HandOverSymbol,
    PlaceOrder,
    RecordBreak,
    ReplaceOrder,
    ResolveBreak,
    ResumeTrading,
    SetReferencePrice,
    TakeOverSymbol,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.events import CommandRejected, SymbolChanged, SymbolTakenOver
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import Origin
from tradingfloor.domain.shards import ShardMap, UnknownShard, seq_token
from tradingfloor.engine.pipeline import AccountSummary, PositionView
from tradingfloor.service.ports import EventBatch, LiveOrder, ShardPort
from tradingfloor.service.sequencer import Result

_BY_SYMBOL = (
    PlaceOrder,
    CancelOrder,
    ReplaceOrder,
    SetReferencePrice,
    DepositShares,
    WithdrawShares,
    HandOverSymbol,
)
_BETWEEN_SHARDS = (AllocateCashOut, AllocateCashIn, TakeOverSymbol)
_BY_SYMBOL_OR_ALL = (HaltTrading, ResumeTrading, ExpireOrders)
_SUMMED = (
    "cash",
    "settled_cash",
    "unsettled_cash",
    "held",
    "buying_power",
    "withdrawable",
    "positions_value",
    "equity",
    "fees",
    "day_trades",
    "open_orders",
)


class BroadcastFailed(RuntimeError):
    """A command for every shard was refused by one of them."""


def shard_of(
    shard_map: ShardMap, command: Command, moved: Mapping[str, str] | None = None
) -> str | None:
    """The one shard `command` goes to, or None for every shard (see the module); `moved`:
    symbols that moved since the map was written (symbol -> shard), as the feeds told.
    Raises `ValueError` for a move between shards (it names its shards)."""
    kind = type(command)

    def owner(symbol: str) -> str:
        if moved:
            found = moved.get(symbol)
            if found is not None:
                return found
        return shard_map.shard_of_symbol(symbol)

    if kind is AddInstrument:
        return owner(command.instrument.symbol)  # type: ignore[attr-defined]
    if kind in _BY_SYMBOL:
        return owner(command.symbol)  # type: ignore[attr-defined]
    if kind is AnnounceCorporateAction:
        return owner(command.action.symbol)  # type: ignore[attr-defined]
    if kind is RecordBreak or kind is ResolveBreak:
        symbol = command.symbol  # type: ignore[attr-defined]
        return break_shard(shard_map, symbol, moved)
    if kind in _BY_SYMBOL_OR_ALL:
        symbol = command.symbol  # type: ignore[attr-defined]
        return None if symbol is None else owner(symbol)
    if kind is Deposit or kind is Withdraw:
        return home_shard(shard_map, command.account)  # type: ignore[attr-defined]
    if kind in _BETWEEN_SHARDS:
        raise ValueError("a move between shards goes to a shard's own port")
    return None


CASH_BREAK_SYMBOLS = frozenset({"", "USD"})
"""A break about cash alone names no symbol (or the clearinghouse's `USD`): it is recorded,
and resolved, on the first shard."""


def break_shard(shard_map: ShardMap, symbol: str, moved: Mapping[str, str] | None = None) -> str:
    """The shard a break about `symbol` is recorded and resolved on: the symbol's now
    (`moved`, as `learn_moves` keeps it), the first shard for cash."""
    if symbol in CASH_BREAK_SYMBOLS:
        return shard_map.names[0]
    found = moved.get(symbol) if moved else None
    return found if found is not None else shard_map.shard_of_symbol(symbol)


def learn_moves(shard_map: ShardMap, moved: dict[str, str], batch: EventBatch) -> None:
    """Where moved symbols are now (`SymbolTakenOver`), and where a renamed one trades under
    its new name (`SymbolChanged`: the old one's shard), into `moved` (symbol -> shard)."""
    for _, _, events in batch:
        for event in events:
            kind = type(event)
            if kind is SymbolTakenOver:
                moved[event.symbol] = event.shard  # type: ignore[attr-defined]
            elif kind is SymbolChanged:
                old = event.symbol  # type: ignore[attr-defined]
                shard = moved.get(old) or shard_map.shard_of_symbol(old)
                moved[event.new_symbol] = shard  # type: ignore[attr-defined]


def home_shard(shard_map: ShardMap, account: str) -> str:
    """Where an account's deposits land and its withdrawals leave from (a stable hash)."""
    return shard_map.names[zlib.crc32(account.encode()) % len(shard_map.names)]


class ShardRouter:
    def __init__(self, shard_map: ShardMap, ports: Mapping[str, ShardPort]) -> None:
        missing = [name for name in shard_map.names if name not in ports]
        if missing:
            raise ValueError(f"no port for shards {missing}")
        self.map = shard_map
        self.ports = dict(ports)
        self.moved: dict[str, str] = {}
        """Symbols moved since the map was written (symbol -> shard), from the feeds."""

    def shard_of(self, command: Command) -> str | None:
        """The one shard `command` goes to, or None for every shard."""
        return shard_of(self.map, command, self.moved)

    def learn(self, batch: EventBatch) -> None:
        """A feed listener: where moved and renamed symbols are now (`learn_moves`)."""
        learn_moves(self.map, self.moved, batch)

    async def submit(self, command: Command, origin: Origin | None = None) -> Result:
        try:
            shard = self.shard_of(command)
        except UnknownShard as error:
            raise LookupError(str(error)) from error
        if shard is not None:
            return self._tokened(shard, await self.ports[shard].submit(command, origin))
        results = [await self.ports[name].submit(command, origin) for name in self.map.names]
        for name, result in zip(self.map.names, results, strict=True):
            for event in result.events:
                if isinstance(event, CommandRejected):
                    raise BroadcastFailed(f"shard {name}: {event.reason.message}")
        return self._tokened(self.map.names[0], results[0])

    def _tokened(self, shard: str, result: Result) -> Result:
        token = seq_token(self.map.index(shard), result.seq)
        return Result(token, result.ts, result.command, result.events, result.origin)

    async def last_seq(self) -> int:
        """The first shard's (a caller waiting on every shard asks `last_tokens`)."""
        return await self.ports[self.map.names[0]].last_seq()

    async def last_tokens(self) -> list[int]:
        """Every shard's newest seq, as tokens."""
        return [
            seq_token(index, await self.ports[name].last_seq())
            for index, name in enumerate(self.map.names)
        ]

    async def account(self, account: str, ts: int) -> AccountSummary | None:
        found = [await self.ports[name].account(account, ts) for name in self.map.names]
        summaries = [summary for summary in found if summary is not None]
        if not summaries:
            return None
        first = summaries[0]
        merged: dict[str, Any] = {
            field: sum(getattr(summary, field) for summary in summaries) for field in _SUMMED
        }
        merged["pattern_day_trader"] = any(s.pattern_day_trader for s in summaries)
        # Each shard counts the violations of its own symbols' sales.
        merged["good_faith_violations"] = sum(s.good_faith_violations for s in summaries)
        until = [s.settled_cash_only_until for s in summaries if s.settled_cash_only_until]
        merged["settled_cash_only_until"] = max(until, default=None)
        return AccountSummary(first.account, first.kind, first.status, **merged)

    async def positions(self, account: str) -> list[PositionView]:
        views: list[PositionView] = []
        for name in self.map.names:
            views.extend(await self.ports[name].positions(account))
        return sorted(views, key=lambda view: view.symbol)

    async def live_order(self, order_id: int) -> LiveOrder | None:
        """Asked first of the shard the id names, then of the others (its symbol may have
        moved)."""
        try:
            first = self.map.shard_of_order(order_id)
        except UnknownShard:
            return None
        for name in [first, *(name for name in self.map.names if name != first)]:
            live = await self.ports[name].live_order(order_id)
            if live is not None:
                return live
        return None

    async def instruments(self) -> list[Instrument]:
        found: list[Instrument] = []
        for name in self.map.names:
            found.extend(await self.ports[name].instruments())
        return sorted(found, key=lambda instrument: instrument.symbol)

    async def problems(self) -> list[str]:
        found: list[str] = []
        for name in self.map.names:
            found.extend(f"shard {name}: {p}" for p in await self.ports[name].problems())
        return found

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        """The first shard's feed (see the module: followers hold one port per shard)."""
        async for batch in self.ports[self.map.names[0]].follow(from_seq):
            yield batch
