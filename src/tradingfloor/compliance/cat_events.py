"""The platform's order events in the style of CAT (the Consolidated Audit Trail's Industry
Member reporting), one JSON object per event with CAT's field names and event types.

The platform is an Industry Member that receives its customers' orders and executes them on
its own book, reporting each execution to the trade reporting facility (`trade_reports`).
So each order's life is, in CAT's terms:
- `MENO` (new order) when the engine accepts it (`OrderAccepted`); a refused order was never
  accepted and has no CAT life;
- `MEOM` (order modified) for a cancel/replace (`OrderReplaced`): the new order id, its
  predecessor as `priorOrderID`;
- `MEOJ` (order adjusted) when a corporate action changed its terms (`OrderAdjusted`);
- `MEOC` (order canceled) for a cancel of what was left (`OrderCanceled`) and for an
  expiry (`OrderExpired`), with `cancelReason` saying which (`expired` for the latter);
- `MEOT` (trade) for every execution: CAT's Trade event, made by the executing member who
  reports the trade for public dissemination (an Order Fulfillment, `MEOF`, is for an
  execution that member does not report itself, so none is made); `tapeTradeID` is the
  trade report's id, `buyDetails`/`sellDetails` the two orders with what is left of each.
`MEOR` (order route) is in the schema; the platform routes to no other venue, so none is
made.

Fields that come from who sent a command (`CommandEntered`'s origin) are used when the feed
carries it: the time the gateway received the order (`eventTimestamp`, else the engine's),
and the FIX session it came over (`session`), and the time an owner's cancel came in. Every
value here is derived from the events; nothing is looked up.
"""

from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import Any

import msgspec

from tradingfloor.compliance.report_time import cat_date, cat_timestamp
from tradingfloor.compliance.trade_reports import trade_id_of
from tradingfloor.domain.enums import CancelReason, OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    CommandEntered,
    Event,
    OrderAccepted,
    OrderAdjusted,
    OrderCanceled,
    OrderExpired,
    OrderReplaced,
    TradeExecuted,
)
from tradingfloor.domain.origin import NO_ORIGIN, Origin
from tradingfloor.domain.prices import format_price_decimal

Record = dict[str, Any]
CANCEL_REASON_EXPIRED = "expired"
DEPT_AGENCY = "A"
DEPT_TRADING = "T"
HOLDER_INDIVIDUAL = "I"
HOLDER_PROPRIETARY = "P"
INITIATOR_CUSTOMER = "C"
INITIATOR_FIRM = "F"
_FIRM_CANCELS = frozenset(
    {CancelReason.ADMIN, CancelReason.KILL_SWITCH, CancelReason.CORPORATE_ACTION}
)
_STOPS = {OrderType.STOP: "MKT", OrderType.STOP_LIMIT: "LMT", OrderType.TRAILING_STOP: "MKT"}


class CatOrder(msgspec.Struct):
    """What the file has said of an order still open: its key and terms."""

    order_id: int
    order_key_date: str
    symbol: str
    side: Side
    account: str
    leaves: int


class CatEvents:
    """Turns each seq's events into CAT records, keeping the orders still open."""

    def __init__(self, reporter_imid: str, principal_accounts: Collection[str] = ()) -> None:
        self.reporter_imid = reporter_imid
        self.principal_accounts = frozenset(principal_accounts)
        self.orders: dict[int, CatOrder] = {}

    def records(self, shard: str, seq: int, ts: int, events: Iterable[Event]) -> list[Record]:
        """The records of one seq's events, in their order (`ts`: the seq's time)."""
        origin, out, match_index = NO_ORIGIN, [], 0
        for event in events:
            if isinstance(event, CommandEntered):
                origin = event.origin
            elif isinstance(event, TradeExecuted):
                match_index += 1
                out.append(self._trade(shard, match_index, event))
            else:
                record = self._order_event(event, origin)
                if record is not None:
                    out.append(record)
        return out

    def _order_event(self, event: Event, origin: Origin) -> Record | None:
        if isinstance(event, OrderAccepted):
            return self._new_order(event, origin)
        if isinstance(event, OrderReplaced):
            return self._modified(event, origin)
        if isinstance(event, OrderCanceled):
            return self._canceled(event, origin)
        if isinstance(event, OrderExpired):
            return self._expired(event)
        if isinstance(event, OrderAdjusted):
            return self._adjusted(event)
        return None

    def _head(self, kind: str, ts: int) -> Record:
        return {
            "type": kind,
            "CATReporterIMID": self.reporter_imid,
            "eventTimestamp": cat_timestamp(ts),
        }

    def _principal(self, account: str) -> bool:
        return account in self.principal_accounts

    def _new_order(self, event: OrderAccepted, origin: Origin) -> Record:
        ts = origin.ts_received or event.ts
        key_date = cat_timestamp(ts)
        self.orders[event.order_id] = CatOrder(
            event.order_id, key_date, event.symbol, event.side, event.account, event.qty
        )
        principal = self._principal(event.account)
        record = self._head("MENO", ts) | {
            "orderKeyDate": key_date,
            "orderID": str(event.order_id),
            "symbol": event.symbol,
            "manualFlag": False,
            "electronicDupFlag": False,
            "deptType": DEPT_TRADING if principal else DEPT_AGENCY,
            "side": side_code(event.side),
            "quantity": event.qty,
            "orderType": order_type_code(event.order_type),
            "timeInForce": time_in_force(event.tif, ts),
            "tradingSession": "REG",
            "handlingInstructions": handling_instructions(
                event.order_type, event.tif, event.stop_price
            ),
            "custDspIntrFlag": False,
            "representativeInd": "N",
            "firmDesignatedID": event.account,
            "accountHolderType": HOLDER_PROPRIETARY if principal else HOLDER_INDIVIDUAL,
            "affiliateFlag": False,
        }
        if event.price is not None:
            record["price"] = price_number(event.price)
        if origin.fix_session:
            record["session"] = origin.fix_session
        return record

    def _modified(self, event: OrderReplaced, origin: Origin) -> Record | None:
        prior = self.orders.pop(event.order_id, None)
        if prior is None:  # an order from before the file's first command: not ours to tell
            return None
        ts = origin.ts_received or event.ts
        key_date = cat_timestamp(ts)
        self.orders[event.new_order_id] = CatOrder(
            event.new_order_id, key_date, prior.symbol, prior.side, prior.account, event.leaves
        )
        record = self._head("MEOM", ts) | {
            "orderKeyDate": key_date,
            "orderID": str(event.new_order_id),
            "priorOrderKeyDate": prior.order_key_date,
            "priorOrderID": str(prior.order_id),
            "symbol": prior.symbol,
            "manualFlag": False,
            "electronicDupFlag": False,
            "side": side_code(prior.side),
            "quantity": event.qty,
            "leavesQty": event.leaves,
            "initiator": INITIATOR_CUSTOMER,
            "firmDesignatedID": prior.account,
        }
        if event.price is not None:
            record["price"] = price_number(event.price)
        return record

    def _canceled(self, event: OrderCanceled, origin: Origin) -> Record | None:
        order = self.orders.get(event.order_id)
        if order is None:
            return None
        order.leaves = event.leaves
        if not event.leaves:
            del self.orders[event.order_id]
        firm = event.reason in _FIRM_CANCELS
        asked = event.reason == CancelReason.REQUESTED  # when the owner's cancel came in
        ts = (origin.ts_received or event.ts) if asked else event.ts
        return self._head("MEOC", ts) | {
            "orderKeyDate": order.order_key_date,
            "orderID": str(order.order_id),
            "symbol": order.symbol,
            "manualFlag": False,
            "electronicDupFlag": False,
            "cancelQty": event.canceled_qty,
            "leavesQty": event.leaves,
            "initiator": INITIATOR_FIRM if firm else INITIATOR_CUSTOMER,
            "cancelReason": event.reason.name.lower(),
            "firmDesignatedID": order.account,
        }

    def _expired(self, event: OrderExpired) -> Record | None:
        order = self.orders.pop(event.order_id, None)
        if order is None:
            return None
        return self._head("MEOC", event.ts) | {
            "orderKeyDate": order.order_key_date,
            "orderID": str(order.order_id),
            "symbol": order.symbol,
            "manualFlag": False,
            "electronicDupFlag": False,
            "cancelQty": event.expired_qty,
            "leavesQty": 0,
            "initiator": INITIATOR_FIRM,
            "cancelReason": CANCEL_REASON_EXPIRED,
            "firmDesignatedID": order.account,
        }

    def _adjusted(self, event: OrderAdjusted) -> Record | None:
        order = self.orders.get(event.order_id)
        if order is None:
            return None
        order.leaves = event.leaves
        record = self._head("MEOJ", event.ts) | {
            "orderKeyDate": order.order_key_date,
            "orderID": str(order.order_id),
            "symbol": event.symbol,
            "manualFlag": False,
            "quantity": event.qty,
            "leavesQty": event.leaves,
            "initiator": INITIATOR_FIRM,
            "firmDesignatedID": order.account,
        }
        if event.price is not None:
            record["price"] = price_number(event.price)
        return record

    def _trade(self, shard: str, match_index: int, event: TradeExecuted) -> Record:
        trade_id = trade_id_of(shard, event.seq, match_index)
        taker = (event.taker_order_id, event.taker_account, event.taker_leaves)
        maker = (event.maker_order_id, event.maker_account, event.maker_leaves)
        buy, sell = (taker, maker) if event.aggressor == Side.BUY else (maker, taker)
        principal = self._principal(event.taker_account)
        return self._head("MEOT", event.ts) | {
            "tradeID": trade_id,
            "symbol": event.symbol,
            "manualFlag": False,
            "tapeTradeID": trade_id,
            "marketCenterID": "L",
            "sideDetailsInd": "BOTH",
            "quantity": event.qty,
            "price": price_number(event.price),
            "capacity": "P" if principal else "A",
            "buyDetails": self._side(*buy, Side.BUY),
            "sellDetails": self._side(*sell, Side.SELL),
        }

    def _side(self, order_id: int, account: str, leaves: int, side: Side) -> Record:
        order = self.orders.get(order_id)
        details: Record = {
            "orderID": str(order_id),
            "side": side_code(side),
            "leavesQty": leaves,
            "firmDesignatedID": account,
            "accountHolderType": (
                HOLDER_PROPRIETARY if self._principal(account) else HOLDER_INDIVIDUAL
            ),
        }
        if order is not None:
            details["orderKeyDate"] = order.order_key_date
            order.leaves = leaves
            if not leaves:
                del self.orders[order_id]
        return details


def side_code(side: Side) -> str:
    """CAT's side: "B" buy, "SL" sell long (the platform has no short sales)."""
    return "B" if side == Side.BUY else "SL"


def order_type_code(order_type: OrderType) -> str:
    """CAT's order type: "LMT" or "MKT"; a stop is the order it becomes once elected (its
    stop price is a handling instruction)."""
    if order_type in _STOPS:
        return _STOPS[order_type]
    return "LMT" if order_type == OrderType.LIMIT else "MKT"


def time_in_force(tif: TimeInForce, ts: int) -> dict[str, int | bool]:
    """CAT's name/value time in force: `DAY` and `GTC` with the date (`YYYYMMDD`) the order
    was entered, `IOC` (true); a fill-or-kill is an `IOC` with the all-or-none
    handling instruction."""
    if tif == TimeInForce.DAY:
        return {"DAY": cat_date(ts)}
    if tif == TimeInForce.GTC:
        return {"GTC": cat_date(ts)}
    return {"IOC": True}


def handling_instructions(order_type: OrderType, tif: TimeInForce, stop_price: int | None) -> str:
    """CAT's pipe-separated handling instructions: `STP=<price>` for a stop, `TS` for a
    trailing stop, `AON` for a fill-or-kill; "" when none applies."""
    codes = []
    if order_type == OrderType.TRAILING_STOP:
        codes.append("TS")
    elif order_type in _STOPS and stop_price is not None:
        codes.append(f"STP={format_price_decimal(stop_price)}")
    if tif == TimeInForce.FOK:
        codes.append("AON")
    return "|".join(codes)


def price_number(units: int) -> Decimal:
    """A price for CAT: dollars, a JSON number (`Decimal`, written exactly)."""
    return format_price_decimal(units)
