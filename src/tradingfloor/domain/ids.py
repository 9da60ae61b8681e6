"""Distinct identifier types, and what each may hold.

An `OrderId` is never a `ClientOrderId`. Identifiers that come from clients (symbols, account
ids, client order ids) are checked against the patterns below before a command carrying them
is sequenced (`text_problem`): they end up in the journal, in SQL text columns, in logs, CSV
exports and FIX messages, where a NUL, a line break or a right-to-left override would truncate,
split or disguise them. Every pattern is ASCII and matched whole (`fullmatch`: `$` in a pattern
would let a trailing newline through).
"""

import re
from collections.abc import Callable
from typing import NewType

import msgspec

OrderId = NewType("OrderId", int)
"""Engine-wide order identifier, assigned before the command reaches the engine."""

ClientOrderId = NewType("ClientOrderId", str)
"""The client's own identifier for an order, unique per account."""

AccountId = NewType("AccountId", str)
Symbol = NewType("Symbol", str)
TradeId = NewType("TradeId", int)

SYMBOL_LENGTH_MAX = 16
ACCOUNT_ID_LENGTH_MAX = 64
CLIENT_ORDER_ID_LENGTH_MAX = 128
"""Alpaca's limit; FIX's ClOrdID has none of its own."""

SYMBOL_PATTERN = rf"[A-Z0-9][A-Z0-9.\-]{{0,{SYMBOL_LENGTH_MAX - 1}}}"
"""Upper-case letters and digits, then also `.` and `-` (share classes: BRK.B, BF-B)."""
ACCOUNT_ID_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9_.@\-]{{0,{ACCOUNT_ID_LENGTH_MAX - 1}}}"
"""Letters, digits and `_ . @ -`; never `/`, which separates the parts of ledger account names."""
CLIENT_ORDER_ID_PATTERN = rf"[!-~]{{1,{CLIENT_ORDER_ID_LENGTH_MAX}}}"
"""Visible ASCII (0x21-0x7E): no space, no control or format character, nothing bidirectional."""

_SYMBOL = re.compile(SYMBOL_PATTERN)
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)
_CLIENT_ORDER_ID = re.compile(CLIENT_ORDER_ID_PATTERN)


def is_symbol(text: str) -> bool:
    return _SYMBOL.fullmatch(text) is not None


def is_account_id(text: str) -> bool:
    return _ACCOUNT_ID.fullmatch(text) is not None


def is_client_order_id(text: str) -> bool:
    return _CLIENT_ORDER_ID.fullmatch(text) is not None


_FIELD_RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "symbol": (is_symbol, f"1 to {SYMBOL_LENGTH_MAX} of A-Z 0-9 . - (a letter or digit first)"),
    "account": (
        is_account_id,
        f"1 to {ACCOUNT_ID_LENGTH_MAX} of A-Z a-z 0-9 _ . @ - (a letter or digit first)",
    ),
    "client_order_id": (
        is_client_order_id,
        f"1 to {CLIENT_ORDER_ID_LENGTH_MAX} visible ASCII characters, no space",
    ),
}
_EMPTY_ALLOWED = frozenset({"account", "client_order_id"})
"""An empty account (an admin's cancel) and an empty client order id (none given) are absent."""


def text_problem(value: msgspec.Struct) -> str | None:
    """What is wrong with the client-given identifiers of a command (or of a struct inside
    it, such as an `Instrument`), or None. Fields named `symbol`, `account` and
    `client_order_id` are checked; None and the empty values in `_EMPTY_ALLOWED` pass. On the
    sequencer's path for every command: which fields to look at is worked out once per type."""
    texts, nested = _plan(type(value))
    for name, check, expected in texts:
        field = getattr(value, name)
        if type(field) is str and not check(field) and (field or name not in _EMPTY_ALLOWED):
            return f"{name}: {expected}"
    for name in nested:
        inner = getattr(value, name)
        if inner is not None:
            problem = text_problem(inner)
            if problem is not None:
                return problem
    return None


_Plan = tuple[tuple[tuple[str, Callable[[str], bool], str], ...], tuple[str, ...]]
_plans: dict[type, _Plan] = {}


def _plan(kind: type[msgspec.Struct]) -> _Plan:
    """The identifier fields of a struct type, and its fields that hold a struct."""
    plan = _plans.get(kind)
    if plan is None:
        fields = msgspec.structs.fields(kind)
        texts = tuple(
            (field.name, *_FIELD_RULES[field.name])
            for field in fields
            if field.name in _FIELD_RULES
        )
        nested = tuple(
            field.name
            for field in fields
            if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct)
        )
        plan = _plans[kind] = (texts, nested)
    return plan
