"""Per-user token bucket with a temporary ban: in memory and in a real Redis, one table."""

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import require_tcp_service, skip_or_fail
from tradingfloor.config import load_settings
from tradingfloor.gateway.ratelimit import (
    Decision,
    MemoryRateLimiter,
    RateLimit,
    RateLimiter,
    RedisRateLimiter,
    make_rate_limiter,
)

REDIS_URL = os.environ.get("TRADINGFLOOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_NS = 1_767_225_600 * 1_000_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = START_NS

    def __call__(self) -> int:
        return self.now_ns

    def set_ms(self, elapsed_ms: float) -> None:
        self.now_ns = START_NS + int(elapsed_ms * 1_000_000)


Factory = Callable[[RateLimit, FakeClock], RateLimiter]


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Any]:
    require_tcp_service("Redis", REDIS_URL, 6379)
    try:
        import redis
    except ImportError:
        skip_or_fail("the redis package is not installed")
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
async def async_redis(redis_client: Any) -> AsyncIterator[Any]:
    """The asyncio client the Redis limiter uses (one per test: it belongs to its loop)."""
    from tradingfloor.outage import redis_client as fail_fast_client

    client = fail_fast_client(REDIS_URL, timeout_ms=2_000)
    yield client
    await client.aclose()


@pytest.fixture
def redis_prefix(redis_client: Any) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"tf:test:{uuid.uuid4().hex}:"
    yield prefix
    for key in redis_client.scan_iter(match=f"{prefix}*"):
        redis_client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> Factory:
    if request.param == "memory":
        return lambda limit, clock: MemoryRateLimiter(limit, clock)
    client = request.getfixturevalue("async_redis")
    prefix = request.getfixturevalue("redis_prefix")
    return lambda limit, clock: RedisRateLimiter(client, limit, clock, key_prefix=prefix)


# --------------------------------------------------------------------------- the shared table

ALLOW = Decision(True, 0)


def refuse(retry_after_s: int) -> Decision:
    return Decision(False, retry_after_s)


def banned(retry_after_s: int) -> Decision:
    return Decision(False, retry_after_s, banned=True)


@dataclass(frozen=True)
class Step:
    at_ms: float
    user: int | str
    expected: Decision


@dataclass(frozen=True)
class Scenario:
    name: str
    limit: RateLimit
    steps: list[Step]


def lenient(rate_per_s: float, burst: int) -> RateLimit:
    """A limit that never bans within these scenarios."""
    return RateLimit(rate_per_s, burst, strikes_max=1000, strike_window_s=10, ban_s=60)


SCENARIOS = [
    Scenario(
        "burst then refuse",
        lenient(10, 3),
        [
            Step(0, 1, ALLOW),
            Step(0, 1, ALLOW),
            Step(0, 1, ALLOW),
            Step(0, 1, refuse(1)),
        ],
    ),
    Scenario(
        "refills at the rate",
        lenient(10, 3),
        [
            *[Step(0, 1, ALLOW) for _ in range(3)],
            Step(99, 1, refuse(1)),  # one token is 100 ms away
            Step(100, 1, ALLOW),
            Step(100, 1, refuse(1)),
            Step(300, 1, ALLOW),  # two more tokens by now
            Step(300, 1, ALLOW),
            Step(300, 1, refuse(1)),
        ],
    ),
    Scenario(
        "full again after idling, never above the burst",
        lenient(10, 2),
        [
            Step(0, 1, ALLOW),
            Step(0, 1, ALLOW),
            Step(10_000, 1, ALLOW),
            Step(10_000, 1, ALLOW),
            Step(10_000, 1, refuse(1)),
        ],
    ),
    Scenario(
        "retry-after is whole seconds rounded up",
        lenient(0.2, 1),  # one request per 5 s
        [
            Step(0, 1, ALLOW),
            Step(0, 1, refuse(5)),
            Step(1_500, 1, refuse(4)),  # 3.5 s left
            Step(4_999, 1, refuse(1)),
            Step(5_000, 1, ALLOW),
        ],
    ),
    Scenario(
        "users are independent",
        lenient(1, 1),
        [
            Step(0, 1, ALLOW),
            Step(0, 1, refuse(1)),
            Step(0, 2, ALLOW),
            Step(0, "api-key:TF123", ALLOW),
            Step(0, 2, refuse(1)),
        ],
    ),
    Scenario(
        "ban after repeated abuse, and its end",
        RateLimit(1, 1, strikes_max=3, strike_window_s=10, ban_s=60),
        [
            Step(0, 1, ALLOW),
            Step(0, 1, refuse(1)),
            Step(100, 1, refuse(1)),
            Step(200, 1, banned(60)),  # third strike
            Step(1_000, 1, banned(60)),  # 59.2 s left, rounded up
            Step(1_200, 1, banned(59)),
            Step(59_500, 1, banned(1)),
            Step(59_500, 2, ALLOW),  # another user is not affected
        ],
    ),
    Scenario(
        "strikes count within a window opened by the first one",
        RateLimit(0.1, 1, strikes_max=3, strike_window_s=2, ban_s=30),
        [
            Step(0, 1, ALLOW),
            Step(0, 1, refuse(10)),  # strike 1, window opens
            Step(1_000, 1, refuse(9)),  # strike 2
            Step(3_000, 1, refuse(7)),  # window over: strike 1 of a new window
            Step(3_500, 1, refuse(7)),  # strike 2
            Step(4_000, 1, banned(30)),  # strike 3 within 2 s
            Step(33_999, 1, banned(1)),
            Step(34_000, 1, ALLOW),  # ban over, bucket refilled meanwhile
            Step(34_000, 1, refuse(10)),  # strikes start from zero again
            Step(34_000, 1, refuse(10)),
        ],
    ),
    Scenario(
        "a ban shorter than the window: the next strike opens a new window",
        RateLimit(0.1, 1, strikes_max=2, strike_window_s=10, ban_s=1),
        [
            Step(0, 1, ALLOW),
            Step(0, 1, refuse(10)),  # strike 1, window [0, 10 s)
            Step(500, 1, banned(1)),  # strike 2
            Step(1_500, 1, refuse(9)),  # ban over; strike 1 of a window [1.5 s, 11.5 s)
            Step(10_000, 1, ALLOW),
            Step(10_200, 1, banned(1)),  # strike 2 within the new window
        ],
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_scenario(make_limiter: Factory, scenario: Scenario) -> None:
    clock = FakeClock()
    limiter = make_limiter(scenario.limit, clock)
    latest_ms = 0.0

    decisions = []
    for step in scenario.steps:
        latest_ms = max(latest_ms, step.at_ms)  # time never runs backwards
        clock.set_ms(latest_ms)
        decisions.append(await limiter.check(step.user))

    assert decisions == [step.expected for step in scenario.steps]


async def test_ban_ends_with_a_full_bucket(make_limiter: Factory) -> None:
    limit = RateLimit(1, 2, strikes_max=2, strike_window_s=10, ban_s=5)
    clock = FakeClock()
    limiter = make_limiter(limit, clock)
    for _ in range(2):
        assert (await limiter.check(7)).allowed
    assert await limiter.check(7) == refuse(1)
    assert await limiter.check(7) == banned(5)

    clock.set_ms(5_000)

    assert [(await limiter.check(7)).allowed for _ in range(3)] == [True, True, False]


async def test_a_redis_limiter_refuses_a_banned_user_without_asking_redis(
    async_redis: Any, redis_prefix: str
) -> None:
    limit = RateLimit(1, 1, strikes_max=2, strike_window_s=10, ban_s=5)
    clock = FakeClock()
    limiter = RedisRateLimiter(async_redis, limit, clock, key_prefix=redis_prefix)
    asked = 0
    script = limiter._script

    async def counted(**arguments: Any) -> Any:
        nonlocal asked
        asked += 1
        return await script(**arguments)

    limiter._script = counted  # type: ignore[assignment]
    assert [await limiter.check(7) for _ in range(3)] == [ALLOW, refuse(1), banned(5)]
    assert asked == 3
    clock.set_ms(1_500)
    assert [await limiter.check(7) for _ in range(100)] == [banned(4)] * 100
    assert asked == 3  # the ban, remembered: no round trip
    assert await limiter.check(8) == ALLOW  # others are asked of Redis as ever
    assert asked == 4

    clock.set_ms(5_000)  # the ban ends: Redis decides again, with a full bucket
    assert await limiter.check(7) == ALLOW
    assert asked == 5


# --------------------------------------------------------------------------- same behaviour


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rate_per_s=st.sampled_from([0.5, 1, 3, 10, 250]),
    burst=st.integers(1, 4),
    strikes_max=st.integers(1, 4),
    window_s=st.integers(1, 5),
    ban_s=st.integers(1, 5),
    steps=st.lists(st.tuples(st.integers(0, 1_500), st.integers(1, 3)), max_size=60),
)
async def test_redis_decides_like_memory(
    redis_client: Any,
    async_redis: Any,
    rate_per_s: float,
    burst: int,
    strikes_max: int,
    window_s: int,
    ban_s: int,
    steps: list[tuple[int, int]],
) -> None:
    limit = RateLimit(rate_per_s, burst, strikes_max, window_s, ban_s)
    clock = FakeClock()
    prefix = f"tf:test:{uuid.uuid4().hex}:"
    memory = MemoryRateLimiter(limit, clock)
    shared = RedisRateLimiter(async_redis, limit, clock, key_prefix=prefix)
    try:
        for gap_ms, user in steps:
            clock.now_ns += gap_ms * 1_000_000
            assert await shared.check(user) == await memory.check(user)
    finally:
        for key in redis_client.scan_iter(match=f"{prefix}*"):
            redis_client.delete(key)


# --------------------------------------------------------------------------- bounded memory


async def test_idle_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(lenient(100, 5), clock, users_max=1_000)

    for user in range(500):
        await limiter.check(user)
        clock.now_ns += 1_000_000_000  # each user's bucket is full again a second later

    assert len(limiter) <= 3


async def test_busy_buckets_are_capped_at_users_max() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(lenient(1, 1), clock, users_max=50)

    for user in range(500):
        await limiter.check(user)  # all at the same instant: none idle

    assert len(limiter) == 50
    assert await limiter.check(499) == refuse(1)  # the most recent users are still remembered


async def test_redis_keys_expire_once_idle(
    redis_client: Any, async_redis: Any, redis_prefix: str
) -> None:
    clock = FakeClock()
    limiter = RedisRateLimiter(
        async_redis, RateLimit(1, 1, 2, 10, 60), clock, key_prefix=redis_prefix
    )

    await limiter.check(1)
    ttl_allowed_ms = redis_client.pttl(f"{redis_prefix}1")
    await limiter.check(1)
    await limiter.check(1)  # banned for 60 s
    ttl_banned_ms = redis_client.pttl(f"{redis_prefix}1")

    assert 0 < ttl_allowed_ms <= 2_000  # the 1 s interval plus slack
    assert 60_000 < ttl_banned_ms <= 61_000


async def test_limits_come_from_settings() -> None:
    settings_ = load_settings(
        None,
        orders_per_second_max=5,
        orders_burst_max=2,
        rate_limit_strikes_max=9,
        redis_url=None,
    )
    shared_settings = load_settings(None, redis_url=REDIS_URL)

    limit = RateLimit.for_orders(settings_)

    assert (limit.rate_per_s, limit.burst, limit.strikes_max) == (5, 2, 9)
    assert (limit.interval_us, limit.tolerance_us) == (200_000, 200_000)
    assert isinstance(make_rate_limiter(settings_), MemoryRateLimiter)
    shared = make_rate_limiter(shared_settings)
    assert isinstance(shared, RedisRateLimiter)
    assert shared.outage.retry_s == shared_settings.redis_retry_s
    await shared.close()


@pytest.mark.parametrize(
    "arguments", [(0, 1, 1, 1, 1), (1, 0, 1, 1, 1), (1, 1, 0, 1, 1), (1, 1, 1, 0, 1)]
)
def test_invalid_limits_are_refused(arguments: tuple[float, int, int, int, int]) -> None:
    with pytest.raises(ValueError, match="invalid rate limit"):
        RateLimit(*arguments)
