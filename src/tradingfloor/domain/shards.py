"""Which shard owns what: symbols by a map, orders by their id.

A platform runs K symbol shards, named in settings (`shards`, in a fixed order: a shard's
index is its place in the list). Each shard is the single writer of its symbols: their books,
their journal, their events. A symbol is owned by the shard `symbol_shards` names for it, else
by a stable hash of the symbol (CRC-32 modulo K), so every process computes the same owner
without asking anyone.

An order id says which shard owns it: shard i's order ids are `i * ORDER_ID_SHARD_SPAN + seq`
(its command seq). Shard 0's ids are its seqs, as on a platform of one shard; shard 2's order
at seq 12345 is 20000000012345. A cancel or a replace therefore goes to the right shard with
nothing looked up. A position in a shard's event feed is written the same way
(`seq_token`), so a client's read-your-writes token names its shard too.
"""

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ORDER_ID_SHARD_SPAN = 10**13
"""Order ids of one shard: 10 trillion commands before the next shard's range."""
SHARDS_MAX = 900
"""Shards at most: every order id stays below 2**63."""
LEG_ID_FLOOR = 5 * 10**12
"""Within a shard's order id range, ids from here up are the legs of bracket, OCO and OTO
orders (`leg_id`); the sequencer's ids (the shard's base plus a seq) stay below it."""


def leg_id(parent_id: int, which: int) -> int:
    """The id of a parent's take-profit (`which` 0) or stop-loss (1) leg: in the parent's
    shard range (so a cancel of it routes as any order's), above every seq-assigned id,
    distinct for every parent, and derived from the parent's id (so from its seq)."""
    local = parent_id % ORDER_ID_SHARD_SPAN
    return parent_id - local + LEG_ID_FLOOR + 2 * local + which


def is_leg_id(order_id: int) -> bool:
    return order_id % ORDER_ID_SHARD_SPAN >= LEG_ID_FLOOR


def parent_of_leg(order_id: int) -> int:
    """The parent whose leg `order_id` would be (`leg_id` undone); for a leg id only."""
    local = order_id % ORDER_ID_SHARD_SPAN
    return order_id - local + (local - LEG_ID_FLOOR) // 2


class UnknownShard(LookupError):
    """An order id no shard of the map owns."""


@dataclass(frozen=True)
class ShardMap:
    names: tuple[str, ...] = ("main",)
    symbols: Mapping[str, str] = field(default_factory=dict)
    """Symbol → shard name, for symbols not placed by the hash."""

    def __post_init__(self) -> None:
        if not self.names or len(self.names) > SHARDS_MAX:
            raise ValueError(f"a platform has 1 to {SHARDS_MAX} shards, not {len(self.names)}")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"shard names repeat: {list(self.names)}")
        unknown = sorted({shard for shard in self.symbols.values() if shard not in self.names})
        if unknown:
            raise ValueError(f"symbol_shards names shards that are not in shards: {unknown}")

    @classmethod
    def of(cls, names: Sequence[str], symbols: Mapping[str, str]) -> "ShardMap":
        return cls(tuple(names), dict(symbols))

    @classmethod
    def of_settings(cls, settings: Any) -> "ShardMap":
        """From the settings' `shards` (empty: one, `shard_name`) and `symbol_shards`."""
        return cls.of(settings.shards or [settings.shard_name], settings.symbol_shards)

    def index(self, shard: str) -> int:
        return self.names.index(shard)

    def shard_of_symbol(self, symbol: str) -> str:
        placed = self.symbols.get(symbol)
        if placed is not None:
            return placed
        return self.names[zlib.crc32(symbol.encode()) % len(self.names)]

    def shard_of_order(self, order_id: int) -> str:
        index = order_id // ORDER_ID_SHARD_SPAN
        if order_id <= 0 or index >= len(self.names):
            raise UnknownShard(f"no shard owns order id {order_id}")
        return self.names[index]


def seq_token(shard_index: int, seq: int) -> int:
    """A position in one shard's event feed as one number, in the same ranges as order ids:
    what `TF-Seq` carries on a platform of several shards (shard 0's tokens are its seqs)."""
    return shard_index * ORDER_ID_SHARD_SPAN + seq


def split_token(token: int) -> tuple[int, int]:
    """(shard index, seq) of a `seq_token`."""
    return divmod(token, ORDER_ID_SHARD_SPAN)


def order_id_of(shard_index: int, seq: int) -> int:
    """The order id of shard `shard_index`'s command `seq` (see the module)."""
    if not 0 < seq < ORDER_ID_SHARD_SPAN:
        raise ValueError(f"seq {seq} is beyond a shard's order-id range")
    return shard_index * ORDER_ID_SHARD_SPAN + seq
