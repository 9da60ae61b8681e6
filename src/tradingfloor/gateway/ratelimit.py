"""Per-user request rate limits: a token bucket, and a temporary ban for who keeps pushing.

The bucket is kept as GCRA (the generic cell rate algorithm of ATM networks, also used by
redis-cell and Stripe): instead of a token count and a refill time it keeps one number, the
theoretical arrival time (TAT) of the next request at the steady rate. A request at `now` is
allowed when `TAT - now <= (burst - 1) * interval`, which is exactly a bucket of `burst` tokens
refilled at `rate_per_s`; allowing it moves TAT one interval on. One integer per user, no
floating point, no refill loop.

Each rejection is a strike; `strikes_max` strikes within `strike_window_s` (a window that opens
at the first strike) ban the user for `ban_s`, during which every request is refused with the
time left as Retry-After, and costs nothing. When a ban ends the user starts afresh.

Two implementations behave the same, step for step (the tests share one table):
`MemoryRateLimiter` for one gateway, `RedisRateLimiter` for gateways sharing a limit (one Lua
script per check: atomic, one round trip). Times are integer microseconds inside both, so the
Lua side's doubles stay exact (2**53 µs is 285 years). `check` is a coroutine for both; the
memory one never awaits anything.

A Redis limiter remembers the bans Redis told it (until they end), and refuses a banned user
without asking Redis again: a banned user's flood costs each gateway a dictionary lookup.

Redis may fail: the Redis limiter talks to it through the asyncio client, never blocking the
event loop, with a timeout on connecting and on each command (`redis_timeout_ms`). A failed or
timed-out check raises `RateLimiterUnavailable`, and for `redis_retry_s` after it every check
fails at once without trying Redis (`tradingfloor.outage.Outage`), then one check probes it:
a dead Redis costs a request nothing, and the limiter is back by itself once Redis is. Order
entry fails closed on it (HTTP 503, code 5034): without a limit, one client could flood the
engine.

Both stay bounded: a user whose state is no different from a fresh one (bucket full, no ban,
no strike in an open window) is forgotten, by eviction in memory and by key expiry in Redis.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tradingfloor.outage import Outage, Unavailable

if TYPE_CHECKING:
    import redis.asyncio

    from tradingfloor.config import Settings

US_PER_S = 1_000_000
_EVICTIONS_PER_CHECK = 2
"""Idle buckets looked at per check: enough to outpace the creation of new ones."""
_BANS_KEPT_MAX = 10_000
"""Bans a Redis limiter remembers in its gateway's memory; past it the oldest are asked of
Redis again (which still holds them)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request: allowed, or refused with seconds to wait (Retry-After)."""

    allowed: bool
    retry_after_s: int
    banned: bool = False
    """True when refused because of a ban (auth code 4018) rather than the rate (4007)."""


ALLOWED = Decision(True, 0)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The limit every user gets."""

    rate_per_s: float
    burst: int
    strikes_max: int
    strike_window_s: int
    ban_s: int

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and self.burst >= 1 and self.strikes_max >= 1):
            raise ValueError(f"invalid rate limit {self}")
        if not (self.strike_window_s > 0 and self.ban_s > 0):
            raise ValueError(f"invalid rate limit {self}")

    @classmethod
    def for_orders(cls, settings: "Settings") -> "RateLimit":
        """The order-entry limit of `settings`."""
        return cls(
            rate_per_s=settings.orders_per_second_max,
            burst=settings.orders_burst_max,
            strikes_max=settings.rate_limit_strikes_max,
            strike_window_s=settings.rate_limit_strike_window_s,
            ban_s=settings.rate_limit_ban_s,
        )

    @property
    def interval_us(self) -> int:
        return max(1, round(US_PER_S / self.rate_per_s))

    @property
    def tolerance_us(self) -> int:
        return self.interval_us * (self.burst - 1)


class RateLimiter(Protocol):
    async def check(self, user_id: int | str) -> Decision:
        """Count one request of `user_id` and say whether it may go ahead; raises
        `RateLimiterUnavailable` when it cannot tell (its store is down)."""
        ...


class RateLimiterUnavailable(Exception):
    """The limiter's store (Redis) is down: the request is refused, to retry after
    `retry_after_s`."""

    def __init__(self, retry_after_s: int, cause: BaseException | None = None) -> None:
        super().__init__(f"rate limiter unavailable: {cause!r}")
        self.retry_after_s = retry_after_s


def _seconds_up(duration_us: int) -> int:
    """Whole seconds to wait, rounded up, at least 1 (Retry-After takes whole seconds)."""
    return max(1, -(-duration_us // US_PER_S))


class _Bucket:
    __slots__ = ("banned_until_us", "strikes", "tat_us", "window_start_us")

    def __init__(self, now_us: int) -> None:
        self.tat_us = now_us
        self.window_start_us = now_us
        self.strikes = 0
        self.banned_until_us = 0


class MemoryRateLimiter:
    """Buckets in this process, at most `users_max` of them; thread-safe."""

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], int] = time.time_ns,
        users_max: int = 100_000,
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._users_max = users_max
        self._interval_us = limit.interval_us
        self._tolerance_us = limit.tolerance_us
        self._window_us = limit.strike_window_s * US_PER_S
        self._ban_us = limit.ban_s * US_PER_S
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Buckets held now."""
        return len(self._buckets)

    async def check(self, user_id: int | str) -> Decision:
        return self.decide(user_id)

    def decide(self, user_id: int | str) -> Decision:
        """`check` without the coroutine: the same count, the same answer."""
        now_us = self._clock() // 1000
        key = str(user_id)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(now_us)
            else:
                self._buckets.move_to_end(key)
            decision = self._decide(bucket, now_us)
            self._evict(now_us)
        return decision

    def _decide(self, bucket: _Bucket, now_us: int) -> Decision:
        if bucket.banned_until_us > now_us:
            return Decision(False, _seconds_up(bucket.banned_until_us - now_us), banned=True)
        tat_us = max(bucket.tat_us, now_us)
        allowed_at_us = tat_us - self._tolerance_us
        if now_us >= allowed_at_us:
            bucket.tat_us = tat_us + self._interval_us
            return ALLOWED
        bucket.tat_us = tat_us
        if bucket.strikes == 0 or now_us - bucket.window_start_us >= self._window_us:
            bucket.window_start_us = now_us
            bucket.strikes = 0
        bucket.strikes += 1
        if bucket.strikes >= self._limit.strikes_max:
            bucket.strikes = 0
            bucket.banned_until_us = now_us + self._ban_us
            return Decision(False, _seconds_up(self._ban_us), banned=True)
        return Decision(False, _seconds_up(allowed_at_us - now_us))

    def _evict(self, now_us: int) -> None:
        buckets = self._buckets
        for _ in range(_EVICTIONS_PER_CHECK):
            if not buckets:
                return
            key, oldest = next(iter(buckets.items()))
            if not self._idle(oldest, now_us):
                break
            del buckets[key]
        # Every bucket busy and too many of them: the least recently seen user starts afresh.
        while len(buckets) > self._users_max:
            buckets.popitem(last=False)

    def _idle(self, bucket: _Bucket, now_us: int) -> bool:
        """Whether `bucket` behaves exactly like a new one from now on."""
        return (
            bucket.tat_us <= now_us
            and bucket.banned_until_us <= now_us
            and (bucket.strikes == 0 or now_us - bucket.window_start_us >= self._window_us)
        )


# KEYS[1] the user's hash; ARGV now, interval, tolerance, strikes_max, window, ban (all µs).
# Returns {allowed, wait_us, banned}. Mirrors MemoryRateLimiter._decide line by line.
_CHECK_SCRIPT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local strikes_max = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local ban = tonumber(ARGV[6])
local state = redis.call('HMGET', key, 'tat', 'ws', 'st', 'ban')
local tat = tonumber(state[1]) or now
local ws = tonumber(state[2]) or now
local st = tonumber(state[3]) or 0
local banned_until = tonumber(state[4]) or 0
if banned_until > now then
  return {0, banned_until - now, 1}
end
if tat < now then tat = now end
local allowed_at = tat - tolerance
local result
if now >= allowed_at then
  tat = tat + interval
  result = {1, 0, 0}
else
  if st == 0 or now - ws >= window then
    ws = now
    st = 0
  end
  st = st + 1
  if st >= strikes_max then
    st = 0
    banned_until = now + ban
    result = {0, ban, 1}
  else
    result = {0, allowed_at - now, 0}
  end
end
-- Forget the user once the state is no different from a fresh one (plus a second's slack).
local live = math.max(tat - now, banned_until - now, 0)
if st > 0 then live = math.max(live, ws + window - now) end
redis.call('HSET', key, 'tat', string.format('%.0f', tat), 'ws', string.format('%.0f', ws),
  'st', string.format('%.0f', st), 'ban', string.format('%.0f', banned_until))
redis.call('PEXPIRE', key, math.ceil(live / 1000) + 1000)
return result
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every gateway using the same `key_prefix`.

    Time comes from each gateway's `clock` (hosts keep it with NTP; skew between gateways
    shifts a user's limit by at most the skew). `client` should fail fast (see
    `tradingfloor.outage.redis_client`); a failure raises `RateLimiterUnavailable` and starts
    an outage of `outage.retry_s` during which checks fail at once.
    """

    def __init__(
        self,
        client: "redis.asyncio.Redis",
        limit: RateLimit,
        clock: Callable[[], int] = time.time_ns,
        key_prefix: str = "tf:ratelimit:",
        outage: Outage | None = None,
    ) -> None:
        self._client = client
        self._limit = limit
        self._clock = clock
        self._key_prefix = key_prefix
        self.outage = outage or Outage("Redis (rate limits)", 1.0)
        self._script = client.register_script(_CHECK_SCRIPT)
        self._bans: OrderedDict[str, int] = OrderedDict()
        """User key -> the µs its ban ends, as Redis told it: while banned, a user is refused
        here without a round trip (Redis would answer the same and change nothing), so a
        banned flood costs Redis nothing."""
        self._arguments = (
            limit.interval_us,
            limit.tolerance_us,
            limit.strikes_max,
            limit.strike_window_s * US_PER_S,
            limit.ban_s * US_PER_S,
        )

    async def check(self, user_id: int | str) -> Decision:
        now_us = self._clock() // 1000
        key = f"{self._key_prefix}{user_id}"
        banned_until_us = self._bans.get(key)
        if banned_until_us is not None:
            if banned_until_us > now_us:
                return Decision(False, _seconds_up(banned_until_us - now_us), banned=True)
            del self._bans[key]
        keys, args = [key], [now_us, *self._arguments]

        async def run() -> Any:
            return await self._script(keys=keys, args=args)

        try:
            allowed, wait_us, banned = await self.outage.call(run)
        except Unavailable as error:
            raise RateLimiterUnavailable(error.retry_after_s, error.cause) from error
        if allowed:
            return ALLOWED
        if banned:
            self._remember_ban(key, now_us + int(wait_us))
        return Decision(False, _seconds_up(int(wait_us)), banned=bool(banned))

    def _remember_ban(self, key: str, until_us: int) -> None:
        self._bans[key] = until_us
        self._bans.move_to_end(key)
        while len(self._bans) > _BANS_KEPT_MAX:
            self._bans.popitem(last=False)

    async def close(self) -> None:
        await self._client.aclose()


def make_rate_limiter(
    settings: "Settings",
    clock: Callable[[], int] = time.time_ns,
    on_failure: Callable[[], None] | None = None,
) -> MemoryRateLimiter | RedisRateLimiter:
    """The order-entry limiter of `settings`: in Redis when `redis_url` is set, else here.
    `on_failure` is called once per failed Redis call (a metric)."""
    limit = RateLimit.for_orders(settings)
    if settings.redis_url is None:
        return MemoryRateLimiter(limit, clock, users_max=settings.rate_limit_users_max)
    from tradingfloor.outage import redis_client

    outage = Outage("Redis (rate limits)", settings.redis_retry_s, on_failure=on_failure)
    client = redis_client(settings.redis_url, settings.redis_timeout_ms)
    prefix = settings.rate_limit_key_prefix
    return RedisRateLimiter(client, limit, clock, key_prefix=prefix, outage=outage)
