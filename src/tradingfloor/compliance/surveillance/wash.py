"""Wash trades: both sides of a trade belong to one beneficial owner.

Such a trade moves no risk: it only prints volume and a price. The engine's self-trade
prevention stops one account trading with itself; two accounts of one owner (a family, a
firm's desks, an account map the compliance officer keeps) are what this detector finds.
Score: the shares traded.
"""

from tradingfloor.compliance.surveillance.alerts import (
    Alert,
    Owners,
    Pattern,
    alert_id,
    make_evidence,
)
from tradingfloor.compliance.surveillance.orders import LiveOrders
from tradingfloor.compliance.surveillance.settings import SurveillanceSettings
from tradingfloor.domain.events import Event, TradeExecuted
from tradingfloor.domain.prices import format_price


class WashTradeDetector:
    def __init__(self, settings: SurveillanceSettings, owners: Owners, orders: LiveOrders) -> None:
        self.settings = settings
        self.owners = owners
        self.orders = orders

    def feed(self, shard: str, seq: int, ts: int, events: list[Event]) -> list[Alert]:
        found = []
        for event in events:
            if isinstance(event, TradeExecuted) and self._is_wash(event):
                found.append(self._alert(shard, seq, ts, event))
        return found

    def _is_wash(self, trade: TradeExecuted) -> bool:
        if trade.qty < self.settings.wash_trade_qty_min:
            return False
        return self.owners.of(trade.maker_account) == self.owners.of(trade.taker_account)

    def _alert(self, shard: str, seq: int, ts: int, trade: TradeExecuted) -> Alert:
        owner = self.owners.of(trade.maker_account)
        order_ids = [trade.maker_order_id, trade.taker_order_id]
        seqs = [seq]
        for order_id in order_ids:
            order = self.orders.get(order_id)
            if order is not None:
                seqs.append(order.seq)
        accounts = tuple(sorted({trade.maker_account, trade.taker_account}))
        explanation = (
            f"trade {trade.trade_id}: {trade.qty} {trade.symbol} at "
            f"{format_price(trade.price)} between {trade.maker_account} (maker, order "
            f"{trade.maker_order_id}) and {trade.taker_account} (taker, order "
            f"{trade.taker_order_id}), both owned by {owner}"
        )
        return Alert(
            alert_id(Pattern.WASH_TRADE, shard, f"{trade.symbol}/{trade.trade_id}"),
            Pattern.WASH_TRADE,
            shard,
            accounts,
            owner,
            trade.symbol,
            ts,
            seq,
            trade.qty,
            f"{owner} traded {trade.qty} {trade.symbol} with itself",
            make_evidence(shard, order_ids, seqs, explanation),
        )
