"""The engine's whole state as canonical bytes: what snapshots store and what the hash covers.

The encoding is msgpack of `EngineState`, whose lists are in a canonical order, so two engines
that reached the same state by any path encode to the same bytes and hash alike.

Versions: 3 added the client order ids (`client_orders`). A version 2 state still decodes: it
has no client order ids, so `client_orders` is None and the engine rebuilds what it can of them
from its live orders (`Engine.restore`). `leader_epoch` (the shard's lease epoch, from its
`TakeOverShard` records) came with a default: a state written without it decodes as 0; so
did the trading days (`days`: sessions seen and closed, `engine.end_of_day`), None before,
and the groups of bracket, OCO and OTO orders (`order_classes`), None when there are none,
and the fractional orders waiting (`fractions`), likewise.
"""

import hashlib

import msgspec

from tradingfloor.engine.client_orders import ClientOrdersState
from tradingfloor.engine.end_of_day import TradingDaysState
from tradingfloor.engine.fractions import FractionsState
from tradingfloor.engine.order_classes import OrderClassesState
from tradingfloor.engine.pipeline import RiskState
from tradingfloor.matching.book import BookState

STATE_VERSION = 3
STATE_VERSIONS_READ = frozenset({2, STATE_VERSION})
"""Versions `decode_state` takes; older ones are refused."""


class EngineState(msgspec.Struct, array_like=True):
    version: int
    last_seq: int
    last_ts: int
    last_order_id: int
    books: list[BookState]
    risk: RiskState | None
    client_orders: ClientOrdersState | None = None
    """None only in a version 2 state."""
    leader_epoch: int = 0
    """The lease epoch of the newest `TakeOverShard` applied (0: none); states written
    before it decode with 0."""
    days: TradingDaysState | None = None
    """The trading days: None in a state written before `CloseDay` existed."""
    order_classes: OrderClassesState | None = None
    """Bracket, OCO and OTO groups with a live order (None: none, or a state written before
    order classes existed)."""
    fractions: FractionsState | None = None
    """Fractional orders whose fraction is still to fill (None: none, or a state written
    before fractional orders existed)."""


class _Version(msgspec.Struct, array_like=True):
    version: int


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EngineState)
_version_decoder = msgspec.msgpack.Decoder(_Version)


def encode_state(state: EngineState) -> bytes:
    return _encoder.encode(state)


def decode_state(data: bytes) -> EngineState:
    version = state_version(data)
    if version not in STATE_VERSIONS_READ:
        raise ValueError(f"engine state version {version}, expected {STATE_VERSION}")
    state = _decoder.decode(data)
    if (state.client_orders is None) != (version == 2):
        raise ValueError(f"engine state version {version} with the fields of another")
    return state


def state_version(data: bytes) -> int:
    """The version of encoded state, read without decoding the rest."""
    return _version_decoder.decode(data).version


def state_hash(data: bytes) -> str:
    """BLAKE2b-256 of canonical state bytes, as hex."""
    return hashlib.blake2b(data, digest_size=32).hexdigest()
