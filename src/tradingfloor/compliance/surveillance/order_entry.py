"""Order-entry abuse: one account floods the book with messages that do not trade (quote
stuffing, excessive order-to-trade ratios, bursts of cancels).

Messages are an account's new orders, cancels it asked for and replaces, accepted or
refused; fills are its trades on either side. Within any `entry_window_ns`, an account with
`entry_messages_min` messages or more and `entry_order_to_trade_ratio_min` messages per fill
or more (no fill counts as one) is flagged; its count starts again after the alert, so a
long flood gives one alert per window's worth of messages. Score: messages per fill.
"""

from collections import Counter, deque

import msgspec

from tradingfloor.compliance.surveillance.alerts import (
    Alert,
    Owners,
    Pattern,
    alert_id,
    make_evidence,
)
from tradingfloor.compliance.surveillance.orders import LiveOrders
from tradingfloor.compliance.surveillance.settings import SurveillanceSettings
from tradingfloor.domain.enums import CancelReason
from tradingfloor.domain.events import (
    CancelRejected,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    TradeExecuted,
)


class _Message(msgspec.Struct, frozen=True, array_like=True):
    ts: int
    seq: int
    order_id: int
    symbol: str
    cancel: bool


class _Account(msgspec.Struct):
    messages: deque[_Message]
    fills: deque[int]
    """The `ts` of each fill."""


class OrderEntryDetector:
    def __init__(self, settings: SurveillanceSettings, owners: Owners, orders: LiveOrders) -> None:
        self.settings = settings
        self.owners = owners
        self.orders = orders
        self.accounts: dict[str, _Account] = {}

    def feed(self, shard: str, seq: int, ts: int, events: list[Event]) -> list[Alert]:
        touched: set[str] = set()
        for event in events:
            if isinstance(event, TradeExecuted):
                self._fill(event.maker_account, ts)
                self._fill(event.taker_account, ts)
                continue
            message = self._message(seq, ts, event)
            if message is not None and message[0]:
                self._state(message[0]).messages.append(message[1])
                touched.add(message[0])
        found = []
        for account in sorted(touched):
            alert = self._judge(shard, seq, ts, account)
            if alert is not None:
                found.append(alert)
        if seq % 1_024 == 0:
            self._forget(ts)
        return found

    def _message(self, seq: int, ts: int, event: Event) -> tuple[str, _Message] | None:
        if isinstance(event, (OrderAccepted, OrderRejected)):
            return event.account, _Message(ts, seq, event.order_id, event.symbol, False)
        if isinstance(event, OrderCanceled) and event.reason == CancelReason.REQUESTED:
            account = event.account or self._account_of(event.order_id)
            return account, _Message(ts, seq, event.order_id, event.symbol, True)
        if isinstance(event, (OrderReplaced, CancelRejected, ReplaceRejected)):
            account = event.account or self._account_of(event.order_id)
            return account, _Message(ts, seq, event.order_id, event.symbol, False)
        return None

    def _account_of(self, order_id: int) -> str:
        order = self.orders.get(order_id)
        return "" if order is None else order.account

    def _fill(self, account: str, ts: int) -> None:
        fills = self._state(account).fills
        fills.append(ts)
        since_ts = ts - self.settings.entry_window_ns
        while fills[0] < since_ts:
            fills.popleft()

    def _state(self, account: str) -> _Account:
        state = self.accounts.get(account)
        if state is None:
            state = self.accounts[account] = _Account(deque(), deque())
        return state

    def _judge(self, shard: str, seq: int, ts: int, account: str) -> Alert | None:
        settings = self.settings
        state = self.accounts[account]
        since_ts = ts - settings.entry_window_ns
        while state.messages and state.messages[0].ts < since_ts:
            state.messages.popleft()
        while state.fills and state.fills[0] < since_ts:
            state.fills.popleft()
        count = len(state.messages)
        if count < settings.entry_messages_min:
            return None
        fills = len(state.fills)
        if count < settings.entry_order_to_trade_ratio_min * max(fills, 1):
            return None
        alert = self._alert(shard, seq, ts, account, list(state.messages), fills)
        state.messages.clear()
        return alert

    def _alert(
        self, shard: str, seq: int, ts: int, account: str, messages: list[_Message], fills: int
    ) -> Alert:
        count = len(messages)
        cancels = sum(1 for message in messages if message.cancel)
        symbol = Counter(message.symbol for message in messages).most_common(1)[0][0]
        ratio = count // max(fills, 1)
        seconds = (ts - messages[0].ts) / 1e9
        explanation = (
            f"{account} sent {count} order messages ({cancels} cancels) in {seconds:.1f} s "
            f"from seq {messages[0].seq} to {seq}, with {fills} fills: {ratio} messages per "
            f"fill (mostly {symbol}); the first {min(count, 64)} are the evidence"
        )
        return Alert(
            alert_id(Pattern.ORDER_ENTRY_ABUSE, shard, f"{account}/{messages[0].seq}"),
            Pattern.ORDER_ENTRY_ABUSE,
            shard,
            (account,),
            self.owners.of(account),
            symbol,
            ts,
            seq,
            ratio,
            f"{account}: {count} messages, {cancels} cancels, {fills} fills in {seconds:.1f} s",
            make_evidence(
                shard,
                [message.order_id for message in messages],
                [message.seq for message in messages],
                explanation,
            ),
        )

    def _forget(self, ts: int) -> None:
        """Drop the accounts with nothing left in their window (memory stays bounded by the
        accounts active within one window)."""
        since_ts = ts - self.settings.entry_window_ns
        for account in [
            account
            for account, state in self.accounts.items()
            if (not state.messages or state.messages[-1].ts < since_ts)
            and (not state.fills or state.fills[-1] < since_ts)
        ]:
            del self.accounts[account]
