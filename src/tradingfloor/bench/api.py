"""`tradingfloor bench api`: orders/s and ack latency of a served platform, over HTTP.

The server is a separate process (`tradingfloor serve --demo`, fsync on, its own data
directory); this process drives it over keep-alive connections with a minimal HTTP/1.1 client
on asyncio (a request is prebuilt bytes, a response is read by its Content-Length), so the
client costs a few microseconds per order and the figure is the server's. Each connection has
one order in flight: the ack latency is from sending the request to reading its answer.
"""

import asyncio
import collections
import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tradingfloor.bench.cpu import IDLE_S, CpuMeter, CpuReport, Roles, server_roles

LOGIN = re.compile(r"^\s+(\w+)\s+password \S+\s+account (\S+)\s+API key (\S+) secret (\S+)")
CLIENT = "client (this process)"


@dataclass
class ApiBenchResult:
    orders: int
    seconds: float
    latencies_ns: list[int]
    statuses: Counter[int] = field(default_factory=Counter)
    order_states: Counter[str] = field(default_factory=Counter)
    refusals: Counter[int] = field(default_factory=Counter)
    """Refused orders by their code."""
    cpu: CpuReport | None = None
    """The CPU of the server's processes and of this client while the orders were sent."""
    idle_cpu: CpuReport | None = None
    """The server's CPU with no orders, just before."""

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        values = self.latencies_ns
        if not values:
            return 0.0
        rank = max(0, min(len(values) - 1, int(fraction * len(values) + 0.5) - 1))
        return values[rank] / 1e6


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def http_request(method: str, path: str, body: object, headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


serve_options: list[str] = []
"""More `serve` options for every benchmark's server (`tradingfloor bench --single-process` or
`--workers N`): the topology under measure."""


MARKETDATA_PORT_VARIABLE = "TRADINGFLOOR_SERVE_MARKETDATA_PORT"


def start_server(
    data: Path, settings: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int, dict[str, tuple[str, str, str]], int | None]:
    """`tradingfloor serve --demo` on a free port; returns it, its port, the demo logins and
    the market-data role's own port (when `settings` ask for one: `MARKETDATA_PORT_VARIABLE`).

    `settings` are more TRADINGFLOOR_* variables for the server, e.g. a higher cap of
    connections per source for a benchmark whose clients all come from 127.0.0.1.
    """
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TRADINGFLOOR_ORDERS_PER_SECOND_MAX": "10000000",
        "TRADINGFLOOR_ORDERS_BURST_MAX": "10000000",
        **(settings or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradingfloor",
            "serve",
            "--demo",
            "--port",
            "0",
            "--data",
            str(data),
            *serve_options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    logins: dict[str, tuple[str, str, str]] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = LOGIN.match(line)
        if found:
            logins[found.group(1)] = (found.group(2), found.group(3), found.group(4))
        listening = re.search(r"listening on http://[\d.]+:(\d+)", line)
        if listening and MARKETDATA_PORT_VARIABLE not in (settings or {}):
            return process, int(listening.group(1)), logins, None
        if listening:
            port = int(listening.group(1))
        direct = re.search(r"market data also on ws://[\d.]+:(\d+)", line)
        if direct:
            return process, port, logins, int(direct.group(1))
    process.kill()
    raise RuntimeError("the server did not start")


async def fund_demo_traders(
    port: int, logins: dict[str, tuple[str, str, str]], symbol: str
) -> None:
    """Give the demo's alice and bob cash and shares enough for any benchmark run, through the
    admin API."""
    admin = logins["admin"]
    admin_headers = {"X-API-Key-Id": admin[1], "X-API-Secret": admin[2]}
    connection = await Connection.open("127.0.0.1", port)
    try:
        for name in ("alice", "bob"):
            account = logins[name][0]
            for path, body in (
                (f"/v1/admin/accounts/{account}/deposits", {"amount": "1000000000"}),
                (
                    f"/v1/admin/accounts/{account}/shares",
                    {"symbol": symbol, "qty": 100_000_000, "cost_price": "150"},
                ),
            ):
                request = http_request("POST", path, body, admin_headers)
                status, answer = await connection.request(request)
                if status != 200:
                    raise RuntimeError(f"setup {path}: {status} {answer!r}")
    finally:
        connection.close()


async def drive(
    port: int,
    logins: dict[str, tuple[str, str, str]],
    connections: int,
    seconds: float,
    symbol: str,
) -> ApiBenchResult:
    """Fund the demo's traders, then send orders from `connections` connections for
    `seconds`: the acks' latencies, statuses and outcomes."""
    await fund_demo_traders(port, logins, symbol)
    return await measure_orders(port, logins, connections, seconds, symbol)


async def measure_orders(
    port: int,
    logins: dict[str, tuple[str, str, str]],
    connections: int,
    seconds: float,
    symbol: str,
) -> ApiBenchResult:
    """Send orders of the funded demo traders over `connections` keep-alive connections, one
    in flight on each, for `seconds`; their answers and ack latencies."""
    # Buyers and sellers at overlapping prices around the demo's $150, mostly IOC (one in eight
    # GTC, so the book grows only slowly): many orders trade.
    payloads = []
    for index in range(connections):
        name = "alice" if index % 2 == 0 else "bob"
        _, key_id, secret = logins[name]
        headers = {"X-API-Key-Id": key_id, "X-API-Secret": secret}
        side = "buy" if name == "alice" else "sell"
        payloads.append(
            [
                http_request(
                    "POST",
                    "/v1/orders",
                    {
                        "symbol": symbol,
                        "side": side,
                        "type": "limit",
                        "qty": 1,
                        "limit_price": f"{150 + ((tick * 7 + index) % 9 - 4) / 100:.2f}",
                        "time_in_force": "gtc" if tick % 8 == 0 else "ioc",
                    },
                    headers,
                )
                for tick in range(64)
            ]
        )
    result = ApiBenchResult(0, 0.0, [])
    clock = time.perf_counter_ns
    stop_at = time.perf_counter() + seconds

    async def client(index: int) -> None:
        connection = await Connection.open("127.0.0.1", port)
        mine = payloads[index]
        sent = 0
        try:
            while time.perf_counter() < stop_at:
                started = clock()
                status, body = await connection.request(mine[sent % len(mine)])
                result.latencies_ns.append(clock() - started)
                result.statuses[status] += 1
                if status == 200:
                    result.order_states[json.loads(body)["status"]] += 1
                else:
                    result.refusals[json.loads(body)["code"]] += 1
                sent += 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(connections)))
    result.seconds = time.perf_counter() - started
    result.orders = len(result.latencies_ns)
    result.latencies_ns.sort()
    return result


def run(connections: int = 64, seconds: float = 10.0, symbol: str = "ACME") -> ApiBenchResult:
    """Start a server with fsync on, drive it, stop it; the server's data is thrown away. The
    CPU of the server's processes and of this process (the client) is measured while the
    orders are sent."""
    with served_demo("tf-bench-api-") as server:
        asyncio.run(fund_demo_traders(server.port, server.logins, symbol))
        with CpuMeter(lambda: server_roles(server.pid)) as idle:
            time.sleep(IDLE_S)

        def roles() -> Roles:
            return {**server_roles(server.pid), CLIENT: [os.getpid()]}

        with CpuMeter(roles) as meter:
            result = asyncio.run(
                measure_orders(server.port, server.logins, connections, seconds, symbol)
            )
        result.cpu, result.idle_cpu = meter.report, idle.report
        return result


@dataclass(frozen=True)
class DemoServer:
    """A served demo platform: its port, its demo logins (name → account, API key id and
    secret) and its process id (the root of its processes, for `bench.cpu`)."""

    port: int
    logins: dict[str, tuple[str, str, str]]
    pid: int
    marketdata_port: int | None = None
    """The market-data role's own port, when asked for."""
    output: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=SERVER_LINES_KEPT)
    )
    """The server's latest lines of output (logs), drained as it runs so that it never
    blocks writing them."""


SERVER_LINES_KEPT = 200


def _drain(process: "subprocess.Popen[str]", lines: "collections.deque[str]") -> None:
    """Read the server's output until it ends, keeping the latest lines."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)


@contextlib.contextmanager
def served_demo(prefix: str, settings: dict[str, str] | None = None) -> Iterator[DemoServer]:
    """A `serve --demo` process on a data directory of its own (thrown away after), until the
    block ends and it is stopped (SIGINT, then killed if need be)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        process, port, logins, marketdata_port = start_server(Path(directory) / "data", settings)
        server = DemoServer(port, logins, process.pid, marketdata_port)
        drain = threading.Thread(target=_drain, args=(process, server.output), daemon=True)
        drain.start()
        try:
            yield server
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            drain.join(10)


@contextlib.contextmanager
def demo_server(
    prefix: str, settings: dict[str, str] | None = None
) -> Iterator[tuple[int, dict[str, tuple[str, str, str]]]]:
    """`served_demo`'s port and demo logins."""
    with served_demo(prefix, settings) as server:
        yield server.port, server.logins


def raise_open_files(wanted: int) -> None:
    """Raise this process's open-file limit to `wanted` (at most the hard limit): a benchmark
    that holds thousands of connections needs a descriptor for each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
