"""The cash allocator: accounts across symbol shards, by buying power allocated to shards.

Each shard is the single writer of its symbols and holds, for every account, the cash it may
spend there: an order is held against that shard's cash only, so two shards can never spend
the same dollar, and shares never cross shards (a symbol lives on one). Cash moves between
shards as two journaled commands: `AllocateCashOut` on the source (from cash that a withdrawal
could take: nothing an open order or an unsettled purchase needs), then `AllocateCashIn` on
the destination naming the source's seq. The money is in flight between the two, and the
platform's books balance across shards at every moment:

    sum over shards of cash = deposits - withdrawals - fees - in flight

`CashAllocator` is the role that finishes the moves: it follows every shard's event feed, and
for each `CashAllocatedOut` sends the destination its `AllocateCashIn` (and for each
`SymbolHandedOver`, a symbol moving between shards, its `TakeOverSymbol`), one source's moves
in that source's order, waiting for each answer (a shard takes a source's moves in order, each
once: a retry after a lost answer is refused as already taken, and changes nothing). It keeps
no state of its own: at start it reads what each destination has taken in, so a restart
resumes where the feeds say. `move` starts a move (an operator's or a policy's decision).

Why allocation rather than a risk stage partitioned by account (exchange-core's hold → match →
release): an order then needs one shard, one journal write and one answer, as on a platform of
one shard, and each shard stays a deterministic engine with its own ledger that recovery,
snapshots and the hot standby already cover. The price is cash parked on a shard where the
account does not trade: the policy (`rebalance_on_refusal`) brings an account's free cash to a
shard where a buy was refused for buying power.
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from tradingfloor.domain.commands import (
    AllocateCashIn,
    AllocateCashOut,
    Command,
    TakeOverSymbol,
)
from tradingfloor.domain.events import (
    CashAllocatedIn,
    CashAllocatedOut,
    OrderRejected,
    SymbolHandedOver,
    SymbolTakenOver,
)
from tradingfloor.domain.origin import role_origin
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.service.ports import ShardPort
from tradingfloor.service.sequencer import Result

log = logging.getLogger("tradingfloor.allocator")
ALLOCATOR_ORIGIN = role_origin("allocator")

retry_wait_s_max = 2.0
"""The longest wait before a move whose destination could not be reached is sent again."""


class CashAllocator:
    def __init__(self, ports: Mapping[str, ShardPort], rebalance_on_refusal: bool = True) -> None:
        self.ports = dict(ports)
        self.rebalance_on_refusal = rebalance_on_refusal
        self.taken: dict[tuple[str, str], int] = {}
        """(source, destination) → the last source seq the destination has taken in."""
        self.in_flight: dict[tuple[str, int], object] = {}
        """(source, seq) → a move out (of cash or of a symbol) not yet taken in."""
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Learn what every shard has taken in, then follow every shard's moves out."""
        for name, port in self.ports.items():
            last = await port.last_seq()
            if last:
                async for batch in port.follow(1):
                    for _, _, events in batch:
                        for event in events:
                            if isinstance(event, CashAllocatedIn | SymbolTakenOver):
                                key = (event.from_shard, name)
                                self.taken[key] = max(self.taken.get(key, 0), event.out_seq)
                    if batch[-1][0] >= last:
                        break
        for name in self.ports:
            self._tasks.append(asyncio.create_task(self._follow(name)))
        self._ready.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def move(self, account: str, amount: int, source: str, destination: str) -> Result:
        """Start a move of `amount` of `account`'s free cash from `source` to `destination`;
        its answer is the source's (refused there if the cash is not free)."""
        if source == destination or destination not in self.ports:
            raise ValueError(f"no move from shard {source!r} to {destination!r}")
        command = AllocateCashOut(account, amount, destination)
        result = await self.ports[source].submit(command, ALLOCATOR_ORIGIN)
        for event in result.events:  # in flight from now, before the feed shows it
            if isinstance(event, CashAllocatedOut) and result.seq > self.taken.get(
                (source, destination), 0
            ):
                self.in_flight.setdefault((source, result.seq), event)
        return result

    async def settled(self, timeout_s: float) -> None:
        """Wait until no move is in flight (tests, and a clean stop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.in_flight:
            if loop.time() > deadline:
                raise TimeoutError(f"{len(self.in_flight)} cash moves still in flight")
            await asyncio.sleep(0.005)

    async def _follow(self, source: str) -> None:
        async for batch in self.ports[source].follow(1):
            for seq, _, events in batch:
                for event in events:
                    if isinstance(event, CashAllocatedOut):
                        command: Command = AllocateCashIn(event.account, event.amount, source, seq)
                        await self._take_in(source, seq, event.to_shard, command)
                    elif isinstance(event, SymbolHandedOver):
                        command = TakeOverSymbol(
                            event.symbol, source, seq, event.to_shard, event.state
                        )
                        await self._take_in(source, seq, event.to_shard, command)
                    elif (
                        self.rebalance_on_refusal
                        and isinstance(event, OrderRejected)
                        and event.reason == RejectReason.INSUFFICIENT_BUYING_POWER
                    ):
                        await self._gather(event.account, source)

    async def _take_in(self, source: str, seq: int, destination: str, command: Command) -> None:
        """Send `destination` the takeover of `source`'s move at `seq` (cash or a symbol),
        again until it answers."""
        if seq <= self.taken.get((source, destination), 0):
            self.in_flight.pop((source, seq), None)
            return
        port = self.ports.get(destination)
        if port is None:
            log.error("shard %s moved to unknown shard %r (seq %d)", source, destination, seq)
            return
        self.in_flight.setdefault((source, seq), command)
        wait_s = 0.05
        while True:
            try:
                await port.submit(command, ALLOCATOR_ORIGIN)  # taken, or refused as taken: done
                break
            except Exception as error:  # unreachable or overloaded: the same move again
                log.warning("move %s:%d to %s: %r; retrying", source, seq, destination, error)
                await asyncio.sleep(wait_s)
                wait_s = min(wait_s * 2, retry_wait_s_max)
        self.taken[(source, destination)] = seq
        self.in_flight.pop((source, seq), None)

    async def _gather(self, account: str, destination: str) -> None:
        """Bring `account`'s free cash on the other shards to `destination`."""
        for name, port in self.ports.items():
            if name == destination:
                continue
            summary = await port.account(account, 0)
            if summary is not None and summary.withdrawable > 0:
                with contextlib.suppress(Exception):  # refused: the cash was spent meanwhile
                    await self.move(account, summary.withdrawable, name, destination)
