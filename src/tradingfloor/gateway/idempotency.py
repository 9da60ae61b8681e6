"""Retries of order entry: the first answer per (account, client order id), on this gateway.

A retry of an order (the same client order id, the same terms) gets the answer the first
request got, also while the first is still under way (it waits for it). A client order id
that comes back with other terms is refused (`CLIENT_ORDER_ID_REUSED`): it would otherwise be
answered with an order the client did not ask for. Answers are kept for the newest
`entries_max` ids; an older one, or one from before a restart, is looked up in the read
models, where the terms that a replace never changes (symbol, side, type, time in force) are
compared, and the rest too unless the order was replaced since.
"""

import asyncio
from collections import OrderedDict
from typing import Any

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.prices import format_optional_price
from tradingfloor.gateway.orders import SIDE_TEXT, TIF_TEXT, TYPE_TEXT

Key = tuple[str, str]
Answer = tuple[int, bytes]
"""An HTTP status and body."""


class FirstAnswers:
    """First answers by (account, client order id); not thread-safe (the event loop's)."""

    def __init__(self, entries_max: int) -> None:
        self._entries_max = entries_max
        self._entries: OrderedDict[Key, tuple[PlaceOrder, asyncio.Future[Answer]]] = OrderedDict()

    def first(self, key: Key) -> tuple[PlaceOrder, asyncio.Future[Answer]] | None:
        """The first order entered with `key` and its answer (to come), if this gateway has
        seen it."""
        return self._entries.get(key)

    def claim(self, key: Key, command: PlaceOrder) -> asyncio.Future[Answer]:
        """Register `command` as the first with `key` (before any await, so that a concurrent
        retry finds it) and return the future of its answer."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._entries[key] = (command, future)
        while len(self._entries) > self._entries_max:
            self._entries.popitem(last=False)
        return future

    def answer(self, key: Key, answer: Answer, keep: bool = True) -> None:
        """Settle the claim of `key`; with `keep` False the next request with it starts over."""
        entry = self._entries.get(key) if keep else self._entries.pop(key, None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(answer)

    def fail(self, key: Key, error: BaseException) -> None:
        """The first request failed before an answer: waiters get `error`, retries start over."""
        entry = self._entries.pop(key, None)
        if entry is not None and not entry[1].done():
            entry[1].set_exception(error)
            entry[1].exception()  # retrieved: nobody has to wait for it


def same_terms(first: PlaceOrder, retry: PlaceOrder) -> bool:
    """Whether two orders entered with one client order id ask for the same thing."""
    return first == retry


def same_terms_as_stored(stored: dict[str, Any], retry: PlaceOrder) -> bool:
    """Whether `retry` asks for the order the read models hold under its client order id
    (`gateway.views.order`); a refused order keeps only its symbol there."""
    if stored["symbol"] != retry.symbol:
        return False
    if stored["side"] is None:  # refused: the rest of its terms were not kept
        return True
    kept = (stored["side"], stored["type"], stored["time_in_force"])
    if kept != (SIDE_TEXT[retry.side], TYPE_TEXT[retry.order_type], TIF_TEXT[retry.tif]):
        return False
    if stored["replaces"] is not None:  # replaced since: quantity and prices are new ones
        return True
    asked = (
        retry.qty,
        format_optional_price(retry.price),
        format_optional_price(retry.stop_price),
    )
    return (stored["qty"], stored["limit_price"], stored["stop_price"]) == asked
