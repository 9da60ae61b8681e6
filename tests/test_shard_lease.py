"""The shard lease on a real NATS KV bucket (`service.shard_lease`): the first take, renewals,
a takeover once the lease has not moved for its TTL on the standby's own clock (and not
before), and the old holder's renewal refused after it. Each test has a bucket of its own."""

import asyncio

import msgspec
import pytest
from nats.js.kv import KeyValue

from tradingfloor.service.shard_lease import (
    LeaseLost,
    LeaseValue,
    ShardLease,
    new_node_id,
)

TTL_MS = 1_000


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _stored(kv: KeyValue, shard: str) -> LeaseValue:
    entry = await kv.get(shard)
    return msgspec.json.decode(entry.value or b"", type=LeaseValue)


async def test_the_first_candidate_creates_the_lease_at_epoch_1_and_renews_it(
    kv: KeyValue,
) -> None:
    lease = ShardLease(kv, "s1", "node-a", TTL_MS)

    assert await lease.acquire()

    assert lease.held and lease.epoch == 1
    stored = await _stored(kv, "s1")
    assert (stored.holder, stored.epoch) == ("node-a", 1) and stored.ts_ns > 0
    first = lease.revision
    await lease.renew()
    await lease.renew()
    assert lease.revision > first
    assert (await kv.get("s1")).revision == lease.revision


async def test_a_new_lease_starts_past_the_epoch_the_journal_records(kv: KeyValue) -> None:
    lease = ShardLease(kv, "s1", "node-a", TTL_MS)

    assert await lease.acquire(epoch_floor=7)

    assert lease.epoch == 8
    assert (await _stored(kv, "s1")).epoch == 8


async def test_a_second_candidate_waits_while_the_lease_moves_and_takes_it_once_it_stops(
    kv: KeyValue,
) -> None:
    holder = ShardLease(kv, "s1", "node-a", TTL_MS)
    assert await holder.acquire()
    clock = FakeClock()
    standby = ShardLease(kv, "s1", "node-b", TTL_MS, monotonic=clock)

    assert not await standby.acquire()  # seen now: its TTL starts here
    assert standby.seen is not None and standby.seen.holder == "node-a"
    clock.now += 0.9
    assert not await standby.acquire()
    await holder.renew()  # a change: the standby times the lease from it again
    clock.now += 0.5
    assert not await standby.acquire()
    clock.now += 0.9
    assert not await standby.acquire()  # 0.9 s since the renewal it saw
    clock.now += 0.2

    assert await standby.acquire()

    assert standby.epoch == 2
    assert (await _stored(kv, "s1")).holder == "node-b"
    with pytest.raises(LeaseLost):
        await holder.renew()
    assert not holder.held
    await standby.renew()  # the new holder's renewals go on


async def test_of_two_standbys_one_wins_the_takeover(kv: KeyValue) -> None:
    holder = ShardLease(kv, "s1", "node-a", TTL_MS)
    assert await holder.acquire()
    clocks = [FakeClock(), FakeClock()]
    standbys = [
        ShardLease(kv, "s1", f"node-{name}", TTL_MS, monotonic=clock)
        for name, clock in zip("bc", clocks, strict=True)
    ]
    for standby in standbys:
        assert not await standby.acquire()
    for clock in clocks:
        clock.now += 2.0

    won = await asyncio.gather(*(standby.acquire() for standby in standbys))

    assert sorted(won) == [False, True]
    winner = standbys[won.index(True)]
    assert (await _stored(kv, "s1")).holder == winner.node


async def test_a_released_lease_is_taken_at_once_and_only_its_holder_releases_it(
    kv: KeyValue,
) -> None:
    holder = ShardLease(kv, "s1", "node-a", TTL_MS)
    assert await holder.acquire()
    standby = ShardLease(kv, "s1", "node-b", TTL_MS, monotonic=FakeClock())
    assert not await standby.acquire()

    await holder.release()

    assert not holder.held
    assert await standby.acquire()  # no TTL to wait for: there is no lease
    assert standby.epoch == 2
    late = ShardLease(kv, "s1", "node-a", TTL_MS)
    late.epoch, late.revision = 1, holder.revision  # a holder that lost it since
    await late.release()  # refused: not its revision any more
    assert (await _stored(kv, "s1")).holder == "node-b"


async def test_a_holder_that_cannot_keep_its_lease_is_told(kv: KeyValue) -> None:
    holder = ShardLease(kv, "s1", "node-a", TTL_MS)
    assert await holder.acquire()
    lost: list[LeaseLost] = []
    keeping = asyncio.create_task(holder.keep(20, lost.append))
    await asyncio.sleep(0.1)
    assert not keeping.done()  # renewing
    value = msgspec.json.encode(LeaseValue("node-b", 2, 0))
    await kv.put("s1", value)  # another node wrote it

    await asyncio.wait_for(keeping, 5.0)

    assert len(lost) == 1 and "another node" in str(lost[0])


def test_node_ids_are_hostname_pid_random_and_fit_a_key() -> None:
    first, second = new_node_id(), new_node_id()
    assert first != second
    host, pid, random = first.rsplit("-", 2)
    assert host and pid.isdigit() and len(random) == 6
    assert all(c.isalnum() or c in "-_" for c in first)


class _StalledKeyValue:
    """A bucket whose writes never complete (a NATS server that stopped answering)."""

    async def update(self, key: str, value: bytes, last: int) -> int:
        await asyncio.Event().wait()
        return 0


async def test_a_holder_that_cannot_renew_for_a_whole_ttl_is_told() -> None:
    holder = ShardLease(_StalledKeyValue(), "s1", "node-a", 100)  # type: ignore[arg-type]
    holder.epoch, holder.revision = 1, 1  # held
    lost: list[LeaseLost] = []

    await asyncio.wait_for(holder.keep(20, lost.append), 5.0)

    assert len(lost) == 1 and "not renewed" in str(lost[0])
    assert not holder.held
