"""Alpaca's market-data JSON: trades, quotes and bars with its short field names.

A trade is `{"t", "x", "p", "s", "c", "i", "z"}`, a quote `{"t", "bx", "bp", "bs", "ax", "ap",
"as", "c", "z"}` and a bar `{"t", "o", "h", "l", "c", "v", "n", "vw"}`: prices are numbers in
dollars (exact decimals of the price unit), sizes whole shares, `t` RFC 3339 in UTC. An empty
side of the book is a price and size of 0, as Alpaca sends it. `vw` is the bar's notional over
its volume (to 1/10,000 of a cent). The exchange code is the platform's own (`TF`), the tape
that of its one venue (`T`), the conditions the regular ones (`@` a regular sale, `R` a regular
quote).
"""

from decimal import Decimal
from typing import Any

from tradingfloor.gateway.alpaca_views import iso_utc
from tradingfloor.store.market_history_queries import BarRow, QuoteRow, TradeRow

EXCHANGE_CODE = "TF"
TAPE = "T"
TRADE_CONDITIONS = ["@"]
QUOTE_CONDITIONS = ["R"]
_PRICE_UNIT = Decimal("0.0001")
_VWAP_QUANTUM = Decimal("0.000001")


def dollars(price: int | None) -> Decimal:
    """A price in price units as dollars (0 for none)."""
    return Decimal(price or 0) * _PRICE_UNIT


def vwap(notional: int, volume: int) -> Decimal:
    if not volume:
        return Decimal(0)
    return (Decimal(notional) / volume * _PRICE_UNIT).quantize(_VWAP_QUANTUM)


def trade(row: TradeRow) -> dict[str, Any]:
    return trade_fields(row.ts, row.trade_id, row.price, row.qty)


def trade_fields(ts: int, trade_id: int, price: int, qty: int) -> dict[str, Any]:
    return {
        "t": iso_utc(ts),
        "x": EXCHANGE_CODE,
        "p": dollars(price),
        "s": qty,
        "c": TRADE_CONDITIONS,
        "i": trade_id,
        "z": TAPE,
    }


def quote(row: QuoteRow) -> dict[str, Any]:
    return quote_fields(row.ts, row.bid, row.bid_qty, row.ask, row.ask_qty)


def quote_fields(
    ts: int, bid: int | None, bid_qty: int, ask: int | None, ask_qty: int
) -> dict[str, Any]:
    return {
        "t": iso_utc(ts),
        "bx": EXCHANGE_CODE if bid is not None else "",
        "bp": dollars(bid),
        "bs": bid_qty,
        "ax": EXCHANGE_CODE if ask is not None else "",
        "ap": dollars(ask),
        "as": ask_qty,
        "c": QUOTE_CONDITIONS,
        "z": TAPE,
    }


def bar(row: BarRow, start_ts: int) -> dict[str, Any]:
    return bar_fields(
        start_ts, row.open, row.high, row.low, row.close, row.volume, row.trade_count,
        row.notional,
    )  # fmt: skip


def bar_fields(
    start_ts: int,
    open_: int,
    high: int,
    low: int,
    close: int,
    volume: int,
    trade_count: int,
    notional: int,
) -> dict[str, Any]:
    return {
        "t": iso_utc(start_ts),
        "o": dollars(open_),
        "h": dollars(high),
        "l": dollars(low),
        "c": dollars(close),
        "v": volume,
        "n": trade_count,
        "vw": vwap(notional, volume),
    }
