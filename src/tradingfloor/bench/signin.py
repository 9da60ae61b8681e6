"""`tradingfloor bench signin`: other users' order acks while sign-ins are flooded.

The server is `tradingfloor serve --demo` in a separate process (fsync on). Order acks are
measured as `bench api` measures them (`bench.api.drive`: keep-alive connections from this
process, one order in flight each, API keys). The flood is another process: connections that
post wrong passwords to `POST /v1/auth/login` as fast as the server answers, for the demo's
users and for names that do not exist. Three runs on one server: no flood; a flood from one
source address; a flood that moves to a new source address whenever the one it uses is
blocked (loopback takes any 127.0.0.0/8 address, so each connection binds its own), which is
what a botnet does and what only the cap on concurrent password checks stops.
"""

import asyncio
import multiprocessing
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as EventType
from typing import Any

from tradingfloor.bench.api import ApiBenchResult, Connection, demo_server, drive, http_request

SOURCE_ADDRESSES_MAX = 250
"""Loopback sources a flood uses at most (127.0.0.2 to 127.0.0.251)."""
FLOOD_WARMUP_S = 5.0
"""How long the flood runs before the acks are measured: time for a source to fail the
guesses that block it (each needs a password check, and they come a few a second)."""
NAMES = ("alice", "bob", "admin", "carol", "dave", "erin", "frank", "grace")


@dataclass
class FloodRun:
    label: str
    acks: ApiBenchResult
    flood_answers: Counter[int] = field(default_factory=Counter)
    sources_used: int = 0


def run(
    connections: int = 8,
    seconds: float = 10.0,
    flood_connections: int = 32,
    symbol: str = "ACME",
) -> list[FloodRun]:
    """Start a server, measure acks without and with each flood, stop it."""
    with demo_server("tf-bench-signin-") as (port, logins):
        acks = asyncio.run(drive(port, logins, connections, seconds, symbol))
        runs = [FloodRun("no flood", acks)]
        for label, rotate in (("one source", False), ("rotating sources", True)):
            flood = (flood_connections, rotate)
            runs.append(_with_flood(label, port, logins, connections, seconds, symbol, flood))
        return runs


def _with_flood(
    label: str,
    port: int,
    logins: dict[str, tuple[str, str, str]],
    connections: int,
    seconds: float,
    symbol: str,
    flood: tuple[int, bool],
) -> FloodRun:
    """Acks measured while a flood of (connections, rotating sources) runs."""
    flood_connections, rotate = flood
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    answers: Any = context.Queue()
    flooding = context.Process(
        target=_flood_process, args=(port, flood_connections, rotate, stop, answers)
    )
    flooding.start()
    try:
        time.sleep(FLOOD_WARMUP_S)
        acks = asyncio.run(drive(port, logins, connections, seconds, symbol))
    finally:
        stop.set()
        counts, sources = answers.get(timeout=60)
        flooding.join(60)
    return FloodRun(label, acks, Counter(counts), sources)


def _flood_process(
    port: int, connections: int, rotate: bool, stop: EventType, answers: Any
) -> None:
    counts: Counter[int] = Counter()
    sources = [0]
    asyncio.run(_flood(port, connections, rotate, stop, counts, sources))
    answers.put((dict(counts), sources[0]))


async def _flood(
    port: int,
    connections: int,
    rotate: bool,
    stop: EventType,
    counts: Counter[int],
    sources: list[int],
) -> None:
    next_source = [0]
    used: set[str] = set()

    def source() -> str:
        address = "127.0.0.1"
        if rotate:
            next_source[0] = next_source[0] % SOURCE_ADDRESSES_MAX + 1
            address = f"127.0.0.{next_source[0] + 1}"
        used.add(address)
        sources[0] = len(used)
        return address

    async def client(index: int) -> None:
        randomness = random.Random(index)
        connection = await _open(port, source())
        try:
            while not stop.is_set():
                name = randomness.choice(NAMES)
                body = {"username": name, "password": f"guess-{randomness.random():.12f}"}
                try:
                    status, _ = await connection.request(
                        http_request("POST", "/v1/auth/login", body, {})
                    )
                except (OSError, asyncio.IncompleteReadError):
                    status = 0  # the server closed it: open another
                counts[status] += 1
                if status == 0 or (rotate and status == 429):
                    connection.close()
                    connection = await _open(port, source())
        finally:
            connection.close()

    await asyncio.gather(*(client(index) for index in range(connections)))


async def _open(port: int, source: str) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    return Connection(reader, writer)
