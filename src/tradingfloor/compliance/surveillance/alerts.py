"""What surveillance finds: an alert, the evidence it rests on, and its stable id.

An alert names the pattern, the account(s) and their beneficial owner, the symbol, the time
(the `ts` of the event that completed the pattern), a score and a one-line summary, and its
evidence: the order ids and the (shard, seq) of every command whose events it rests on, with
a short explanation a reviewer can check against the audit trail.

The id is derived from what was found (the pattern, the shard and the pattern's own key:
a trade, a set of orders, an account's window), never from a clock or a counter, so that
reading the feed again from seq 1 finds the same alerts under the same ids.
"""

import hashlib
from enum import StrEnum

import msgspec

ALERT_ID_HASH_CHARS = 24
"""Hex characters of the key's SHA-256 kept in an id: 96 bits, no collision in practice."""
evidence_orders_max = 64
evidence_events_max = 64
"""The evidence an alert keeps, at most (a burst of thousands of messages is summarised:
its count is in the summary, its first events are the evidence)."""


class Pattern(StrEnum):
    WASH_TRADE = "wash_trade"
    SPOOFING = "spoofing"
    MARKING_THE_CLOSE = "marking_the_close"
    ORDER_ENTRY_ABUSE = "order_entry_abuse"


class EventRef(msgspec.Struct, frozen=True, array_like=True):
    """One command of one shard's feed: its events are part of the evidence."""

    shard: str
    seq: int


class Evidence(msgspec.Struct, frozen=True):
    order_ids: tuple[int, ...]
    events: tuple[EventRef, ...]
    explanation: str


class Alert(msgspec.Struct, frozen=True):
    """One finding for the review queue. `score` is the pattern's own measure (see each
    detector: shares, a ratio, basis points), `seq` the command that completed it."""

    alert_id: str
    pattern: Pattern
    shard: str
    accounts: tuple[str, ...]
    owner: str
    symbol: str
    ts: int
    seq: int
    score: int
    summary: str
    evidence: Evidence


def alert_id(pattern: Pattern, shard: str, key: str) -> str:
    """The id of the alert of `pattern` on `shard` whose own key is `key`."""
    digest = hashlib.sha256(f"{pattern.value}|{shard}|{key}".encode()).hexdigest()
    return f"{pattern.value}-{digest[:ALERT_ID_HASH_CHARS]}"


def make_evidence(shard: str, order_ids: list[int], seqs: list[int], explanation: str) -> Evidence:
    """Evidence with its orders and commands sorted, deduplicated and bounded."""
    orders = tuple(sorted(set(order_ids)))[:evidence_orders_max]
    events = tuple(EventRef(shard, seq) for seq in sorted(set(seqs))[:evidence_events_max])
    return Evidence(orders, events, explanation)


class Owners:
    """Account -> beneficial owner: the map given, else the account itself."""

    def __init__(self, owners: dict[str, str] | None = None) -> None:
        self.owners = dict(owners or {})

    def of(self, account: str) -> str:
        return self.owners.get(account, account)
