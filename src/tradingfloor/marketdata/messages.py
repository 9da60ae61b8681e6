"""The hub's messages: their channels and JSON bodies.

Frames are JSON text: an array of messages, each an object with `type` (`quote`, `trades`,
`depth`, `subscribed`, `unsubscribed`, `error`). Prices are decimal strings in dollars; `ts` is
the engine time (ns) of the newest event the message reflects and `published_ts` the wall-clock
time (ns) of the flush that built it. A quote's `halt` is the halt in force on its symbol (the
market's first), or null. `seq` numbers the messages of one (symbol, channel) in one
tier (see `hub`); a body is built with 0 and numbered when it is published, and `feed_seq` is
the event-feed seq it reflects (added with the number).
"""

from collections.abc import Sequence
from typing import Any

import msgspec

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import TradeExecuted
from tradingfloor.domain.prices import format_price
from tradingfloor.marketdata.halts import HaltState
from tradingfloor.marketdata.levels import DepthView, LevelView

QUOTES, TRADES, DEPTH = "quotes", "trades", "depth"
CHANNELS = (QUOTES, TRADES, DEPTH)

encode = msgspec.json.Encoder().encode


def frame(message: dict[str, Any]) -> str:
    """A frame of one message (a JSON array), encoded once for every client that gets it."""
    return "[" + encode(message).decode() + "]"


def level_view(level: LevelView) -> dict[str, Any]:
    return {"price": format_price(level.price), "qty": level.qty, "orders": level.order_count}


def halt_view(halt: HaltState | None) -> dict[str, Any] | None:
    """A halt in force as JSON: `{"reason": "manual", "until_ts": null}` (`until_ts`: engine
    time, ns, when it ends by itself; null: until resumed), or None."""
    if halt is None:
        return None
    return {"reason": halt.reason_name, "until_ts": halt.until_ts}


def quote_message(
    symbol: str,
    seq: int,
    snapshot: bool,
    ts: int,
    now: int,
    depth: DepthView | None,
    halt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`halt`: the halt in force (`halt_view`), or None."""
    bids = depth.bids if depth is not None else ()
    asks = depth.asks if depth is not None else ()
    return {
        "type": "quote",
        "symbol": symbol,
        "seq": seq,
        "snapshot": snapshot,
        "bid": level_view(bids[0]) if bids else None,
        "ask": level_view(asks[0]) if asks else None,
        "halt": halt,
        "ts": ts,
        "published_ts": now,
    }


def depth_message(
    symbol: str, seq: int, snapshot: bool, ts: int, now: int, depth: DepthView | None
) -> dict[str, Any]:
    return {
        "type": "depth",
        "symbol": symbol,
        "seq": seq,
        "snapshot": snapshot,
        "bids": [level_view(level) for level in depth.bids] if depth is not None else [],
        "asks": [level_view(level) for level in depth.asks] if depth is not None else [],
        "ts": ts,
        "published_ts": now,
    }


def trade_view(event: TradeExecuted) -> dict[str, Any]:
    return {
        "trade_id": event.trade_id,
        "price": format_price(event.price),
        "qty": event.qty,
        "aggressor": "buy" if event.aggressor == Side.BUY else "sell",
        "ts": event.ts,
    }


def trades_message(
    symbol: str,
    seq: int,
    snapshot: bool,
    ts: int,
    now: int,
    trades: Sequence[TradeExecuted],
    gap: int,
) -> dict[str, Any]:
    """`gap` counts the trades since the previous message that this one leaves out."""
    return {
        "type": "trades",
        "symbol": symbol,
        "seq": seq,
        "snapshot": snapshot,
        "trades": [trade_view(event) for event in trades],
        "gap": gap,
        "ts": ts,
        "published_ts": now,
    }


def error_message(message: str, symbol: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "message": message}
    if symbol is not None:
        body["symbol"] = symbol
    return body
