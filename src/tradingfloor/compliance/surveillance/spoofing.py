"""Spoofing and layering: large orders on one side that were never meant to trade.

The pattern: an account rests large orders (one, or several price levels: layering) on one
side, which leans the book; it gets a small fill on the opposite side at the price the lean
bought it; then it cancels the large orders. Here: at a fill of an account, its resting
limit orders on the other side of the symbol, placed within `spoof_window_ns` before the
fill, total `spoof_order_qty_min` shares or more and `spoof_size_ratio_min` times the fill or
more; the case is kept open, and it is an alert once the account itself cancels
`spoof_canceled_pct_min` percent of those shares within `spoof_window_ns` after the fill.
Score: the shares of the large orders.
"""

import msgspec

from tradingfloor.compliance.surveillance.alerts import (
    Alert,
    Owners,
    Pattern,
    alert_id,
    make_evidence,
)
from tradingfloor.compliance.surveillance.orders import LiveOrders, opposite
from tradingfloor.compliance.surveillance.settings import SurveillanceSettings
from tradingfloor.domain.enums import CancelReason, Side
from tradingfloor.domain.events import Event, OrderCanceled, TradeExecuted

cases_max = 10_000
"""Open cases kept at most (each lives `spoof_window_ns`): past it the oldest is dropped."""


class _Case(msgspec.Struct):
    account: str
    symbol: str
    side: Side
    """The side of the large orders."""
    fill_qty: int
    fill_order_id: int
    fill_seq: int
    deadline_ts: int
    large: dict[int, int]
    """Large order id -> its open shares at the fill."""
    levels: int
    """Price levels of the large orders (more than one: layering)."""
    seqs: list[int]
    canceled: int = 0


class SpoofingDetector:
    def __init__(self, settings: SurveillanceSettings, owners: Owners, orders: LiveOrders) -> None:
        self.settings = settings
        self.owners = owners
        self.orders = orders
        self.cases: dict[tuple[int, ...], _Case] = {}
        self.case_of_order: dict[int, tuple[int, ...]] = {}

    def feed(self, shard: str, seq: int, ts: int, events: list[Event]) -> list[Alert]:
        self._expire(ts)
        found = []
        for event in events:
            if isinstance(event, TradeExecuted):
                self._fill(seq, ts, event.maker_account, event.maker_order_id, event)
                self._fill(seq, ts, event.taker_account, event.taker_order_id, event)
            elif isinstance(event, OrderCanceled) and event.reason == CancelReason.REQUESTED:
                alert = self._canceled(shard, seq, ts, event)
                if alert is not None:
                    found.append(alert)
        return found

    def _fill(self, seq: int, ts: int, account: str, order_id: int, trade: TradeExecuted) -> None:
        side = trade.aggressor if order_id == trade.taker_order_id else opposite(trade.aggressor)
        settings = self.settings
        since_ts = ts - settings.spoof_window_ns
        large = {
            other_id: order.leaves
            for other_id, order in self.orders.of_account(account, trade.symbol)
            if order.side != side and order.price is not None and order.ts >= since_ts
        }
        total = sum(large.values())
        if total < max(settings.spoof_order_qty_min, settings.spoof_size_ratio_min * trade.qty):
            return
        key = tuple(sorted(large))
        if any(other in self.case_of_order for other in key):
            return
        known = [self.orders.orders[other] for other in key]
        seqs = [seq] + [order.seq for order in known]
        filled = self.orders.get(order_id)
        if filled is not None:
            seqs.append(filled.seq)
        self.cases[key] = _Case(
            account,
            trade.symbol,
            opposite(side),
            trade.qty,
            order_id,
            seq,
            ts + settings.spoof_window_ns,
            large,
            len({order.price for order in known}),
            seqs,
        )
        for other in key:
            self.case_of_order[other] = key
        if len(self.cases) > cases_max:
            self._drop(next(iter(self.cases)))

    def _canceled(self, shard: str, seq: int, ts: int, event: OrderCanceled) -> Alert | None:
        key = self.case_of_order.get(event.order_id)
        if key is None:
            return None
        case = self.cases[key]
        case.canceled += event.canceled_qty
        case.seqs.append(seq)
        total = sum(case.large.values())
        if case.canceled * 100 < self.settings.spoof_canceled_pct_min * total:
            return None
        self._drop(key)
        return self._alert(shard, seq, ts, key, case, total)

    def _alert(
        self, shard: str, seq: int, ts: int, key: tuple[int, ...], case: _Case, total: int
    ) -> Alert:
        kind = f"layering on {case.levels} levels" if case.levels > 1 else "spoofing"
        side = case.side.name.lower()
        explanation = (
            f"{case.account} rested {total} shares to {side} in {len(key)} order(s) "
            f"{list(key)}, was filled {case.fill_qty} on the other side (order "
            f"{case.fill_order_id}, seq {case.fill_seq}), then canceled {case.canceled} of "
            f"the {total} within {self.settings.spoof_window_ns // 1_000_000_000} s"
        )
        return Alert(
            alert_id(Pattern.SPOOFING, shard, f"{case.account}/{case.symbol}/{key}"),
            Pattern.SPOOFING,
            shard,
            (case.account,),
            self.owners.of(case.account),
            case.symbol,
            ts,
            seq,
            total,
            f"{kind}: {total} {case.symbol} to {side} canceled after a {case.fill_qty} fill",
            make_evidence(shard, [*key, case.fill_order_id], case.seqs, explanation),
        )

    def _expire(self, ts: int) -> None:
        """Cases are kept in the order they were opened, which is their deadlines' order (the
        feed's times only grow): the expired ones are at the front."""
        while self.cases:
            key = next(iter(self.cases))
            if self.cases[key].deadline_ts >= ts:
                return
            self._drop(key)

    def _drop(self, key: tuple[int, ...]) -> None:
        self.cases.pop(key, None)
        for order_id in key:
            self.case_of_order.pop(order_id, None)
