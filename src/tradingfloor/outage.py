"""A dependency that may stop answering (Redis): fail at once while it is down, probe it now
and then, say so once.

A dependency that timed out or refused a connection will most likely do the same to the next
calls; letting each of them wait for its own timeout would turn one outage into a pile of
stuck requests. `Outage` remembers the failure instead: for `retry_s` after it every call is
refused at once (`Unavailable`, costing nothing), then a single call goes through as a probe
while the others are still refused; the probe's success ends the outage, its failure starts
another `retry_s`. An outage is logged once when it begins (with the error) and once when it
ends (with how long it lasted and how many calls failed), never per call; every failed call
is counted through `on_failure` (a metric).

`redis_client` makes the asyncio Redis client the edges use: a timeout on connecting and on
each command (`redis_timeout_ms`), and no retries inside the client (redis-py retries ten
times by default, which would multiply every timeout): the caller's `Outage` decides when to
try again.

Used by the edges that talk to Redis (`gateway.ratelimit`, `marketdata.cache`); it imports
nothing of the platform.
"""

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("tradingfloor.outage")

T = TypeVar("T")

REDIS_FAILURES: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
"""What a Redis call raises when Redis is down, slow or refusing (timeouts included:
`redis.exceptions.TimeoutError` is a RedisError and the builtin TimeoutError an OSError)."""


def redis_client(url: str, timeout_ms: int) -> "redis.asyncio.Redis":
    """An asyncio client of `url` that gives up after `timeout_ms` on connecting and on each
    command, and never retries by itself."""
    timeout_s = timeout_ms / 1000
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    return client


class Unavailable(Exception):
    """The call was refused at once (the dependency is down) or has just failed."""

    def __init__(self, name: str, retry_after_s: int, cause: BaseException | None) -> None:
        detail = f": {cause!r}" if cause is not None else ""
        super().__init__(f"{name} unavailable{detail}")
        self.name, self.retry_after_s, self.cause = name, retry_after_s, cause


class Outage:
    """The state of one dependency as its callers see it: up, or down until a probe works."""

    def __init__(
        self,
        name: str,
        retry_s: float,
        *,
        failures: tuple[type[BaseException], ...] = REDIS_FAILURES,
        on_failure: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        if retry_s <= 0:
            raise ValueError("retry_s must be positive")
        self.name, self.retry_s, self.failures = name, retry_s, failures
        self._on_failure, self._monotonic, self._log = on_failure, monotonic, logger
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._probing = False
        self.failed_calls = 0
        """Failed calls of the current outage (0 while up)."""

    @property
    def down(self) -> bool:
        return self._down_since is not None

    @property
    def retry_after_s(self) -> int:
        """Whole seconds until the dependency is tried again (at least 1: Retry-After)."""
        return max(1, math.ceil(self._retry_at - self._monotonic()))

    def admit(self) -> bool:
        """Whether a call may go to the dependency now; while down, one probe at a time after
        `retry_s`. An admitted call must end in `succeeded`, `failed` or `abandoned`."""
        if self._down_since is None:
            return True
        if self._probing or self._monotonic() < self._retry_at:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        self._probing = False
        if self._down_since is None:
            return
        lasted_s = self._monotonic() - self._down_since
        self._log.warning(
            "%s is back after %.1f s (%d failed calls)", self.name, lasted_s, self.failed_calls
        )
        self._down_since = None
        self.failed_calls = 0

    def failed(self, error: BaseException) -> None:
        self._probing = False
        self.failed_calls += 1
        if self._on_failure is not None:
            self._on_failure()
        now = self._monotonic()
        self._retry_at = now + self.retry_s
        if self._down_since is None:
            self._down_since = now
            self._log.warning(
                "%s is down (%s: %s): calls fail at once, tried again every %.1f s",
                self.name,
                type(error).__qualname__,
                error,
                self.retry_s,
            )

    def abandoned(self) -> None:
        """An admitted call ended with neither an answer nor a failure (it was canceled)."""
        self._probing = False

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """`operation()` unless the dependency is down; raises `Unavailable` when refused or
        when it fails with one of `failures`."""
        if not self.admit():
            raise Unavailable(self.name, self.retry_after_s, None)
        try:
            result = await operation()
        except self.failures as error:
            self.failed(error)
            raise Unavailable(self.name, self.retry_after_s, error) from error
        except BaseException:
            self.abandoned()
            raise
        self.succeeded()
        return result

    def __repr__(self) -> str:
        state: Any = "up" if self._down_since is None else f"down ({self.failed_calls} failed)"
        return f"Outage({self.name!r}, {state})"
