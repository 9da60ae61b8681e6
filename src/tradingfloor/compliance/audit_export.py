"""The audit trail's rows for `tradingfloor export audit`: one row per record of a time range.

The rows come from the trail's files (`audit_chain`), not from the database: they are the
records as chained, each with its `n` and hash, so an exported row can be checked against the
trail (`tradingfloor audit verify` proves the trail itself). A command record's account and
symbol are its command's (or, for a command that names none, its first event's that does);
with accounts asked for, only command records of those accounts are given (access events
name users, not accounts). `detail` holds the record's command and events (or the access
event's detail) as JSON text.
"""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from tradingfloor.compliance.audit_chain import HASH_HEX_LENGTH, chain_files
from tradingfloor.compliance.audit_records import ACCESS, COMMAND

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

AUDIT_COLUMN_NAMES = (
    "n", "hash", "ts", "kind", "shard", "seq", "event_id", "user", "key_id", "source",
    "gateway", "role", "action", "account", "symbol", "detail",
)  # fmt: skip


def records_between(
    directory: Path | None, after_ts: int, before_ts: int, accounts: Sequence[str] | None
) -> Iterator[tuple[Any, ...]]:
    """The rows (in `AUDIT_COLUMN_NAMES`' order) of the records with `after_ts <= ts <
    before_ts`, in trail order."""
    if directory is None:
        return
    wanted = None if accounts is None else set(accounts)
    for path in chain_files(directory):
        with path.open("rb") as file:
            for line in file:
                if not line.endswith(b"\n"):
                    return  # a torn last line: not a record
                record = _decoder.decode(line[HASH_HEX_LENGTH + 1 : -1])
                if not after_ts <= record.get("ts", 0) < before_ts:
                    continue
                row = _row(line[:HASH_HEX_LENGTH].decode("ascii"), record)
                if wanted is None or row[13] in wanted:
                    yield row


def _row(hash_hex: str, record: dict[str, Any]) -> tuple[Any, ...]:
    if record["kind"] == ACCESS:
        user = "" if record.get("user_id") is None else str(record["user_id"])
        return (
            record["n"], hash_hex, record["ts"], ACCESS, None, None, record["event_id"],
            user, None, record.get("source"), None, None, record.get("event"), None, None,
            _encoder.encode({
                "username": record.get("username"),
                "actor_user_id": record.get("actor_user_id"),
                "detail": record.get("detail"),
            }).decode(),
        )  # fmt: skip
    origin = record.get("origin") or {}
    command = record.get("command") or {}
    account, symbol = _parties(command, record.get("events") or [])
    return (
        record["n"], hash_hex, record["ts"], COMMAND, record["shard"], record["seq"], None,
        origin.get("user"), origin.get("key_id"), origin.get("source"), origin.get("gateway"),
        origin.get("role"), command.get("type"), account, symbol,
        _encoder.encode({"command": command, "events": record.get("events")}).decode(),
    )  # fmt: skip


def _parties(command: dict[str, Any], events: list[dict[str, Any]]) -> tuple[Any, Any]:
    account, symbol = command.get("account") or None, command.get("symbol") or None
    for event in events:
        if account is None and event.get("account"):
            account = event["account"]
        if symbol is None and event.get("symbol"):
            symbol = event["symbol"]
    return account, symbol
