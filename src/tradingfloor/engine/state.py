"""The engine's whole state as canonical bytes: what snapshots store and what the hash covers.

The encoding is msgpack of `EngineState`, whose lists are in a canonical order, so two engines
that reached the same state by any path encode to the same bytes and hash alike.
"""

import hashlib

import msgspec

from tradingfloor.engine.pipeline import RiskState
from tradingfloor.matching.book import BookState

STATE_VERSION = 2


class EngineState(msgspec.Struct, array_like=True):
    version: int
    last_seq: int
    last_ts: int
    last_order_id: int
    books: list[BookState]
    risk: RiskState | None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EngineState)


def encode_state(state: EngineState) -> bytes:
    return _encoder.encode(state)


def decode_state(data: bytes) -> EngineState:
    state = _decoder.decode(data)
    if state.version != STATE_VERSION:
        raise ValueError(f"engine state version {state.version}, expected {STATE_VERSION}")
    return state


def state_hash(data: bytes) -> str:
    """BLAKE2b-256 of canonical state bytes, as hex."""
    return hashlib.blake2b(data, digest_size=32).hexdigest()
