"""`tradingfloor bench wrk`: order entry under wrk, a load generator written in C.

`bench api` drives the server from a Python client, whose CPU comes out of the same cores as
the server's; wrk, in C, spends less per request (the CPU table says how much). The server is
`serve --demo` as for `bench api` (a separate process, fsync on, its own data directory). This
module lists a symbol of its own (so that the demo's simulated market never trades it), makes
two traders as any are made (an admin creates them, each enrols a second factor and makes an
API key with the trade scope only), funds them, and rests a large bid of the buyer's and a
large ask of the seller's. `orders.lua` then posts 1-share IOC buys at the ask and sells at
the bid: every order fills one share, the answer to each is 200, and the book does not grow.

A `CpuMeter` samples the CPU of the server's processes and of wrk around each run, which gives
the CPU that one order costs each of them.
"""

import asyncio
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pyotp

from tradingfloor.bench.api import (
    Connection,
    DemoServer,
    http_request,
    raise_open_files,
    served_demo,
)
from tradingfloor.bench.cpu import IDLE_S, CpuMeter, CpuReport, Roles, server_roles
from tradingfloor.domain.reasons import RejectReason

SCRIPT = Path(__file__).with_name("orders.lua")
SYMBOL = "WRKB"
REFERENCE_PRICE = "10.00"
BID, ASK = "9.99", "10.01"
RESTING_QTY = 900_000
"""Shares in each resting order: enough for 90 s at 20,000 orders/s (half of them take from
each side), and within the default `quantity_max` (1,000,000) and `notional_max` ($10M)."""
CASH = "1000000000"
SHARES = 100_000_000
PERCENTILES = {0.50: "p50_us", 0.90: "p90_us", 0.99: "p99_us", 0.999: "p99.9_us"}
"""The ack latency percentiles and their names in the script's summary line."""
WRK_TIMEOUT_S = 10
"""wrk's `--timeout`: an answer later than this is counted as a timeout and left out of the
latency histogram, so it is well above any latency worth reporting (wrk's default is 2 s,
which hides the slowest answers of an overloaded server from p99.9)."""
WRK_GRACE_S = 30.0
"""How long wrk may take beyond its duration (to connect, to print) before it is killed."""
EXIT_POLL_S = 0.1
BUYING_POWER_CODE = RejectReason.INSUFFICIENT_BUYING_POWER.value
REFUSED_RETRY_S = 0.1
SUMMARY = re.compile(r"^tf-bench (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Trader:
    account: str
    key_id: str
    key_secret: str


@dataclass(frozen=True)
class Market:
    """What `orders.lua` needs: the symbol, the prices and the traders' keys."""

    symbol: str
    buyer: Trader
    seller: Trader

    def environment(self, suffix: str = "") -> dict[str, str]:
        """The script's variables (see the top of `orders.lua`), each name with `suffix`."""
        values = {
            "TF_BENCH_SYMBOL": self.symbol,
            "TF_BENCH_BUY_PRICE": ASK,
            "TF_BENCH_SELL_PRICE": BID,
            "TF_BENCH_BUYER_KEY_ID": self.buyer.key_id,
            "TF_BENCH_BUYER_SECRET": self.buyer.key_secret,
            "TF_BENCH_SELLER_KEY_ID": self.seller.key_id,
            "TF_BENCH_SELLER_SECRET": self.seller.key_secret,
        }
        return {f"{name}{suffix}": value for name, value in values.items()}


def markets_environment(markets: list[Market]) -> dict[str, str]:
    """The script's variables for orders spread evenly over `markets`: the first market's
    names bare, the next ones' suffixed `_2`, `_3`, ... (see the top of `orders.lua`)."""
    variables = {"TF_BENCH_MARKETS": str(len(markets))}
    for index, market in enumerate(markets, start=1):
        variables.update(market.environment("" if index == 1 else f"_{index}"))
    return variables


@dataclass(frozen=True)
class WrkRun:
    """One wrk run's figures, from the script's summary line, and the CPU it cost. Socket
    errors count connections that failed and answers later than `WRK_TIMEOUT_S`."""

    connections: int
    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: dict[str, int]
    latencies_us: dict[float, int]
    """Ack latency percentiles (wrk's histogram): fraction → microseconds."""
    max_us: int
    threads: list[str]
    """The script's line per thread: its answers and non-2xx."""
    cpu: CpuReport
    output: str

    @property
    def orders_per_second(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


class AnswerError(RuntimeError):
    """A setup request was not answered as expected."""


async def _call(
    connection: Connection,
    method: str,
    path: str,
    body: object,
    headers: dict[str, str],
    expected: int = 200,
) -> Any:
    status, answer = await connection.request(http_request(method, path, body, headers))
    if status != expected:
        raise AnswerError(f"{method} {path}: {status} {answer.decode(errors='replace')}")
    return msgspec.json.decode(answer) if answer else None


async def make_trader(connection: Connection, admin: dict[str, str], username: str) -> Trader:
    """A trader made as any is: created by the admin, signed in, a second factor enrolled
    and confirmed, then an API key with the trade scope only."""
    password = secrets.token_urlsafe(24)
    created = await _call(
        connection,
        "POST",
        "/v1/admin/users",
        {"username": username, "password": password},
        admin,
        201,
    )
    login = {"username": username, "password": password}
    signed_in = await _call(connection, "POST", "/v1/auth/login", login, {})
    session = {"Authorization": f"Bearer {signed_in['access_token']}"}
    token = {"enrollment_token": created["enrollment_token"]}
    enrolled = await _call(connection, "POST", "/v1/auth/totp/enroll", token, session)
    code = {"code": pyotp.TOTP(enrolled["secret"]).now()}
    proved = await _call(connection, "POST", "/v1/auth/totp/confirm", code, session)
    session = {"Authorization": f"Bearer {proved['access_token']}"}
    scopes = {"scopes": ["trade"], "label": "bench wrk"}
    key = await _call(connection, "POST", "/v1/api-keys", scopes, session, 201)
    return Trader(created["account"], key["key_id"], key["secret"])


async def prepare_market(
    port: int,
    logins: dict[str, tuple[str, str, str]],
    symbol: str = SYMBOL,
    tag: str = "wrk",
) -> Market:
    """List `symbol`, make and fund its buyer (cash) and seller (shares), the users
    `<tag>-buyer` and `<tag>-seller`."""
    _, key_id, secret = logins["admin"]
    admin = {"X-API-Key-Id": key_id, "X-API-Secret": secret}
    connection = await Connection.open("127.0.0.1", port)
    try:
        listed = {"symbol": symbol, "tick_size": "0.01", "reference_price": REFERENCE_PRICE}
        await _call(connection, "POST", "/v1/admin/symbols", listed, admin)
        buyer = await make_trader(connection, admin, f"{tag}-buyer")
        seller = await make_trader(connection, admin, f"{tag}-seller")
        deposit = {"amount": CASH}
        await _call(
            connection, "POST", f"/v1/admin/accounts/{buyer.account}/deposits", deposit, admin
        )
        shares = {"symbol": symbol, "qty": SHARES, "cost_price": REFERENCE_PRICE}
        await _call(
            connection, "POST", f"/v1/admin/accounts/{seller.account}/shares", shares, admin
        )
    finally:
        connection.close()
    return Market(symbol, buyer, seller)


async def rest_liquidity(port: int, market: Market, refused_wait_s: float = 0.0) -> None:
    """A resting bid of the buyer's and ask of the seller's, for the next run's orders to
    take from; those of earlier runs stay (their holds are funded). With symbol shards, the
    buyer's cash is on its account's home shard: a bid on another shard is refused for buying
    power (403, code 2011) until the cash allocator has brought the cash there, so it is
    placed again until accepted, for at most `refused_wait_s`."""
    connection = await Connection.open("127.0.0.1", port)
    try:
        for trader, side, price in ((market.buyer, "buy", BID), (market.seller, "sell", ASK)):
            keys = {"X-API-Key-Id": trader.key_id, "X-API-Secret": trader.key_secret}
            order = {
                "symbol": market.symbol,
                "side": side,
                "type": "limit",
                "qty": RESTING_QTY,
                "limit_price": price,
                "time_in_force": "gtc",
            }
            answer = await _placed(connection, order, keys, refused_wait_s)
            if answer["status"] not in ("new", "partially_filled"):
                raise AnswerError(f"the resting {side} order is {answer['status']}")
    finally:
        connection.close()


async def _placed(
    connection: Connection, order: dict[str, Any], keys: dict[str, str], refused_wait_s: float
) -> Any:
    """The answer to `order`, placed again while refused for buying power (see
    `rest_liquidity`), every `REFUSED_RETRY_S`, until `refused_wait_s` has passed."""
    deadline = time.monotonic() + refused_wait_s
    while True:
        status, answer = await connection.request(http_request("POST", "/v1/orders", order, keys))
        if status == 200:
            return msgspec.json.decode(answer)
        refused = status == 403 and msgspec.json.decode(answer).get("code") == BUYING_POWER_CODE
        if not refused or time.monotonic() >= deadline:
            raise AnswerError(f"POST /v1/orders: {status} {answer.decode(errors='replace')}")
        await asyncio.sleep(REFUSED_RETRY_S)


def wrk_command(
    port: int, connections: int, seconds: int, script: Path, threads: int
) -> list[str]:
    return [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        f"--timeout={WRK_TIMEOUT_S}s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/v1/orders",
    ]


def run_wrk(
    server: DemoServer,
    market: Market,
    connections: int,
    seconds: int,
    script: Path = SCRIPT,
    threads: int = 2,
) -> WrkRun:
    """One wrk run against `server`, with the CPU of the server's processes and of wrk."""
    return wrk_once(
        server.port,
        market.environment(),
        lambda: server_roles(server.pid),
        connections,
        seconds,
        script,
        threads,
    )


def wrk_once(
    port: int,
    environment: dict[str, str],
    server: Callable[[], Roles],
    connections: int,
    seconds: int,
    script: Path = SCRIPT,
    threads: int = 2,
) -> WrkRun:
    """One wrk run against 127.0.0.1:`port` with the script's `environment`, with the CPU of
    the processes `server()` names by role and of wrk."""
    command = wrk_command(port, connections, seconds, script, threads)
    load: dict[str, list[int]] = {"wrk": []}

    def roles() -> Roles:
        return {**server(), **load}

    with tempfile.TemporaryFile("w+") as output:
        meter = CpuMeter(roles)
        meter.start()
        try:
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **environment},
                text=True,
            )
            load["wrk"].append(process.pid)
            exited = _wait_for_exit(process.pid, seconds + WRK_GRACE_S)
        finally:
            cpu = meter.stop()
        if not exited:
            process.kill()
        process.wait()
        output.seek(0)
        text = output.read()
    if not exited or process.returncode != 0:
        state = "did not finish" if not exited else f"exited with {process.returncode}"
        raise RuntimeError(f"wrk {state}: {' '.join(command)}\n{text}")
    return parse_output(text, connections, cpu)


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    """Wait until the child `pid` exits, without reaping it (its CPU figures stay readable
    for the meter); False if it is still running after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
            return True
        time.sleep(EXIT_POLL_S)
    return False


def parse_output(text: str, connections: int, cpu: CpuReport) -> WrkRun:
    """The figures of `orders.lua`'s summary line in wrk's output."""
    found = SUMMARY.search(text)
    if found is None:
        raise RuntimeError(f"no 'tf-bench' summary line in wrk's output:\n{text}")
    figures = {}
    for pair in found.group(1).split():
        name, _, value = pair.partition("=")
        figures[name] = int(value)
    latencies = {fraction: figures[name] for fraction, name in PERCENTILES.items()}
    errors = ("connect", "read", "write")
    socket_errors = {name: figures[f"{name}_errors"] for name in errors}
    socket_errors["timeout"] = figures["timeouts"]
    return WrkRun(
        connections=connections,
        requests=figures["requests"],
        duration_s=figures["duration_us"] / 1e6,
        non_2xx=figures["non2xx"],
        socket_errors=socket_errors,
        latencies_us=latencies,
        max_us=figures["max_us"],
        threads=re.findall(r"^thread \d+: .*$", text, re.MULTILINE),
        cpu=cpu,
        output=text,
    )


@dataclass(frozen=True)
class WrkBench:
    runs: list[WrkRun]
    idle: CpuReport | None
    """The server's CPU with no orders sent, before the runs: the demo's simulated market and
    the platform's timers, which every run's figures include too."""


def run(
    connection_counts: list[int],
    seconds: int = 10,
    script: Path = SCRIPT,
    threads: int = 2,
    warmup_s: int = 2,
    idle_s: float = IDLE_S,
) -> WrkBench:
    """Serve, set up the market, measure the idle server, warm up, then one wrk run per
    connection count."""
    most = max(connection_counts)
    raise_open_files(most + 256)  # the server and wrk inherit it
    settings = {"TRADINGFLOOR_CONNECTIONS_PER_SOURCE_MAX": str(most + 64)}
    with served_demo("tf-bench-wrk-", settings) as server:
        market = asyncio.run(prepare_market(server.port, server.logins))
        idle = None
        if idle_s:
            with CpuMeter(lambda: server_roles(server.pid)) as meter:
                time.sleep(idle_s)
            idle = meter.report
        if warmup_s:
            asyncio.run(rest_liquidity(server.port, market))
            run_wrk(server, market, connection_counts[0], warmup_s, script, threads)
        runs = []
        for connections in connection_counts:
            asyncio.run(rest_liquidity(server.port, market))
            runs.append(run_wrk(server, market, connections, seconds, script, threads))
        return WrkBench(runs, idle)
