"""`tradingfloor bench slowclients`: order acks of other users while slow clients attack.

The server is `tradingfloor serve --demo` in a separate process (fsync on), its cap of
connections per source raised since every client here comes from 127.0.0.1. First this
process measures orders/s and ack latency of `connections` users (bench api's client: keep-alive
connections, one order in flight on each) with nothing else going on. Then a second process
opens `slow` connections that each send a request line and a header, and then a byte of a
header value now and then, never finishing the headers (slowloris); when the server cuts one
(408 once `request_header_timeout_s` has passed since the connection was made), it opens
another, as an attacker would. Once all are open, the same users are measured again.
"""

import asyncio
import contextlib
import multiprocessing
import random
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from typing import Any

from tradingfloor.bench.api import (
    ApiBenchResult,
    demo_server,
    fund_demo_traders,
    measure_orders,
    raise_open_files,
)

SLOW_REQUEST_START = b"POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
CONNECTING_AT_ONCE_MAX = 100
READY_WAIT_S = 120.0
"""How long all slow connections may take to open before the run is given up."""
HOLDER_STOP_WAIT_S = 30.0


@dataclass
class SlowFigures:
    """What the slow clients saw."""

    slow: int
    connections_opened: int = 0
    answers: dict[int, int] = field(default_factory=dict)
    """Answers the server sent before cutting a slow connection, by status."""
    closed_without_answer: int = 0
    connect_failures: int = 0
    held_min: int = 0
    held_mean: float = 0.0
    """Slow connections open at once while the users were measured."""
    cpu_seconds: float = 0.0
    """The attacker's own CPU time: on a small machine it competes with the server's."""


@dataclass
class SlowClientsResult:
    alone: ApiBenchResult
    attacked: ApiBenchResult
    slow: SlowFigures


def run(
    slow: int = 2_000,
    connections: int = 16,
    seconds: float = 10.0,
    trickle_s: float = 1.0,
    symbol: str = "ACME",
) -> SlowClientsResult:
    """Measure the users alone, then under `slow` slow connections: each on a fresh server,
    so that both start from the same book and balances."""
    raise_open_files(slow + 256)
    settings = {"TRADINGFLOOR_CONNECTIONS_PER_SOURCE_MAX": str(2 * slow + connections + 64)}
    alone, _ = _on_fresh_server(settings, 0, connections, seconds, trickle_s, symbol)
    attacked, figures = _on_fresh_server(settings, slow, connections, seconds, trickle_s, symbol)
    assert figures is not None
    return SlowClientsResult(alone, attacked, figures)


def _on_fresh_server(
    settings: dict[str, str],
    slow: int,
    connections: int,
    seconds: float,
    trickle_s: float,
    symbol: str,
) -> tuple[ApiBenchResult, SlowFigures | None]:
    with demo_server("tf-bench-slowclients-", settings) as (port, logins):
        asyncio.run(fund_demo_traders(port, logins, symbol))
        if not slow:
            return asyncio.run(measure_orders(port, logins, connections, seconds, symbol)), None
        return _under_attack(port, logins, slow, connections, seconds, trickle_s, symbol)


def _under_attack(
    port: int,
    logins: dict[str, tuple[str, str, str]],
    slow: int,
    connections: int,
    seconds: float,
    trickle_s: float,
    symbol: str,
) -> tuple[ApiBenchResult, SlowFigures]:
    context = multiprocessing.get_context("spawn")
    ready, measuring, stop = context.Event(), context.Event(), context.Event()
    results: Any = context.Queue()
    holder = context.Process(
        target=hold_slow_connections,
        args=(port, slow, trickle_s, ready, measuring, stop, results),
        daemon=True,
    )
    holder.start()
    try:
        if not ready.wait(READY_WAIT_S):
            raise RuntimeError(f"{slow} slow connections did not open in {READY_WAIT_S:.0f} s")
        measuring.set()
        attacked = asyncio.run(measure_orders(port, logins, connections, seconds, symbol))
        measuring.clear()
        stop.set()
        figures: SlowFigures = results.get(timeout=HOLDER_STOP_WAIT_S)
    finally:
        stop.set()
        holder.join(HOLDER_STOP_WAIT_S)
        if holder.is_alive():
            holder.kill()
    return attacked, figures


def hold_slow_connections(
    port: int,
    slow: int,
    trickle_s: float,
    ready: Event,
    measuring: Event,
    stop: Event,
    results: Any,
) -> None:
    """The attacker's process: keep `slow` slow connections open until `stop`."""
    raise_open_files(slow + 256)
    figures = SlowFigures(slow)
    asyncio.run(_hold(port, figures, trickle_s, ready, measuring, stop))
    figures.cpu_seconds = time.process_time()
    results.put(figures)


async def _hold(
    port: int,
    figures: SlowFigures,
    trickle_s: float,
    ready: Event,
    measuring: Event,
    stop: Event,
) -> None:
    held = [0]
    opened_once = [0]
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE_MAX)

    async def one() -> None:
        first = True
        while not stop.is_set():
            async with gate:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    figures.connect_failures += 1
                    await asyncio.sleep(0.1)
                    continue
            figures.connections_opened += 1
            held[0] += 1
            if first:
                first = False
                opened_once[0] += 1
                if opened_once[0] == figures.slow:
                    ready.set()
            try:
                await _trickle(reader, writer, figures, trickle_s, stop)
            finally:
                held[0] -= 1
                writer.close()

    tasks = [asyncio.create_task(one()) for _ in range(figures.slow)]
    samples: list[int] = []
    while not stop.is_set():
        await asyncio.sleep(0.25)
        if measuring.is_set():
            samples.append(held[0])
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await task
    if samples:
        figures.held_min = min(samples)
        figures.held_mean = sum(samples) / len(samples)


async def _trickle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    figures: SlowFigures,
    trickle_s: float,
    stop: Event,
) -> None:
    """Send the start of a request, then a byte every `trickle_s` or so, until the server
    answers or closes."""
    writer.write(SLOW_REQUEST_START)
    answer = asyncio.ensure_future(reader.read(512))
    try:
        while not stop.is_set():
            done, _ = await asyncio.wait({answer}, timeout=trickle_s * random.uniform(0.5, 1.5))
            if done:
                break
            writer.write(b"a")
    finally:
        if not answer.done():
            answer.cancel()
    if not answer.done() or answer.cancelled():
        return
    data = b"" if answer.exception() is not None else answer.result()
    if data.startswith(b"HTTP/1.1 "):
        status = int(data[9:12])
        figures.answers[status] = figures.answers.get(status, 0) + 1
    else:
        figures.closed_without_answer += 1
