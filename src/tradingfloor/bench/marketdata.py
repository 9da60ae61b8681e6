"""`tradingfloor bench marketdata`: lag of WebSocket market data to many clients.

The server is `tradingfloor serve --demo` in a separate process (its demo market sends about 50
commands a second); this process adds an order flow over HTTP (buy and sell limit orders around
the demo's ACME price, most of them trading) and opens the WebSocket clients, each subscribed to
quotes and trades of every demo symbol. Pro clients use the demo admin's API key (the admin role
is the pro entitlement), retail clients a demo trader's.

For each quote and trades update a client receives, two lags are recorded, in ms:

* event lag: receipt time minus `ts`, the engine time of the newest event the message reflects.
  It includes the conflation wait (up to one flush interval: 100 ms pro, 1 s retail) by design.
* delivery lag: receipt time minus `published_ts`, the time of the flush that built the message:
  what the fan-out (encode once, queue, send, the network, the client's own event loop) adds.

Both clocks are `time.time_ns()` of one machine. The clients run on one event loop in this
process, so their own backlog is part of the figures.
"""

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradingfloor.bench.api import (
    Connection,
    demo_server,
    fund_demo_traders,
    http_request,
    raise_open_files,
)

DEMO_SYMBOLS = ("ACME", "GLOBX", "TINY")


@dataclass
class TierFigures:
    clients: int = 0
    messages: int = 0
    event_lag_ns: list[int] = field(default_factory=list)
    delivery_lag_ns: list[int] = field(default_factory=list)
    gaps: int = 0
    """Updates whose seq skipped numbers (conflated in the server's outbox)."""

    def percentile_ms(self, values: list[int], fraction: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        rank = max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.5) - 1))
        return ordered[rank] / 1e6


@dataclass
class MarketDataBenchResult:
    seconds: float
    tiers: dict[str, TierFigures]
    dropped: Counter[int] = field(default_factory=Counter)
    """Clients closed by the server, by close code."""
    orders_sent: int = 0
    connect_failures: int = 0


_decode = msgspec.json.Decoder().decode


async def _client(
    url: str,
    headers: dict[str, str],
    figures: TierFigures,
    result: MarketDataBenchResult,
    ready: asyncio.Event,
    measuring: list[bool],
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    clock = time.time_ns
    last_seq: dict[tuple[str, str], int] = {}
    try:
        async with connect(
            url, additional_headers=headers, compression=None, open_timeout=60, max_queue=None
        ) as connection:
            request = {"action": "subscribe", "symbols": list(DEMO_SYMBOLS)}
            await connection.send(json.dumps({**request, "channels": ["quotes", "trades"]}))
            ready.set()
            try:
                async for frame in connection:
                    now = clock()
                    if not measuring[0]:
                        continue
                    for message in _decode(frame):
                        kind = message["type"]
                        if kind not in ("quote", "trades"):
                            continue
                        key = (message["symbol"], kind)
                        seq = message["seq"]
                        previous = last_seq.get(key)
                        last_seq[key] = seq
                        if message["snapshot"]:
                            continue
                        if previous is not None and seq != previous + 1:
                            figures.gaps += 1
                        figures.messages += 1
                        figures.event_lag_ns.append(now - message["ts"])
                        figures.delivery_lag_ns.append(now - message["published_ts"])
            except ConnectionClosed as closed:
                if closed.rcvd is not None and measuring[0]:
                    result.dropped[closed.rcvd.code] += 1
    except (OSError, TimeoutError):
        result.connect_failures += 1
        ready.set()


async def _order_flow(
    port: int,
    logins: dict[str, tuple[str, str, str]],
    per_second: float,
    stop: asyncio.Event,
    result: MarketDataBenchResult,
    measuring: list[bool],
) -> None:
    await fund_demo_traders(port, logins, "ACME")
    connection = await Connection.open("127.0.0.1", port)
    interval = 1.0 / per_second
    next_at = time.perf_counter()
    tick = 0
    try:
        while not stop.is_set():
            name = "alice" if tick % 2 == 0 else "bob"
            _, key_id, secret = logins[name]
            order: dict[str, object] = {
                "symbol": "ACME",
                "side": "buy" if name == "alice" else "sell",
                "type": "limit",
                "qty": 1,
                "limit_price": f"{150 + ((tick * 7) % 9 - 4) / 100:.2f}",
                "time_in_force": "gtc" if tick % 8 == 0 else "ioc",
            }
            headers = {"X-API-Key-Id": key_id, "X-API-Secret": secret}
            await connection.request(http_request("POST", "/v1/orders", order, headers))
            result.orders_sent += measuring[0]
            tick += 1
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        connection.close()


async def _drive(
    port: int,
    logins: dict[str, tuple[str, str, str]],
    clients: int,
    pro_fraction: float,
    seconds: float,
    orders_per_second: float,
) -> MarketDataBenchResult:
    result = MarketDataBenchResult(seconds, {"pro": TierFigures(), "retail": TierFigures()})
    admin = logins["admin"]
    traders = [login for name, login in sorted(logins.items()) if name != "admin"]
    base = f"ws://127.0.0.1:{port}/v1/market-data"
    measuring = [False]
    stop = asyncio.Event()
    tasks = []
    pro_count = round(clients * pro_fraction)
    gate = asyncio.Semaphore(50)  # connections opening at once
    for index in range(clients):
        pro = index < pro_count
        login = admin if pro else traders[index % len(traders)]
        figures = result.tiers["pro" if pro else "retail"]
        figures.clients += 1
        headers = {"X-API-Key-Id": login[1], "X-API-Secret": login[2]}
        ready = asyncio.Event()
        async with gate:
            tasks.append(
                asyncio.create_task(_client(base, headers, figures, result, ready, measuring))
            )
            await ready.wait()
    flow = asyncio.create_task(
        _order_flow(port, logins, orders_per_second, stop, result, measuring)
    )
    await asyncio.sleep(2.0)  # snapshots arrive, the flow settles
    measuring[0] = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring[0] = False
    result.seconds = time.perf_counter() - started
    stop.set()
    await flow
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return result


def run(
    clients: int = 1_000,
    pro_fraction: float = 0.9,
    seconds: float = 20.0,
    orders_per_second: float = 100.0,
) -> MarketDataBenchResult:
    """Start a demo server, subscribe `clients`, drive orders for `seconds`, stop it."""
    raise_open_files(clients * 2 + 256)
    # Every client comes from 127.0.0.1: the server's cap per source must let them in.
    per_source = {"TRADINGFLOOR_CONNECTIONS_PER_SOURCE_MAX": str(clients + 64)}
    with demo_server("tf-bench-marketdata-", per_source) as (port, logins):
        return _run_loop(_drive(port, logins, clients, pro_fraction, seconds, orders_per_second))


def _run_loop(work: Coroutine[Any, Any, MarketDataBenchResult]) -> MarketDataBenchResult:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)
