"""Recovery from failing dependencies, with fakes: the outage breaker, the read-model
projection's retry loop on a real platform with a fake projector, and the market-data hub's
cache writes against a cache that hangs or fails."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tradingfloor import observability as metrics
from tradingfloor.bootstrap.platform import Platform, ReadModelsUnavailable
from tradingfloor.config import load_settings
from tradingfloor.domain.commands import Deposit, OpenAccount
from tradingfloor.domain.events import Event
from tradingfloor.marketdata.hub import MarketDataHub, MarketDataSettings, Tier
from tradingfloor.matching.book import BookLevel, Depth
from tradingfloor.outage import Outage, Unavailable
from tradingfloor.store.projector import ProjectionGapError

Batch = list[tuple[int, int, list[Event]]]
WAIT_S = 20.0
"""The bound on every wait for a condition in these tests (never a measured duration)."""


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds, for at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {WAIT_S} s"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- the outage breaker


class FakeTime:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


class Down(ConnectionError):
    pass


async def test_an_outage_refuses_at_once_then_lets_one_probe_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeTime()
    counted: list[int] = []
    outage = Outage(
        "fake", 2.0, failures=(Down,), on_failure=lambda: counted.append(1), monotonic=clock
    )
    calls: list[str] = []

    async def failing() -> str:
        calls.append("failing")
        raise Down("refused")

    async def working() -> str:
        calls.append("working")
        return "ok"

    assert await outage.call(working) == "ok"
    with pytest.raises(Unavailable) as failed:
        await outage.call(failing)
    assert failed.value.retry_after_s == 2 and isinstance(failed.value.cause, Down)
    for _ in range(5):  # within retry_s: refused without a call
        with pytest.raises(Unavailable) as refused:
            await outage.call(working)
        assert refused.value.cause is None
    clock.now_s += 1.5
    with pytest.raises(Unavailable) as later:
        await outage.call(working)
    assert later.value.retry_after_s == 1
    assert calls == ["working", "failing"]

    clock.now_s += 0.5  # retry_s over: one probe, and it fails again
    with pytest.raises(Unavailable):
        await outage.call(failing)
    with pytest.raises(Unavailable):
        await outage.call(working)
    clock.now_s += 2.0
    assert await outage.call(working) == "ok"  # the probe works: up again
    assert await outage.call(working) == "ok"

    assert calls == ["working", "failing", "failing", "working", "working"]
    assert len(counted) == 2  # each failed call, never a refused one
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2  # once down, once back: never per call
    assert "fake is down" in lines[0] and "tried again every 2.0 s" in lines[0]
    assert "fake is back" in lines[1] and "(2 failed calls)" in lines[1]
    assert not outage.down


async def test_an_outage_lets_a_single_probe_through_and_survives_its_cancellation() -> None:
    clock = FakeTime()
    outage = Outage("fake", 1.0, failures=(Down,), monotonic=clock)
    outage.failed(Down("refused"))
    clock.now_s += 1.0
    hanging = asyncio.Event()

    async def hang() -> None:
        await hanging.wait()

    probe = asyncio.create_task(outage.call(hang))
    await asyncio.sleep(0)
    with pytest.raises(Unavailable):  # the probe is in flight: the others are refused
        await outage.call(hang)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    assert outage.admit()  # a canceled probe does not leave the dependency untried
    outage.succeeded()
    assert not outage.down


async def test_a_bug_is_not_an_outage() -> None:
    outage = Outage("fake", 1.0, failures=(Down,))

    async def buggy() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await outage.call(buggy)
    assert not outage.down


# --------------------------------------------------------------------------- projection retry


class FakeProjector:
    """The projector's contract (skip what was applied, refuse a gap, move last_seq on) in
    memory, failing as told. Called from worker threads, one call at a time."""

    def __init__(self, last_seq: int) -> None:
        self.last = last_seq
        self.applied: list[int] = []
        """Every seq applied, in order: a repeat or a gap shows here."""
        self.fail_applies = 0
        """The next `fail_applies` calls of apply raise (nothing applied)."""
        self.fail_after_commit = 0
        """The next such calls apply the batch, then raise (the answer was lost)."""
        self.down = False
        """Every call raises, last_seq included (the database is unreachable)."""
        self.gate = threading.Event()
        self.gate.set()
        self.failures = 0
        self.calls = 0

    def _fail(self, why: str) -> None:
        self.failures += 1
        raise ConnectionError(why)

    def last_seq(self) -> int:
        if self.down:
            self._fail("database unreachable")
        return self.last

    def apply(self, batch: Batch) -> int:
        self.calls += 1
        self.gate.wait(WAIT_S)
        if self.down:
            self._fail("database unreachable")
        if self.fail_applies > 0:
            self.fail_applies -= 1
            self._fail("connection dropped")
        applied = 0
        for seq, _, _ in batch:
            if seq <= self.last:
                continue
            if seq != self.last + 1:
                raise ProjectionGapError(f"expected {self.last + 1}, got {seq}")
            self.applied.append(seq)
            self.last = seq
            applied += 1
        if self.fail_after_commit > 0:
            self.fail_after_commit -= 1
            self._fail("connection dropped after the commit")
        return applied


async def start_platform(data: Path) -> Platform:
    """A platform on SQLite whose failing projection is retried at least every 0.2 s."""
    settings = load_settings(None, data_dir=data, fsync=False, projector_retry_max_s=0.2)
    started = Platform(settings)
    await started.start()
    return started


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    started = await start_platform(tmp_path / "data")
    try:
        yield started
    finally:
        await asyncio.wait_for(started.stop(), WAIT_S)


def fake_projector(platform: Platform) -> FakeProjector:
    """Put a fake in place of the platform's projector, where the real one left off."""
    fake = FakeProjector(platform.projection.projected_seq)
    platform.projection.projector = fake  # type: ignore[assignment]
    return fake


async def open_accounts(platform: Platform, names: list[str]) -> None:
    for name in names:
        await platform.submit(OpenAccount(name))
        await platform.submit(Deposit(name, 1_000_0000))


def projection_failures() -> float:
    return metrics.registry.get_sample_value("tradingfloor_projection_failures_total") or 0.0


async def test_failed_projections_are_retried_with_nothing_lost_or_applied_twice(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_projector(platform)
    first = platform.projection.projected_seq + 1
    counted_before = projection_failures()
    fake.fail_applies = 3
    fake.fail_after_commit = 1  # the fourth attempt commits, then fails: no second apply

    await open_accounts(platform, ["a", "b", "c"])
    await eventually(lambda: fake.failures == 4, "failed four times")
    fake.gate.clear()  # hold the next attempt: the platform is failing now
    await open_accounts(platform, ["d"])
    await eventually(lambda: fake.calls >= 5, "tried again")

    problems = await platform.backend.problems()
    assert problems and "read models failing" in problems[0]
    assert "4 attempts" in problems[0]
    with pytest.raises(ReadModelsUnavailable) as refused:
        await platform.backend.caught_up()  # refused at once, not after read_wait_s_max
    assert refused.value.retry_after_s >= 1

    fake.gate.set()
    last = platform.engine.last_seq
    await eventually(lambda: platform.projection.projected_seq == last, "caught up")
    await open_accounts(platform, ["e"])  # and the live batches go on from there
    await eventually(lambda: platform.projection.projected_seq == platform.engine.last_seq, "live")

    assert fake.applied == list(range(first, platform.engine.last_seq + 1))
    assert await platform.backend.problems() == []
    assert platform.projection.failure is None
    await platform.backend.caught_up()
    assert projection_failures() - counted_before == 4
    failed = [r.getMessage() for r in caplog.records if "projection failed" in r.getMessage()]
    assert [f"(attempt {n})" in line for n, line in enumerate(failed, 1)] == [True] * 4
    assert any("projecting again" in r.getMessage() for r in caplog.records)


async def test_a_failure_that_does_not_go_away_keeps_being_retried_and_says_so(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_projector(platform)
    first = platform.projection.projected_seq + 1
    fake.down = True  # last_seq fails too: the database is unreachable

    await open_accounts(platform, ["a"])
    await eventually(lambda: platform.projection.attempts_failed >= 6, "retried")

    assert "retrying every 0.2 s" in (await platform.backend.problems())[0]
    capped = [r.getMessage() for r in caplog.records if "the longest wait" in r.getMessage()]
    assert capped, "a failure at the capped backoff says so"
    assert fake.applied == []

    fake.down = False
    await open_accounts(platform, ["b"])
    await eventually(
        lambda: platform.projection.projected_seq == platform.engine.last_seq, "caught up"
    )
    assert fake.applied == list(range(first, platform.engine.last_seq + 1))
    assert await platform.backend.problems() == []


async def test_stop_does_not_wait_for_a_failing_projection(tmp_path: Path) -> None:
    platform = await start_platform(tmp_path / "data")
    fake = fake_projector(platform)
    fake.down = True
    await open_accounts(platform, ["a"])
    await eventually(lambda: platform.projection.attempts_failed >= 1, "failed")

    await asyncio.wait_for(platform.stop(), WAIT_S)

    assert fake.applied == []
    restarted = await start_platform(tmp_path / "data")  # the real projector catches up
    try:
        assert restarted.projection.projected_seq == restarted.engine.last_seq
    finally:
        await restarted.stop()


# --------------------------------------------------------------------------- market data cache


class FakeBook:
    def __init__(self, bid: int) -> None:
        self.bid = bid

    def depth(self, levels: int | None = None) -> Depth:
        return Depth([BookLevel(self.bid, 1, 1)], [])


class FakeCache:
    """A cache whose writes hang until released, or fail (Redis down), as told."""

    def __init__(self) -> None:
        self.writes: list[dict[str, tuple[bytes, bytes]]] = []
        self.in_flight = 0
        self.in_flight_max = 0
        self.release = asyncio.Event()
        self.up = True

    async def write(self, entries: dict[str, tuple[bytes, bytes]]) -> bool:
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        if not self.up:
            return False
        self.writes.append(dict(entries))
        return True

    async def close(self) -> None:
        pass


def mark(hub: MarketDataHub, *symbols: str) -> None:
    for state in hub.tiers.values():
        state.dirty.update(symbols)


async def test_a_hanging_cache_never_holds_a_flush_and_gets_every_symbol_once_back() -> None:
    books = {"AAA": FakeBook(1_000_000), "BBB": FakeBook(2_000_000)}
    cache = FakeCache()
    hub = MarketDataHub(
        books.get,
        MarketDataSettings(),
        symbols=lambda: books.keys(),
        cache=cache,  # type: ignore[arg-type]
    )
    try:
        for price in range(5):  # Redis hangs: each flush returns, one write in flight
            books["AAA"].bid = 1_000_000 + price * 100
            mark(hub, "AAA")
            hub.flush(Tier.PRO)
            await asyncio.sleep(0)
        mark(hub, "BBB")
        hub.flush(Tier.PRO)
        assert cache.in_flight == 1 and cache.in_flight_max == 1

        cache.up = False  # the hanging write fails: its entries are kept for later
        cache.release.set()
        await eventually(lambda: cache.in_flight == 0, "done")
        cache.up = True
        mark(hub, "AAA")
        hub.flush(Tier.PRO)
        task = hub._cache_task
        assert task is not None
        await task

        assert len(cache.writes) == 1
        written = cache.writes[0]
        assert set(written) == {"AAA", "BBB"}  # the latest of each, none lost
        assert b'"price":"100.04"' in written["AAA"][0]
    finally:
        cache.release.set()
        await hub.stop()
