"""`tradingfloor bench failover`: how long a shard is down when its primary is killed.

    tradingfloor bench failover [--trials 20] [--url nats://127.0.0.1:4222] [--submitters 4]
                                [--orders-per-second 500] [--lease-ttl-ms 1000]
                                [--lease-renew-ms 200]

One shard on NATS with `shard_standby` (`failover_cluster`): a primary and a hot standby,
orders sent to it continuously straight through the NATS shard client (`submitters` callers,
each awaiting its answer, `orders_per_second` in all at most; a 503 is retried after 2 ms with
the same client order id). Each trial
waits for orders acknowledged by the current primary, kills it with SIGKILL, and times from the
kill to the first acknowledged order that was sent after it (only the new primary can answer
that one), then checks that every order acknowledged before the kill is live on the new
primary, and starts a new standby for the next trial. At the end the primary is stopped, and
its state hash is compared with a clean replay of the journal stream, where every acknowledged
order must be accepted exactly once. Prints the takeover times' p50 and max; asserts nothing
about time (the test of the same run asserts what was lost: nothing).
"""

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradingfloor.bench.failover_cluster import Candidates
from tradingfloor.domain.commands import (
    AddInstrument,
    Command,
    Deposit,
    OpenAccount,
    PlaceOrder,
    SetReferencePrice,
)
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import OrderAccepted, OrderResubmitted
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.journal.jetstream import JetStreamJournal, JetStreamSettings
from tradingfloor.service.nats_connection import connect
from tradingfloor.service.nats_shard_client import NatsShardClient
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.sequencer import Result
from tradingfloor.service.shard_client import ShardUnavailable

SYMBOL = "XYZ"
PRICE = 1_000_000
"""$100.00: every order rests at the reference price (no trade: each one stays live)."""
orders_per_account_max = 500
"""Below the open orders a risk check allows per account and symbol."""
trial_wait_s = 30.0
"""The longest a trial's takeover may take before the run fails."""
orders_before_kill = 50
"""Orders acknowledged by the current primary before it is killed."""
request_timeout_s = 2.0


@dataclass
class Acked:
    order_id: int
    client_order_id: str
    sent_at: float
    acked_at: float


@dataclass
class Load:
    """Orders sent continuously; what was acknowledged, and how many attempts were refused."""

    client: NatsShardClient
    submitters: int
    orders_per_second: int = 500
    """All submitters together, at most (the state, so each standby's recovery, grows with
    every order)."""
    acked: list[Acked] = field(default_factory=list)
    refused: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def submit(self, command: Command) -> Result:
        """Until answered: a refusal (no shard, or none in time) is retried at once."""
        while True:
            try:
                return await self.client.submit(command)
            except ShardUnavailable:
                self.refused += 1
                await asyncio.sleep(0.002)

    async def run(self, number: int) -> None:
        placed = 0
        account = ""
        pause_s = self.submitters / self.orders_per_second
        while not self.stop.is_set():
            await asyncio.sleep(pause_s)
            if placed % orders_per_account_max == 0:
                account = f"s{number}-{placed // orders_per_account_max}"
                await self.submit(OpenAccount(account))
                await self.submit(Deposit(account, 10**14))
            order = self.order(account, placed)
            sent_at = time.monotonic()
            result = await self.submit(order)
            order_id = _order_id(result)
            self.acked.append(Acked(order_id, order.client_order_id, sent_at, time.monotonic()))
            placed += 1

    @staticmethod
    def order(account: str, index: int) -> PlaceOrder:
        """A buy of one share that rests at the reference price, with a client order id."""
        return PlaceOrder(
            0, account, SYMBOL, Side.BUY, OrderType.LIMIT, 1, PRICE,
            tif=TimeInForce.GTC, client_order_id=f"{account}-{index}",
        )  # fmt: skip


def _order_id(result: Result) -> int:
    for event in result.events:
        if type(event) is OrderAccepted:
            return event.order_id
        if type(event) is OrderResubmitted:  # a retry whose first answer was lost
            return event.first_order_id
    raise AssertionError(f"order not accepted: {result.events}")


@dataclass
class FailoverRun:
    takeovers_s: list[float]
    """Kill to the first order acknowledged by the standby, in the trials where the primary
    was still primary when killed."""
    early_takeovers: int
    """Trials where the standby had taken over before the kill: the primary's event loop was
    held longer than the lease's TTL (a slow primary, replaced and fenced; nothing timed)."""
    missing: list[int]
    """Acknowledged orders a trial's new primary did not hold (must be none)."""
    acknowledged: int
    refused: int
    last_seq: int
    state_hash: str
    replayed_hash: str
    accepted_twice: list[str]
    """Client order ids accepted more than once in the journal (must be none)."""
    not_in_journal: list[int]
    """Acknowledged orders the journal does not accept (must be none)."""


async def run(
    nats_url: str,
    root: Path,
    trials: int,
    submitters: int = 4,
    on_trial: Callable[[int, float | None], None] | None = None,
    orders_per_second: int = 500,
    lease: tuple[int, int] = (200, 1_000),
) -> FailoverRun:
    """The trials (see the module); the streams and buckets are deleted at the end. `lease`:
    the candidates' (shard_lease_renew_ms, shard_lease_ttl_ms)."""
    candidates = Candidates(root, nats_url, lease)
    nc = await connect(nats_url, "tradingfloor-bench-failover")
    names = NatsNames(shard=candidates.shard)
    load = Load(NatsShardClient(nc, names, request_timeout_s), submitters, orders_per_second)
    tasks: list[asyncio.Task[None]] = []
    try:
        candidates.start("c0")
        await candidates.primary("c0")
        for command in market():
            await load.submit(command)
        tasks = [asyncio.create_task(load.run(number)) for number in range(submitters)]
        takeovers: list[float | None] = []
        missing: list[int] = []
        primary = "c0"
        for trial in range(1, trials + 1):
            standby = f"c{trial}"
            candidates.start(standby)
            await candidates.following(standby)
            takeover_s, lost = await _trial(candidates, load, primary, standby)
            takeovers.append(takeover_s)
            missing += lost
            if on_trial is not None:
                on_trial(trial, takeover_s)
            primary = standby
        load.stop.set()
        await asyncio.gather(*tasks)
        last_seq, state_hash = await candidates.stop(primary)
        proof = await _proof(candidates, nats_url, load, last_seq, state_hash)
        timed = [seconds for seconds in takeovers if seconds is not None]
        return FailoverRun(timed, len(takeovers) - len(timed), missing, **proof)
    finally:
        load.stop.set()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await nc.close()
        candidates.stop_all()
        await candidates.drop()


def market() -> list[Command]:
    """The symbol the orders are for, and its reference price (for the price collar)."""
    return [AddInstrument(Instrument(SYMBOL)), SetReferencePrice(SYMBOL, PRICE)]


async def _trial(
    candidates: Candidates, load: Load, primary: str, standby: str
) -> tuple[float | None, list[int]]:
    """Kill `primary` under load; (seconds to the first order acknowledged after the kill,
    or None when `standby` had taken over before it; the orders acknowledged before the kill
    that `standby` does not hold)."""
    await _until(lambda: len(load.acked) >= orders_before_kill, "orders acknowledged", load)
    mark = len(load.acked)
    await _until(lambda: len(load.acked) >= mark + orders_before_kill, "orders acked", load)
    early = candidates.is_primary(standby) or candidates.processes[primary].poll() is not None
    candidates.kill(primary)
    killed_at = time.monotonic()
    before = list(load.acked)

    def answered_after_kill() -> bool:
        return any(acked.sent_at > killed_at for acked in load.acked[len(before) :])

    await _until(answered_after_kill, f"an order acknowledged by {standby}", load)
    first = min(a.acked_at for a in load.acked[len(before) :] if a.sent_at > killed_at)
    if not candidates.is_primary(standby):
        raise AssertionError(f"{standby} answered but is not primary:\n{candidates.log(standby)}")
    missing = []
    for acked in before[-1_000:]:  # the newest: those the takeover could have lost
        if await load.client.live_order(acked.order_id) is None:
            missing.append(acked.order_id)
    return (None if early else first - killed_at), missing


async def _until(predicate: Callable[[], bool], what: str, load: Load) -> None:
    deadline = time.monotonic() + trial_wait_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {trial_wait_s} s: {what} ({len(load.acked)} acked)")
        await asyncio.sleep(0.001)


async def _proof(
    candidates: Candidates,
    nats_url: str,
    load: Load,
    last_seq: int,
    state_hash: str,
) -> dict[str, Any]:
    """A clean replay of the journal stream up to the last primary's stop, and what it
    says about every acknowledged order."""
    journal = JetStreamJournal(JetStreamSettings(url=nats_url, shard=candidates.shard))
    await journal.open()
    engine = Engine()
    accepted: dict[str, int] = {}
    accepted_ids: set[int] = set()
    try:
        entries: Any = journal.replay(1)  # an async generator (closed by aclosing)
        async with contextlib.aclosing(entries):
            async for entry in entries:
                for event in engine.apply(entry.command, entry.seq, entry.ts):
                    if type(event) is OrderAccepted:
                        count = accepted.get(event.client_order_id, 0)
                        accepted[event.client_order_id] = count + 1
                        accepted_ids.add(event.order_id)
                if entry.seq == last_seq:
                    break
    finally:
        await journal.close()
    return {
        "acknowledged": len(load.acked),
        "refused": load.refused,
        "last_seq": last_seq,
        "state_hash": state_hash,
        "replayed_hash": engine.state_hash(),
        "accepted_twice": sorted(client for client, count in accepted.items() if count > 1),
        "not_in_journal": sorted(a.order_id for a in load.acked if a.order_id not in accepted_ids),
    }


def print_report(result: FailoverRun) -> None:
    times_ms = [seconds * 1000 for seconds in result.takeovers_s]
    if times_ms:
        print(
            f"{len(times_ms)} takeovers, kill -9 of the primary to the first order acknowledged "
            f"by the standby: p50 {statistics.median(times_ms):.0f} ms, max "
            f"{max(times_ms):.0f} ms (min {min(times_ms):.0f} ms)"
        )
    if result.early_takeovers:
        print(
            f"{result.early_takeovers} trials not timed: the standby took over before the kill "
            "(the primary was held longer than the lease's TTL)"
        )
    hashes = "equal" if result.state_hash == result.replayed_hash else "DIFFERENT"
    lost = len(result.missing) + len(result.not_in_journal)
    print(
        f"{result.acknowledged:,} orders acknowledged, {result.refused:,} attempts refused "
        f"(503) while no primary answered; the last primary's state hash and a clean replay "
        f"of the journal to seq {result.last_seq:,}: {hashes}; acknowledged orders lost: "
        f"{lost}, accepted twice: {len(result.accepted_twice)}"
    )
