"""Backpressure and the 503s of order entry, on a gateway's backend with fake ports.

New orders are refused (503, code 5038, Retry-After) while the read models are more than
`projection_lag_max_commands` behind what the gateway knows of the shard: its own answers'
seqs and its event feed's; a projector that cannot be reached tells no lag. A shard that
cannot be reached is 503 (5031) with Retry-After; a sequencer stopped for good promises no
retry. The rate limits' keys take the configured prefix. The end-to-end rows are in
`tests/test_failure_table.py`.
"""

import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tradingfloor import observability
from tradingfloor.bootstrap.platform import make_backend
from tradingfloor.config import Settings
from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.gateway import handlers, order_entry
from tradingfloor.gateway.backend import Backend, ReadModelsLagging
from tradingfloor.gateway.ratelimit import make_rate_limiter
from tradingfloor.marketdata.hub import MarketDataSettings
from tradingfloor.service.ports import EventBatch, ProjectionStatus
from tradingfloor.service.sequencer import Result, SequencerStopped
from tradingfloor.service.shard_client import ShardUnavailable

LAG_MAX = 10


class FakeProjection:
    def __init__(self) -> None:
        self.latest: ProjectionStatus | None = ProjectionStatus(0)

    def status(self) -> ProjectionStatus | None:
        return self.latest

    def status_of(self, token: int) -> ProjectionStatus | None:
        return self.latest

    async def wait_for(self, seq: int, timeout_s: float) -> ProjectionStatus | None:
        return self.latest


class FakeShard:
    """Answers every command with the next seq; its feed gives nothing."""

    def __init__(self) -> None:
        self.seq = 0
        self.submitted: list[Any] = []

    async def submit(self, command: Any, origin: Any = None) -> Result:
        self.seq += 1
        self.submitted.append(command)
        return Result(self.seq, 0, command, [])

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        if False:  # pragma: no cover - a feed with nothing in it
            yield []


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[tuple[Backend, FakeShard, FakeProjection]]:
    settings = Settings(data_dir=tmp_path, projection_lag_max_commands=LAG_MAX)
    shard, projection = FakeShard(), FakeProjection()
    here = make_backend(
        settings, shard, projection, time.time_ns, MarketDataSettings(), limiter=object()
    )
    try:
        yield here, shard, projection
    finally:
        await here.stop()


def bid() -> PlaceOrder:
    return PlaceOrder(0, "alice", "XYZ", Side.BUY, OrderType.LIMIT, 1, 900_000)


async def test_orders_are_refused_past_the_lag_bound_and_taken_again_below_it(
    backend: tuple[Backend, FakeShard, FakeProjection],
) -> None:
    here, shard, projection = backend
    for _ in range(LAG_MAX):  # answers up to seq 10: 10 behind the read models at 0
        await order_entry.place(here, bid())
    assert here.projection_lag() == LAG_MAX
    await order_entry.place(here, bid())  # the bound is not passed yet: taken
    with pytest.raises(ReadModelsLagging) as refused:
        await order_entry.place(here, bid())
    assert (refused.value.lag, refused.value.lag_max) == (LAG_MAX + 1, LAG_MAX)
    assert len(shard.submitted) == LAG_MAX + 1  # the refused one never reached the shard

    projection.latest = ProjectionStatus(1)  # the projector catches up below the bound
    await order_entry.place(here, bid())
    assert len(shard.submitted) == LAG_MAX + 2


async def test_the_lag_counts_what_the_event_feed_shows_of_other_gateways(
    backend: tuple[Backend, FakeShard, FakeProjection],
) -> None:
    here, shard, projection = backend
    here.feed.feeds[0].fed_seq = 500  # other gateways' commands, as this one's feed gave them
    projection.latest = ProjectionStatus(489)
    assert here.projection_lag() == 11
    with pytest.raises(ReadModelsLagging):
        await order_entry.place(here, bid())
    assert shard.submitted == []


async def test_a_failing_projection_lags_too_and_an_unreachable_one_tells_no_lag(
    backend: tuple[Backend, FakeShard, FakeProjection],
) -> None:
    here, _, projection = backend
    here.feed.feeds[0].fed_seq = 100
    projection.latest = ProjectionStatus(50, "database down", 2.0)
    with pytest.raises(ReadModelsLagging):
        here.admit_order()
    projection.latest = None  # the projector cannot be reached: reads refused, orders not
    assert here.projection_lag() is None
    here.admit_order()


async def test_cancels_are_taken_whatever_the_lag(
    backend: tuple[Backend, FakeShard, FakeProjection],
) -> None:
    here, shard, _ = backend
    here.feed.feeds[0].fed_seq = 1_000

    async def live_order(order_id: int) -> Any:
        from tradingfloor.domain.enums import SelfTradePrevention, TimeInForce
        from tradingfloor.matching.order import Order
        from tradingfloor.service.ports import LiveOrder

        order = Order(
            order_id,
            "alice",
            Side.BUY,
            OrderType.LIMIT,
            TimeInForce.GTC,
            1,
            1,
            900_000,
            None,
            SelfTradePrevention.CANCEL_NEWEST,
        )
        return LiveOrder("XYZ", order)

    here.live_order = live_order  # type: ignore[method-assign]
    assert await order_entry.cancel(here, 7, "alice") is None
    assert len(shard.submitted) == 1


def body_of(answer: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(answer.body)
    return decoded


async def test_the_refusals_are_503_with_their_codes() -> None:
    lagging = await handlers.read_models_lagging(None, ReadModelsLagging(11, 10))  # type: ignore[arg-type]
    assert (lagging.status_code, body_of(lagging)["code"]) == (503, 5038)
    assert lagging.headers["retry-after"] == "1"
    assert "11 commands behind" in body_of(lagging)["message"]

    unreachable = await handlers.sequencer_stopped(None, ShardUnavailable("gone"))  # type: ignore[arg-type]
    assert (unreachable.status_code, body_of(unreachable)["code"]) == (503, 5031)
    assert unreachable.headers["retry-after"] == "1"

    stopped = await handlers.sequencer_stopped(None, SequencerStopped("stopped"))  # type: ignore[arg-type]
    assert (stopped.status_code, body_of(stopped)["code"]) == (503, 5031)
    assert "retry-after" not in stopped.headers  # stopped for good: no retry promised


async def test_the_lag_is_in_the_metrics(
    backend: tuple[Backend, FakeShard, FakeProjection],
) -> None:
    here, _, projection = backend
    here.feed.feeds[0].fed_seq = 42
    projection.latest = ProjectionStatus(40)
    body, _ = observability.render(here.fed_seq, here.projected_seq(), here.projection_lag())
    assert b"tradingfloor_projection_lag_commands 2.0" in body


async def test_the_rate_limits_keys_take_the_configured_prefix(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0", rate_limit_key_prefix="staging:"
    )
    limiter = make_rate_limiter(settings)
    try:
        assert limiter._key_prefix == "staging:"  # type: ignore[union-attr]
    finally:
        await limiter.close()  # type: ignore[union-attr]


async def test_the_projector_reads_a_bounded_number_of_commands_ahead_of_its_database() -> None:
    import asyncio
    import contextlib

    from tradingfloor.service.projection import coalesced

    pulled = 0

    async def feed() -> AsyncGenerator[EventBatch, None]:
        nonlocal pulled
        for number in range(1_000):
            pulled += 1
            yield [(number * 10 + k + 1, 0, []) for k in range(10)]

    seqs = []
    async with contextlib.aclosing(coalesced(feed(), 20, ahead_max=100)) as batches:
        first = await anext(batches)  # then nothing is taken: a transaction that hangs
        for _ in range(1_000):  # turns of the event loop, for the read-ahead to run
            await asyncio.sleep(0)
        assert pulled <= len(first) // 10 + 10  # 100 commands ahead, no more
        seqs = [seq for seq, _, _ in first]
        async for batch in batches:  # the database answers again: everything, in order
            assert len(batch) <= 20
            seqs.extend(seq for seq, _, _ in batch)
    assert seqs == list(range(1, 10_001))
