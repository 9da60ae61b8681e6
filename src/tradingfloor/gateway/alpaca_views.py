"""Alpaca Trading API shapes of our read models and engine reads, for `/v2` (and, later,
the `trade_updates` stream): the JSON the official `alpaca-py` SDK parses into its models.

Alpaca names every object by a UUID; ours are integers and symbols. Order ids map both ways
(`UUID(int=order_id)`); accounts and assets get a name-based UUID (uuid5), stable across
restarts. Quantities and prices are decimal strings, enums lowercase, times ISO 8601 in UTC.
"""

import datetime
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tradingfloor.domain.fractions import format_shares
from tradingfloor.domain.prices import format_optional_price, format_price
from tradingfloor.engine.pipeline import AccountSummary, PositionView
from tradingfloor.matching.order import Order
from tradingfloor.store.queries import ActivityRow, FillRow, OrderRow

NAMESPACE = uuid.UUID("6f1d3c52-8a4e-5b7f-9c1d-2e3f4a5b6c7d")
"""uuid5 namespace of account and asset ids."""
ORDER_ID_MAX = 2**63 - 1
"""Order ids are signed 64-bit in SQL: a UUID above this names no order of ours."""
EXCHANGE = "NYSE"
"""Alpaca's `exchange` enum has no value for our own book; sessions follow the XNYS calendar."""
ASSET_CLASS = "us_equity"

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_SECOND_NS = 1_000_000_000

ORDER_STATUS = {
    "new": "new",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "expired": "expired",
    "rejected": "rejected",
    "replaced": "replaced",
    "pending_trigger": "new",  # Alpaca shows a waiting stop as new
    "held": "held",  # a bracket's or OTO's leg until its entry fills
}
ACTIVITY_TYPES: dict[str, tuple[str, ...]] = {
    "FILL": ("trade", "fraction"),
    "FEE": ("fee",),
    "CSD": ("deposit",),
    "CSW": ("withdrawal",),
    "ACATS": ("shares_in", "shares_out"),
    "SPLIT": ("split",),
    "DIV": ("dividend",),
}
"""Alpaca activity type -> our activity kinds; other kinds (settlements, day-trade counts,
status changes, dividend entitlements, symbol changes, adjustments) have no Alpaca
counterpart and are not listed."""
ACTIVITY_TYPE_OF = {kind: name for name, kinds in ACTIVITY_TYPES.items() for kind in kinds}


# ---------------------------------------------------------------------- ids and times


def order_uuid(order_id: int) -> uuid.UUID:
    return uuid.UUID(int=order_id)


def order_id_of(text: str) -> int | None:
    """Our order id from an Alpaca order id, or None when it names no order of ours."""
    try:
        number = uuid.UUID(text).int
    except ValueError:
        return None
    return number if 0 < number <= ORDER_ID_MAX else None


def asset_uuid(symbol: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"asset:{symbol}")


def account_uuid(account: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"account:{account}")


def moment(ts: int) -> datetime.datetime:
    """A UTC datetime of integer nanoseconds (to the microsecond)."""
    return _EPOCH + datetime.timedelta(microseconds=ts // 1_000)


def iso_utc(ts: int) -> str:
    """`2024-03-01T14:30:00.123456Z`: RFC 3339 in UTC, microseconds, as Alpaca writes it."""
    return f"{moment(ts):%Y-%m-%dT%H:%M:%S}.{ts % _SECOND_NS // 1_000:06d}Z"


def ts_of(value: datetime.datetime) -> int:
    """Integer nanoseconds of an aware datetime (exact: no float on the way)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _SECOND_NS + delta.microseconds * 1_000


# ---------------------------------------------------------------------- orders


def alpaca_order(row: OrderRow, live: Order | None = None) -> dict[str, Any]:
    """An order as Alpaca's `Order` model, from a read-model row (or one made of a command's
    events: `store.order_rows.order_row`). `live` is the book's order while it lives: a
    trailing stop's trail, high-water mark and current stop come from it."""
    status = ORDER_STATUS.get(row.status, row.status)
    updated = iso_utc(row.updated_ts)
    created = iso_utc(row.created_ts)
    stop_price = row.stop_price
    trail_price = trail_percent = hwm = None
    if live is not None and live.order_type.name == "TRAILING_STOP":
        stop_price = live.stop_price
        trail_price = format_optional_price(live.trail_price)
        trail_percent = None if live.trail_bps is None else str(Decimal(live.trail_bps) / 100)
        hwm = format_optional_price(live.watermark)
    return {
        "id": str(order_uuid(row.order_id)),
        "client_order_id": row.client_order_id or str(order_uuid(row.order_id)),
        "created_at": created,
        "updated_at": updated,
        "submitted_at": created,
        "filled_at": updated if status == "filled" else None,
        "expired_at": updated if status == "expired" else None,
        "expires_at": None,
        "canceled_at": updated if status == "canceled" else None,
        "failed_at": updated if status == "rejected" else None,
        "replaced_at": updated if status == "replaced" else None,
        "replaced_by": None if row.replaced_by is None else str(order_uuid(row.replaced_by)),
        "replaces": None if row.replaces is None else str(order_uuid(row.replaces)),
        "asset_id": str(asset_uuid(row.symbol)),
        "symbol": row.symbol,
        "asset_class": ASSET_CLASS,
        "notional": format_optional_price(row.notional),
        "qty": None if row.qty is None or row.notional is not None else _shares(row),
        "filled_qty": format_shares(row.filled_qty, row.filled_fraction),
        "filled_avg_price": format_optional_price(row.average_fill_price),
        "order_class": row.order_class,
        "order_type": row.order_type,
        "type": row.order_type,
        "side": row.side,
        # rows of orders refused before refusals kept their terms have none
        "time_in_force": row.tif or "day",
        "limit_price": format_optional_price(row.price),
        "stop_price": format_optional_price(stop_price),
        "status": status,
        "extended_hours": False,
        "legs": None,
        "trail_percent": trail_percent,
        "trail_price": trail_price,
        "hwm": hwm,
        "position_intent": None,
        "reject_code": row.reject_code,
    }


def _shares(row: OrderRow) -> str:
    return format_shares(row.qty or 0, row.fraction)


def trails_by(order: Order) -> str | None:
    """What a live trailing stop trails by (`trail_price` or `trail_percent`), else None."""
    if order.order_type.name != "TRAILING_STOP":
        return None
    return "trail_price" if order.trail_price is not None else "trail_percent"


# ---------------------------------------------------------------------- portfolio


def _ratio(numerator: int, denominator: int) -> str:
    if denominator == 0:
        return "0"
    value = Decimal(numerator) / Decimal(abs(denominator))
    return str(value.quantize(Decimal("0.0000000001")).normalize())


def position(view: PositionView) -> dict[str, Any]:
    """A position as Alpaca's `Position`; day-over-day fields (last close) are unknown."""
    return {
        "asset_id": str(asset_uuid(view.symbol)),
        "symbol": view.symbol,
        "exchange": EXCHANGE,
        "asset_class": ASSET_CLASS,
        "asset_marginable": False,
        "avg_entry_price": format_price(view.average_cost),
        "qty": format_shares(view.qty, view.fraction),
        "qty_available": format_shares(0, view.available_nano),
        "side": "long" if view.qty >= 0 else "short",
        "market_value": format_price(view.market_value),
        "cost_basis": format_price(view.cost),
        "unrealized_pl": format_price(view.unrealized),
        "unrealized_plpc": _ratio(view.unrealized, view.cost),
        "unrealized_intraday_pl": None,
        "unrealized_intraday_plpc": None,
        "current_price": format_price(view.mark),
        "lastday_price": None,
        "change_today": None,
    }


_ACCOUNT_STATUS = {
    "ACTIVE": "ACTIVE",
    "RESTRICTED": "ACTIVE",  # closing orders only: still trading
    "BLOCKED": "ACTIVE",  # the kill switch: trading_blocked says it
    "CLOSED": "ACCOUNT_CLOSED",
    "SUSPENDED": "ACTIVE",  # by its owner: trade_suspended_by_user says it
}


def account(summary: AccountSummary) -> dict[str, Any]:
    """An account as Alpaca's `TradeAccount`. No borrowing (multiplier 1), no shorting, no
    end-of-day snapshot yet: `last_equity` is the current equity."""
    status = summary.status.name
    equity = format_price(summary.equity)
    zero = "0"
    return {
        "id": str(account_uuid(summary.account)),
        "account_number": summary.account,
        "status": _ACCOUNT_STATUS[status],
        "crypto_status": None,
        "currency": "USD",
        "cash": format_price(summary.cash),
        "buying_power": format_price(summary.buying_power),
        "regt_buying_power": format_price(summary.buying_power),
        "non_marginable_buying_power": format_price(summary.buying_power),
        "daytrading_buying_power": None,
        "options_buying_power": zero,
        "accrued_fees": zero,
        "pending_transfer_in": zero,
        "pending_transfer_out": zero,
        # Alpaca's (broker API) name for the settled cash that may leave the account.
        "cash_withdrawable": format_price(summary.withdrawable),
        "portfolio_value": equity,
        "equity": equity,
        "last_equity": equity,
        "long_market_value": format_price(max(summary.positions_value, 0)),
        "short_market_value": format_price(min(summary.positions_value, 0)),
        "initial_margin": zero,
        "maintenance_margin": zero,
        "last_maintenance_margin": zero,
        "sma": zero,
        "multiplier": "1",
        "shorting_enabled": False,
        "pattern_day_trader": summary.pattern_day_trader,
        "daytrade_count": summary.day_trades,
        "trading_blocked": status in ("BLOCKED", "CLOSED"),
        "transfers_blocked": False,
        "account_blocked": status == "CLOSED",
        "trade_suspended_by_user": status == "SUSPENDED",
        "options_approved_level": 0,
        "options_trading_level": 0,
    }


def asset(
    symbol: str, tick_size: int, lot_size: int, tradable: bool, fractionable: bool = False
) -> dict[str, Any]:
    """A listed symbol as Alpaca's `Asset`. Tick size 0 is the Reg NMS schedule (a cent
    at or above $1). `fractionable`: the platform has a fractional desk."""
    return {
        "id": str(asset_uuid(symbol)),
        "class": ASSET_CLASS,
        "exchange": EXCHANGE,
        "symbol": symbol,
        "name": symbol,
        "status": "active",
        "tradable": tradable,
        "marginable": False,
        "shortable": False,
        "easy_to_borrow": False,
        "fractionable": fractionable,
        "min_order_size": str(lot_size),
        "min_trade_increment": str(lot_size),
        "price_increment": format_price(tick_size) if tick_size else "0.01",
        "attributes": [],
    }


# ---------------------------------------------------------------------- activities


def activity_id(row: ActivityRow) -> str:
    """Alpaca's `<time>::<uuid>` form; the UUID carries our activity id (for page tokens)."""
    stamp = moment(row.ts)
    return (
        f"{stamp:%Y%m%d%H%M%S}{stamp.microsecond // 1_000:03d}::{uuid.UUID(int=row.activity_id)}"
    )


def activity_number(token: str) -> int | None:
    """Our activity id from an Alpaca activity id (a page token), or None."""
    try:
        number = uuid.UUID(token.rsplit("::", 1)[-1]).int
    except ValueError:
        return None
    return number if number <= ORDER_ID_MAX else None


def activity(
    row: ActivityRow,
    fill: FillRow | None,
    order: OrderRow | None,
    session_date: datetime.date,
) -> dict[str, Any]:
    """A trade as Alpaca's `TradeActivity` (FILL), anything else as a `NonTradeActivity`."""
    base = {
        "id": activity_id(row),
        "account_id": str(account_uuid(row.account)),
        "activity_type": ACTIVITY_TYPE_OF[row.kind],
    }
    if row.kind == "fraction":
        return {**base, **_fraction_fill(row, order)}
    if fill is not None and order is not None:
        total = order.qty if order.qty is not None else order.filled_qty
        return {
            **base,
            "transaction_time": iso_utc(fill.ts),
            "type": "fill" if fill.leaves_after == 0 else "partial_fill",
            "price": format_price(fill.price),
            "qty": str(fill.qty),
            "side": fill.side,
            "symbol": fill.symbol,
            "leaves_qty": str(fill.leaves_after),
            "order_id": str(order_uuid(fill.order_id)),
            "cum_qty": str(total - fill.leaves_after),
            "order_status": "filled" if fill.leaves_after == 0 else "partially_filled",
        }
    return {
        **base,
        "date": session_date.isoformat(),
        "net_amount": format_optional_price(row.amount or 0),
        "description": row.description,
        "status": "executed",
        "symbol": row.symbol,
        "qty": None if row.qty is None else str(row.qty),
        "price": format_optional_price(row.price),
        # A dividend's amount per share (a split's terms are in its description).
        "per_share_amount": format_optional_price(row.price) if row.kind == "dividend" else None,
    }


def _fraction_fill(row: ActivityRow, order: OrderRow | None) -> dict[str, Any]:
    """A fractional desk fill as a `TradeActivity`: the order's last fill (`qty` its
    nano-shares), `cum_qty` all the order filled."""
    nano = row.qty or 0
    shown = format_shares(0, abs(nano))
    total = shown if order is None else format_shares(order.filled_qty, order.filled_fraction)
    return {
        "transaction_time": iso_utc(row.ts),
        "type": "fill",
        "price": format_optional_price(row.price),
        "qty": shown,
        "side": "buy" if nano > 0 else "sell",
        "symbol": row.symbol,
        "leaves_qty": "0",
        "order_id": None if row.order_id is None else str(order_uuid(row.order_id)),
        "cum_qty": total,
        "order_status": "filled",
    }


def clock(
    now_ts: int, open_ts: int, close_ts: int, next_open_ts: int, tz: Any
) -> Mapping[str, Any]:
    """The market clock: times in the exchange's zone, as Alpaca gives them."""

    def local(ts: int) -> str:
        return moment(ts).astimezone(tz).isoformat()

    is_open = open_ts <= now_ts < close_ts
    return {
        "timestamp": local(now_ts),
        "is_open": is_open,
        "next_open": local(open_ts if now_ts < open_ts else next_open_ts),
        "next_close": local(close_ts),
    }
