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

Both clocks are `time.time_ns()` of one machine. The clients run in processes of their own
(`client_processes`, each with its event loop), so that their backlog, which is part of the
figures, is not one loop's; this process sends the order flow and opens and closes the window
every client process measures.
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
    MARKETDATA_PORT_VARIABLE,
    Connection,
    fund_demo_traders,
    http_request,
    raise_open_files,
    served_demo,
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
    client_processes: int,
    stream_port: int,
) -> MarketDataBenchResult:
    """The clients in `client_processes` processes of their own, on `stream_port`, the order
    flow here (on `port`); every process measures the same window, which this one opens and
    closes."""
    import multiprocessing

    admin = logins["admin"]
    traders = [login for name, login in sorted(logins.items()) if name != "admin"]
    base = f"ws://127.0.0.1:{stream_port}/v1/market-data"
    pro_count = round(clients * pro_fraction)
    plan: list[list[tuple[str, dict[str, str]]]] = [[] for _ in range(client_processes)]
    for index in range(clients):
        pro = index < pro_count
        login = admin if pro else traders[index % len(traders)]
        headers = {"X-API-Key-Id": login[1], "X-API-Secret": login[2]}
        plan[index % client_processes].append(("pro" if pro else "retail", headers))
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    measure, done = context.Event(), context.Event()
    processes = [
        context.Process(
            target=_client_process, args=(base, share, ready, measure, done, results), daemon=True
        )
        for share in plan
    ]
    for process in processes:
        process.start()
    for _ in processes:
        await asyncio.to_thread(ready.get, True, 300)
    result = MarketDataBenchResult(seconds, {"pro": TierFigures(), "retail": TierFigures()})
    measuring = [False]
    stop = asyncio.Event()
    flow = asyncio.create_task(
        _order_flow(port, logins, orders_per_second, stop, result, measuring)
    )
    await asyncio.sleep(2.0)  # snapshots arrive, the flow settles
    measuring[0] = True
    measure.set()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring[0] = False
    done.set()
    result.seconds = time.perf_counter() - started
    stop.set()
    await flow
    for _ in processes:
        tiers, dropped, failures = await asyncio.to_thread(results.get, True, 300)
        for tier, figures in tiers.items():
            merged = result.tiers[tier]
            merged.clients += figures.clients
            merged.messages += figures.messages
            merged.gaps += figures.gaps
            merged.event_lag_ns.extend(figures.event_lag_ns)
            merged.delivery_lag_ns.extend(figures.delivery_lag_ns)
        result.dropped.update(dropped)
        result.connect_failures += failures
    for process in processes:
        process.join(30)
    return result


def _client_process(
    base: str,
    share: list[tuple[str, dict[str, str]]],
    ready: Any,
    measure: Any,
    done: Any,
    results: Any,
) -> None:
    """One process's clients: connect them, say so, measure between `measure` and `done`,
    put the figures in `results`."""
    raise_open_files(len(share) + 256)
    _run_loop(_clients(base, share, ready, measure, done, results))


async def _clients(
    base: str,
    share: list[tuple[str, dict[str, str]]],
    ready: Any,
    measure: Any,
    done: Any,
    results: Any,
) -> None:
    tiers = {"pro": TierFigures(), "retail": TierFigures()}
    result = MarketDataBenchResult(0.0, tiers)
    measuring = [False]
    gate = asyncio.Semaphore(50)  # connections opening at once
    tasks = []
    for tier, headers in share:
        figures = tiers[tier]
        figures.clients += 1
        connected = asyncio.Event()
        async with gate:
            tasks.append(
                asyncio.create_task(_client(base, headers, figures, result, connected, measuring))
            )
            await connected.wait()
    ready.put(True)
    await asyncio.to_thread(measure.wait)
    measuring[0] = True
    await asyncio.to_thread(done.wait)
    measuring[0] = False
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    results.put((tiers, result.dropped, result.connect_failures))


def run(
    clients: int = 1_000,
    pro_fraction: float = 0.9,
    seconds: float = 20.0,
    orders_per_second: float = 100.0,
    client_processes: int = 2,
    direct: bool = False,
) -> MarketDataBenchResult:
    """Start a demo server, subscribe `clients` from `client_processes` processes (through the
    gateways, or `direct` to the market-data role's own port), drive orders for `seconds`,
    stop it."""
    # Every client comes from 127.0.0.1: the server's cap per source must let them in.
    settings = {"TRADINGFLOOR_CONNECTIONS_PER_SOURCE_MAX": str(clients + 64)}
    if direct:
        settings[MARKETDATA_PORT_VARIABLE] = "0"
    with served_demo("tf-bench-marketdata-", settings) as server:
        stream_port = server.marketdata_port if server.marketdata_port else server.port
        work = _drive(
            server.port,
            server.logins,
            clients,
            pro_fraction,
            seconds,
            orders_per_second,
            client_processes,
            stream_port,
        )
        result: MarketDataBenchResult = _run_loop(work)
        return result


def _run_loop(work: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)
