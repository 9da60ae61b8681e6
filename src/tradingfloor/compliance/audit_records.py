"""What one record of the audit trail says, as plain JSON-ready values.

Two kinds of record:

- `command`: one per command of a shard's journal, in seq order per shard: the shard, seq and
  time the sequencer gave it, the command whole, who sent it (`Origin`: user id, API key id,
  FIX session, client address, gateway, or the role that sent it) and every event the engine
  made of it. Taken from the feed, where `CommandEntered` carries the command and its origin
  first in each seq (a feed written before it did gives `command: null`).
- `access`: one per row of `auth_events`: sign-ins, refused sign-ins, lockouts, key and
  second-factor changes and user administration, with the user, the actor and the source.

Structs become objects with their type in `type` and every field by name; enums their value.
"""

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

import msgspec

from tradingfloor.domain.events import CommandEntered, Event

COMMAND = "command"
ACCESS = "access"


def describe(value: Any) -> Any:
    """`value` as JSON-ready data: a struct as `{"type": name, field: value, ...}`."""
    if isinstance(value, msgspec.Struct):
        described: dict[str, Any] = {"type": type(value).__name__}
        for name in value.__struct_fields__:
            described[name] = describe(getattr(value, name))
        return described
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [describe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): describe(item) for key, item in value.items()}
    return value


def command_record(shard: str, seq: int, ts: int, events: Iterable[Event]) -> dict[str, Any]:
    """The record of one seq of `shard`'s feed."""
    command: Any = None
    origin: Any = None
    made = []
    for event in events:
        if type(event) is CommandEntered:
            command, origin = describe(event.command), describe(event.origin)
            origin.pop("type", None)
        else:
            made.append(describe(event))
    return {
        "kind": COMMAND,
        "shard": shard,
        "seq": seq,
        "ts": ts,
        "origin": origin,
        "command": command,
        "events": made,
    }


def access_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record of one `auth_events` row."""
    return {
        "kind": ACCESS,
        "event_id": row["event_id"],
        "ts": row["ts"],
        "event": row["kind"],
        "user_id": row["user_id"],
        "username": row["username"],
        "actor_user_id": row["actor_user_id"],
        "source": row["source"],
        "detail": row["detail"],
    }
