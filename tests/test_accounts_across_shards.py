"""Accounts across symbol shards: two shards, each the single writer of its symbols and of the
cash allocated to it, a router in front, the cash allocator moving cash between them.

A random market of several accounts trading symbols of both shards, with deposits,
withdrawals, cancels and random cash moves (and the allocator's own moves after refusals),
is checked after every step: each shard's ledger invariants, every move taken in once and
only after it went out, and the books of the whole platform together (cash conserved across
shards counting what is in flight, shares conserved per symbol); at the end nothing is in
flight and every account's total equals what it was given minus what it took and paid.
"""

import random
from collections import Counter
from pathlib import Path

import pytest

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
    SetReferencePrice,
    Withdraw,
)
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    CashAllocatedIn,
    CashAllocatedOut,
    CommandRejected,
    Event,
    OrderAccepted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN, ShardMap
from tradingfloor.engine.check import check_ledger
from tradingfloor.service.allocator import CashAllocator
from tradingfloor.service.node import NodeSettings
from tradingfloor.service.shard import ShardRole
from tradingfloor.service.shard_router import BroadcastFailed, ShardRouter, home_shard
from tradingfloor.store.database import make_engine, upgrade
from tradingfloor.store.projector import Projector, projection_name
from tradingfloor.store.queries import get_balances, list_positions

DOLLAR = PRICE_SCALE
SYMBOLS = {"AAA": "east", "ABC": "east", "BBB": "west", "BCD": "west"}
ACCOUNTS = [f"acct{i}" for i in range(6)]
STEPS = 250
SETTLE_S = 10.0


class Platform:
    def __init__(self, root: Path) -> None:
        self.map = ShardMap(("east", "west"), SYMBOLS)
        self.shards = {
            name: ShardRole(
                NodeSettings(root / name, fsync=False, shard_index=index, risk=RiskSettings())
            )
            for index, name in enumerate(self.map.names)
        }
        self.router = ShardRouter(self.map, self.shards)
        self.allocator = CashAllocator(self.shards)
        self.deposited = 0
        self.withdrawn = 0
        self.live: list[tuple[int, str]] = []

    async def start(self) -> None:
        for shard in self.shards.values():
            await shard.start()
        await self.allocator.start()

    async def stop(self) -> None:
        await self.allocator.stop()
        for shard in self.shards.values():
            await shard.stop()

    async def list_symbols(self) -> None:
        for symbol in SYMBOLS:
            await self.router.submit(AddInstrument(Instrument(symbol)))
            await self.router.submit(SetReferencePrice(symbol, 100 * DOLLAR))

    def events(self, shard: str) -> list[Event]:
        return [
            event for _, _, events in self.shards[shard].node.events.read(1) for event in events
        ]


def _check_whole_platform(platform: Platform, shares_in: dict[str, int]) -> None:
    """Each shard's ledger; moves in only after out, once; cash and shares over both."""
    cash = fees = allocated_out = allocated_in = 0
    shares: dict[str, int] = {}
    for shard in platform.shards.values():
        check_ledger(shard.engine)
        risk = shard.engine.risk
        assert risk is not None
        for account in risk.ledger.accounts.values():
            cash += account.cash
            fees += account.fees
            allocated_out += account.allocated_out
            allocated_in += account.allocated_in
            for symbol, position in account.positions.items():
                shares[symbol] = shares.get(symbol, 0) + position.qty
    outs: dict[tuple[str, int], CashAllocatedOut] = {}
    for name in platform.map.names:
        for event in platform.events(name):
            if isinstance(event, CashAllocatedOut):
                outs[(name, event.seq)] = event
    taken: set[tuple[str, int]] = set()
    for name in platform.map.names:
        for event in platform.events(name):
            if isinstance(event, CashAllocatedIn):
                key = (event.from_shard, event.out_seq)
                out = outs.get(key)
                assert out is not None, f"{key} taken in on {name} but never moved out"
                assert key not in taken, f"{key} taken in twice"
                assert (out.account, out.amount, out.to_shard) == (
                    event.account,
                    event.amount,
                    name,
                )
                taken.add(key)
    in_flight = sum(out.amount for key, out in outs.items() if key not in taken)
    assert allocated_out - allocated_in == in_flight
    assert cash + in_flight == platform.deposited - platform.withdrawn - fees
    assert {s: q for s, q in shares.items() if q} == {s: q for s, q in shares_in.items() if q}


async def _random_step(platform: Platform, rng: random.Random) -> None:
    account = rng.choice(ACCOUNTS)
    roll = rng.random()
    if roll < 0.55:
        symbol = rng.choice(list(SYMBOLS))
        side = rng.choice([Side.BUY, Side.SELL])
        price = rng.randint(95, 105) * DOLLAR
        command = PlaceOrder(
            0, account, symbol, side, OrderType.LIMIT, rng.randint(1, 400), price,
            tif=rng.choice([TimeInForce.DAY, TimeInForce.IOC]),
        )  # fmt: skip
        result = await platform.router.submit(command)
        for event in result.events:
            if isinstance(event, OrderAccepted):
                assert platform.map.shard_of_order(event.order_id) == platform.map.shard_of_symbol(
                    symbol
                )
                platform.live.append((event.order_id, symbol))
    elif roll < 0.7 and platform.live:
        order_id, symbol = platform.live.pop(rng.randrange(len(platform.live)))
        await platform.router.submit(CancelOrder(order_id, symbol, account))
    elif roll < 0.85:
        source, destination = rng.sample(list(platform.map.names), 2)
        await platform.allocator.move(
            account, rng.randint(1, 30_000) * DOLLAR, source, destination
        )
    elif roll < 0.93:
        amount = rng.randint(1, 20_000) * DOLLAR
        await platform.router.submit(Deposit(account, amount))
        platform.deposited += amount
    else:
        amount = rng.randint(1, 20_000) * DOLLAR
        result = await platform.router.submit(Withdraw(account, amount))
        if not any(isinstance(event, CommandRejected) for event in result.events):
            platform.withdrawn += amount


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_accounts_across_two_shards_balance_to_the_cent(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    platform = Platform(tmp_path)
    await platform.start()
    try:
        await platform.list_symbols()
        shares_in: dict[str, int] = {}
        for account in ACCOUNTS:
            await platform.router.submit(OpenAccount(account))
            await platform.router.submit(Deposit(account, 50_000 * DOLLAR))
            platform.deposited += 50_000 * DOLLAR
            for symbol in SYMBOLS:
                await platform.router.submit(DepositShares(account, symbol, 500, 100 * DOLLAR))
                shares_in[symbol] = shares_in.get(symbol, 0) + 500
        for _ in range(STEPS):
            await _random_step(platform, rng)
            _check_whole_platform(platform, shares_in)
        await platform.allocator.settled(SETTLE_S)
        _check_whole_platform(platform, shares_in)
        _check_read_models_of_both_shards(platform, tmp_path)
        for name in platform.map.names:
            kinds = Counter(type(event).__name__ for event in platform.events(name))
            print(name, dict(kinds))
            assert kinds["TradeExecuted"] > 0, f"nothing traded on {name}"
            assert kinds["CashAllocatedIn"] > 0, f"no cash moved to {name}"
    finally:
        await platform.stop()


def _check_read_models_of_both_shards(platform: Platform, root: Path) -> None:
    """Each shard's projector into one database: every account's balances are the sums of
    its parts, every position is its symbol's shard's, every order is there once."""
    url = f"sqlite:///{root / 'read-models.db'}"
    upgrade(url)
    store = make_engine(url)
    try:
        for index, name in enumerate(platform.map.names):
            projector = Projector(store, projection_name(index, name), index)
            projector.apply_stream(platform.shards[name].node.events.read(1))
        with store.connect() as connection:
            for account in ACCOUNTS:
                parts = [
                    shard.engine.risk.ledger.accounts[account]  # type: ignore[union-attr]
                    for shard in platform.shards.values()
                ]
                balances = get_balances(connection, account)
                assert balances is not None
                assert balances.cash == sum(part.cash for part in parts)
                assert balances.fees == sum(part.fees for part in parts)
                rows = {row.symbol: row.qty for row in list_positions(connection, account)}
                held = {
                    symbol: position.qty
                    for part in parts
                    for symbol, position in part.positions.items()
                    if position.qty
                }
                assert {s: q for s, q in rows.items() if q} == held
    finally:
        store.dispose()


async def test_orders_route_by_symbol_and_by_order_id_and_ids_name_their_shard(
    tmp_path: Path,
) -> None:
    platform = Platform(tmp_path)
    await platform.start()
    try:
        await platform.list_symbols()
        await platform.router.submit(OpenAccount("x"))
        await platform.router.submit(Deposit("x", 10_000 * DOLLAR))
        home = home_shard(platform.map, "x")
        other = next(name for name in platform.map.names if name != home)
        await platform.allocator.move("x", 5_000 * DOLLAR, home, other)
        await platform.allocator.settled(SETTLE_S)
        placed = {}
        for symbol in ("AAA", "BBB"):
            result = await platform.router.submit(
                PlaceOrder(0, "x", symbol, Side.BUY, OrderType.LIMIT, 10, 99 * DOLLAR)
            )
            accepted = [e for e in result.events if isinstance(e, OrderAccepted)]
            assert len(accepted) == 1
            placed[symbol] = accepted[0].order_id
        assert placed["AAA"] < ORDER_ID_SHARD_SPAN <= placed["BBB"]  # east is shard 0
        live = await platform.router.live_order(placed["BBB"])
        assert live is not None and live.symbol == "BBB"
        result = await platform.router.submit(CancelOrder(placed["BBB"], "BBB", "x"))
        assert not any(isinstance(e, CommandRejected) for e in result.events)
        assert await platform.router.live_order(placed["BBB"]) is None
        summary = await platform.router.account("x", 0)
        assert summary is not None and summary.cash == 10_000 * DOLLAR
        assert summary.held == platform.shards["east"].engine.risk.ledger.accounts["x"].held  # type: ignore[union-attr]
        with pytest.raises(BroadcastFailed):  # the account is open on both already
            await platform.router.submit(OpenAccount("x"))
    finally:
        await platform.stop()


async def test_a_shard_spends_only_the_cash_allocated_to_it(tmp_path: Path) -> None:
    """An account with all its cash on its home shard cannot buy on the other until cash is
    moved there; the allocator brings it after the refusal; a move is taken in once."""
    platform = Platform(tmp_path)
    await platform.start()
    try:
        await platform.list_symbols()
        await platform.router.submit(OpenAccount("y"))
        await platform.router.submit(Deposit("y", 1_000 * DOLLAR))
        home = home_shard(platform.map, "y")
        symbol = next(s for s, shard in SYMBOLS.items() if shard != home)
        buy = PlaceOrder(0, "y", symbol, Side.BUY, OrderType.LIMIT, 5, 100 * DOLLAR)
        refused = await platform.router.submit(buy)
        reasons = [getattr(e, "reason", None) for e in refused.events]
        assert RejectReason.INSUFFICIENT_BUYING_POWER in reasons
        await _until_cash_on(platform, "y", SYMBOLS[symbol], 1_000 * DOLLAR)
        again = await platform.router.submit(buy)
        assert any(isinstance(e, OrderAccepted) for e in again.events)
        # The same move sent twice is taken once.
        shard = platform.shards[SYMBOLS[symbol]]
        ins = [e for e in platform.events(SYMBOLS[symbol]) if isinstance(e, CashAllocatedIn)]
        from tradingfloor.domain.commands import AllocateCashIn

        duplicate = await shard.submit(
            AllocateCashIn("y", ins[0].amount, ins[0].from_shard, ins[0].out_seq)
        )
        assert [e.reason for e in duplicate.events if isinstance(e, CommandRejected)] == [
            RejectReason.ALLOCATION_ALREADY_TAKEN
        ]
    finally:
        await platform.stop()


async def _until_cash_on(platform: Platform, account: str, shard: str, amount: int) -> None:
    import asyncio

    for _ in range(2_000):
        summary = await platform.shards[shard].account(account, 0)
        if summary is not None and summary.cash >= amount:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{account}'s cash never reached {amount} on {shard}")
