"""Limits on guessing: lockouts per user (kept in the database) and blocks per source address
(kept by each gateway), and the audit of sign-in events.

Per user (`Lockout`): `failures_max` wrong passwords in a row, or as many wrong second-factor
codes, lock the user out for `lockout_s`; each further lockout doubles it, up to
`lockout_max_s`. The state is columns of `users`, so every gateway sees the same lockout, and a
restart forgets nothing. A right password resets the count of wrong passwords; a whole sign-in
(password, then code) also resets the doubling.

Per source (`SourceGuard`): `failures_max` failed sign-ins of any user from one address within
`window_s` block that address for `block_s`, doubling with each further block up to
`block_max_s`. It bounds how fast one address can lock users out or spray passwords over many
users, at no cost to anyone else. It lives in the gateway's memory (at most `sources_max`
addresses, least recently seen forgotten first): with G gateways an address gets G times the
budget before each blocks it, which the per-user lockout does not depend on.

What a lockout costs the user it protects: an attacker who knows a username can keep its
password sign-in locked (60 s, 120 s, ... at most an hour, and only while its own address is not
blocked). API keys are not affected: bots go on trading.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert

from tradingfloor.store.schema import DETAIL_LENGTH_MAX, SOURCE_LENGTH_MAX, USERNAME_LENGTH_MAX
from tradingfloor.store.schema import auth_events as auth_events_table

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Lockout:
    """The per-user rule, from settings."""

    failures_max: int
    lockout_s: int
    lockout_max_s: int

    def duration_s(self, lockouts_before: int) -> int:
        """The length of a user's next lockout, given how many came before it."""
        if lockouts_before >= 32:  # 2**32 seconds is past any maximum
            return self.lockout_max_s
        return min(self.lockout_s << lockouts_before, self.lockout_max_s)

    def seconds_left(self, locked_until_ts: int | None, now: int) -> int | None:
        """Whole seconds (at least 1) until a lockout ends, or None when not locked out."""
        if locked_until_ts is None or locked_until_ts <= now:
            return None
        return max(1, -(-(locked_until_ts - now) // NS_PER_S))


class _Source:
    __slots__ = ("blocked_until_ns", "blocks", "failures", "window_start_ns")

    def __init__(self, now: int) -> None:
        self.failures = 0
        self.window_start_ns = now
        self.blocked_until_ns = 0
        self.blocks = 0


class SourceGuard:
    """Failed sign-ins per source address, in this gateway's memory; thread-safe."""

    def __init__(
        self,
        failures_max: int,
        window_s: int,
        block_s: int,
        block_max_s: int,
        sources_max: int,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._failures_max = failures_max
        self._window_ns = window_s * NS_PER_S
        self._rule = Lockout(failures_max, block_s, block_max_s)
        self._sources_max = sources_max
        self._clock = clock
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sources)

    def blocked_s(self, source: str) -> int | None:
        """Seconds until `source` may try again, or None when it is not blocked."""
        entry = self._sources.get(source)
        if entry is None:
            return None
        return self._rule.seconds_left(entry.blocked_until_ns, self._clock())

    def failed(self, source: str) -> int | None:
        """Count a failed sign-in from `source`; the block's length in seconds when this
        failure blocked it, else None."""
        now = self._clock()
        with self._lock:
            entry = self._sources.get(source)
            if entry is None:
                entry = self._sources[source] = _Source(now)
                while len(self._sources) > self._sources_max:
                    self._sources.popitem(last=False)
            else:
                self._sources.move_to_end(source)
            if now - entry.window_start_ns >= self._window_ns:
                entry.window_start_ns, entry.failures = now, 0
            entry.failures += 1
            if entry.failures < self._failures_max:
                return None
            duration_s = self._rule.duration_s(entry.blocks)
            entry.blocks += 1
            entry.failures = 0
            entry.window_start_ns = now
            entry.blocked_until_ns = now + duration_s * NS_PER_S
            return duration_s


def record_auth_event(
    connection: Connection,
    ts: int,
    kind: str,
    *,
    user_id: int | None = None,
    username: str | None = None,
    source: str = "",
    detail: str = "",
    actor_user_id: int | None = None,
) -> None:
    """Append one row to `auth_events` within the caller's transaction. Texts are cut to
    their columns: a username an attacker typed may be anything."""
    values: dict[str, Any] = {
        "ts": ts,
        "kind": kind,
        "user_id": user_id,
        "username": None if username is None else _printable(username, USERNAME_LENGTH_MAX),
        "source": _printable(source, SOURCE_LENGTH_MAX),
        "detail": _printable(detail, DETAIL_LENGTH_MAX),
        "actor_user_id": actor_user_id,
    }
    connection.execute(insert(auth_events_table).values(**values))


def _printable(text: str, length_max: int) -> str:
    """`text` with anything but printable characters replaced, cut to `length_max`."""
    cut = text[:length_max]
    if cut.isprintable():
        return cut
    return "".join(c if c.isprintable() else "\ufffd" for c in cut)
