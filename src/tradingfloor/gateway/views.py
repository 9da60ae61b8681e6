"""JSON views of read-model rows and engine reads: prices and money as decimal strings."""

from typing import Any

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import TradeExecuted
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import format_optional_price, format_price
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.pipeline import AccountSummary, PositionView
from tradingfloor.marketdata.halts import HaltState
from tradingfloor.marketdata.levels import DepthView, LevelView
from tradingfloor.marketdata.messages import halt_view
from tradingfloor.store.queries import ActivityRow, FillRow, OrderRow


def order(row: OrderRow, fills: list[FillRow]) -> dict[str, Any]:
    """An order of the read model, with its fills when given."""
    reject = None
    if row.reject_code is not None:
        try:
            reason = RejectReason(row.reject_code)
            reject = {"code": int(reason), "message": reason.message}
        except ValueError:
            reject = {"code": row.reject_code, "message": "refused"}
    return {
        "id": str(row.order_id),
        "client_order_id": row.client_order_id or None,
        "account": row.account,
        "symbol": row.symbol,
        "side": row.side,
        "type": row.order_type,
        "time_in_force": row.tif,
        "qty": row.qty,
        "filled_qty": row.filled_qty,
        "leaves_qty": row.leaves_qty,
        "limit_price": format_optional_price(row.price),
        "stop_price": format_optional_price(row.stop_price),
        "avg_fill_price": format_optional_price(row.average_fill_price),
        "status": row.status,
        "seq": row.updated_seq,
        "reject": reject,
        "cancel_reason": row.cancel_reason,
        "replaced_by": None if row.replaced_by is None else str(row.replaced_by),
        "replaces": None if row.replaces is None else str(row.replaces),
        "created_ts": row.created_ts,
        "updated_ts": row.updated_ts,
        "order_class": row.order_class,
        "parent_id": None if row.parent_order_id is None else str(row.parent_order_id),
        "fills": [
            {
                "trade_id": fill.trade_id,
                "price": format_price(fill.price),
                "qty": fill.qty,
                "fee": format_price(fill.fee),
                "liquidity": fill.liquidity,
                "ts": fill.ts,
            }
            for fill in fills
        ],
    }


def activity(row: ActivityRow) -> dict[str, Any]:
    return {
        "id": row.activity_id,
        "seq": row.seq,
        "ts": row.ts,
        "kind": row.kind,
        "symbol": row.symbol,
        "qty": row.qty,
        "price": format_optional_price(row.price),
        "amount": format_optional_price(row.amount),
        "order_id": None if row.order_id is None else str(row.order_id),
        "description": row.description,
    }


def position(view: PositionView) -> dict[str, Any]:
    """A position; `fraction` (nano-shares beyond `qty`) only when it holds one."""
    shown = {
        "symbol": view.symbol,
        "qty": view.qty,
        "qty_held_by_orders": view.held,
        "avg_cost": format_price(view.average_cost),
        "cost_basis": format_price(view.cost),
        "market_price": format_price(view.mark),
        "market_value": format_price(view.market_value),
        "unrealized_pl": format_price(view.unrealized),
        "realized_pl": format_price(view.realized),
        "settled_qty": view.settled_qty,
    }
    if view.fraction:
        shown["fraction"] = view.fraction
    return shown


def account(summary: AccountSummary) -> dict[str, Any]:
    return {
        "account": summary.account,
        "kind": summary.kind.name.lower(),
        "status": summary.status.name.lower(),
        "cash": format_price(summary.cash),
        "settled_cash": format_price(summary.settled_cash),
        "unsettled_cash": format_price(summary.unsettled_cash),
        "held_for_orders": format_price(summary.held),
        "buying_power": format_price(summary.buying_power),
        "withdrawable": format_price(summary.withdrawable),
        "positions_value": format_price(summary.positions_value),
        "equity": format_price(summary.equity),
        "fees": format_price(summary.fees),
        "day_trades": summary.day_trades,
        "pattern_day_trader": summary.pattern_day_trader,
        "open_orders": summary.open_orders,
        "good_faith_violations": summary.good_faith_violations,
        "settled_cash_only_until": summary.settled_cash_only_until,
    }


def _level(level: LevelView | None) -> dict[str, Any] | None:
    if level is None:
        return None
    return {"price": format_price(level.price), "qty": level.qty, "orders": level.order_count}


def quote(
    symbol: str,
    bid: LevelView | None,
    ask: LevelView | None,
    last: int | None,
    seq: int,
    halt: HaltState | None,
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "bid": _level(bid),
        "ask": _level(ask),
        "last": format_optional_price(last),
        "halt": halt_view(halt),
        "seq": seq,
    }


def listed_symbol(
    instrument: Instrument,
    last_price: int | None,
    reference_price: int | None,
    halt: HaltState | None,
) -> dict[str, Any]:
    """A listed symbol's terms, prices and halt; `tick_size` null: the Rule 612 ticks."""
    return {
        "symbol": instrument.symbol,
        "tick_size": format_price(instrument.tick_size) if instrument.tick_size else None,
        "lot_size": instrument.lot_size,
        "last_price": format_optional_price(last_price),
        "reference_price": format_optional_price(reference_price),
        "halt": halt_view(halt),
    }


def depth(symbol: str, book: DepthView, seq: int) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "bids": [_level(level) for level in book.bids],
        "asks": [_level(level) for level in book.asks],
        "seq": seq,
    }


def trade(event: TradeExecuted) -> dict[str, Any]:
    return {
        "trade_id": event.trade_id,
        "price": format_price(event.price),
        "qty": event.qty,
        "aggressor": "buy" if event.aggressor == Side.BUY else "sell",
        "ts": event.ts,
        "seq": event.seq,
    }
