"""`tradingfloor bench cluster` run as a command, bounded: a cluster of one shard, then of two
(private NATS, Redis, wrk), every order answered 2xx, the figures and each role's CPU there;
and `orders.lua` spreading its orders over several markets, against a server of this test's
own that counts what it receives."""

import http.server
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import msgspec
import pytest

from conftest import require_tcp_service, skip_or_fail
from test_bench_wrk import table_rows
from tradingfloor.bench.wrk import SCRIPT
from tradingfloor.bootstrap.cluster_plan import nats_server_binary
from tradingfloor.config import ConfigError

REDIS_URL = os.environ.get("TRADINGFLOOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
BENCH_WAIT_S = 900
"""The longest the bench may take: two clusters of up to ten processes started and stopped
on two cores, and a few seconds of wrk in each."""
WRK_WAIT_S = 60
ROLES = {"nats", "shard", "projector", "marketdata", "gateway", "wrk"}
IDLE_ROLES = {"settlement", "clearinghouse"}
"""The end of day: listed, and idle while the bench runs (no CPU asked of them)."""
FEED_ROLES = {"audit", "surveillance", "reporting"}
"""The readers of the feed: listed with what they cost (they follow every order)."""


def _require_wrk() -> None:
    import shutil

    if shutil.which("wrk") is None:
        skip_or_fail("wrk is not installed (apt-get install wrk)")


def test_one_shard_then_two_every_order_2xx_and_every_role_measured() -> None:
    _require_wrk()
    require_tcp_service("Redis", REDIS_URL, 6379)
    try:
        nats_server_binary()
    except ConfigError as error:
        skip_or_fail(str(error))
    command = [sys.executable, "-m", "tradingfloor", "bench", "cluster", "--shards", "1,2"]
    command += ["--seconds", "2", "--connections", "16", "--warmup-seconds", "0"]
    command += ["--redis-url", REDIS_URL, "--show-output"]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=BENCH_WAIT_S,
        env={**os.environ, "COLUMNS": "200"},  # rich wraps no cell at this width
    )

    output = completed.stdout
    assert completed.returncode == 0, output + completed.stderr
    header = ["shards", "orders", "orders/s", "ack p50 ms", "p90 ms", "p99 ms", "p99.9 ms"]
    header += ["non-2xx", "socket errors"]
    assert table_rows(output, "shards")[0] == header
    for shards in ("1", "2"):
        [figures] = [row for row in table_rows(output, shards) if len(row) == len(header)]
        assert int(figures[1].replace(",", "")) > 0
        assert (figures[7], figures[8]) == ("0", "0")
        cpu = {row[1]: row for row in table_rows(output, shards) if len(row) == 7}
        wanted = ROLES | ({"allocator"} if shards == "2" else set())
        assert set(cpu) == wanted | IDLE_ROLES | FEED_ROLES | {"other processes"}
        assert all(float(cpu[role][5]) > 0 for role in wanted), cpu
        assert int(cpu["shard"][2]) == int(shards) and int(cpu["gateway"][2]) == 2
    assert "NOT EVERY ORDER" not in output
    assert "orders/s with 2 shards / with 1 shard: " in output
    assert "share this machine's" in output
    # wrk's own count, thread by thread (two threads, two runs): every answer was 2xx.
    threads = [line for line in output.splitlines() if line.startswith("thread ")]
    assert len(threads) == 4
    assert all(line.endswith(" 0 non-2xx") for line in threads)


class _Counting(http.server.BaseHTTPRequestHandler):
    """Answers every POST 200 and counts its (symbol, side, API key id)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    seen: Counter[tuple[str, str, str]]
    lock: threading.Lock

    def do_POST(self) -> None:
        body = msgspec.json.decode(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.seen[(body["symbol"], body["side"], self.headers["X-API-Key-Id"])] += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        return  # wrk resets its connections when it stops: nothing to report


@pytest.fixture
def counting_server() -> Iterator[tuple[int, Counter[tuple[str, str, str]]]]:
    seen: Counter[tuple[str, str, str]] = Counter()
    handler = type("Handler", (_Counting,), {"seen": seen, "lock": threading.Lock()})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _market(suffix: str, symbol: str) -> dict[str, str]:
    values = {
        "TF_BENCH_SYMBOL": symbol,
        "TF_BENCH_BUY_PRICE": "10.01",
        "TF_BENCH_SELL_PRICE": "9.99",
        "TF_BENCH_BUYER_KEY_ID": f"buyer-{symbol}",
        "TF_BENCH_BUYER_SECRET": "s",
        "TF_BENCH_SELLER_KEY_ID": f"seller-{symbol}",
        "TF_BENCH_SELLER_SECRET": "s",
    }
    return {f"{name}{suffix}": value for name, value in values.items()}


def _wrk(port: int, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = ["wrk", "-t2", "-c4", "-d1s", "-s", str(SCRIPT), f"http://127.0.0.1:{port}/"]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=WRK_WAIT_S,
        env={**os.environ, **variables},
    )


@pytest.mark.parametrize("markets", [1, 3])
def test_the_script_sends_a_buy_and_a_sell_of_each_market_in_turn(
    counting_server: tuple[int, Counter[tuple[str, str, str]]], markets: int
) -> None:
    _require_wrk()
    port, seen = counting_server
    variables = _market("", "AAA")  # one market: TF_BENCH_MARKETS unset, as bench wrk runs
    if markets > 1:
        variables["TF_BENCH_MARKETS"] = str(markets)
        for index in range(2, markets + 1):
            variables.update(_market(f"_{index}", f"M{index}"))

    done = _wrk(port, variables)

    assert done.returncode == 0, done.stdout + done.stderr
    symbols = ["AAA", *(f"M{index}" for index in range(2, markets + 1))]
    expected = {(s, "buy", f"buyer-{s}") for s in symbols}
    expected |= {(s, "sell", f"seller-{s}") for s in symbols}
    assert set(seen) == expected
    # Each thread goes round the markets; it may stop anywhere in a round, and what its
    # connections had in flight at the end may go unanswered: a few requests either way.
    assert max(seen.values()) - min(seen.values()) <= 2 * 4, seen
    assert min(seen.values()) > 10, seen


def test_the_script_refuses_to_start_without_a_later_market_s_variables(
    counting_server: tuple[int, Counter[tuple[str, str, str]]],
) -> None:
    _require_wrk()
    port, seen = counting_server
    variables = {**_market("", "AAA"), **_market("_2", "BBB"), "TF_BENCH_MARKETS": "2"}
    del variables["TF_BENCH_SELLER_SECRET_2"]

    done = _wrk(port, variables)

    assert "TF_BENCH_SELLER_SECRET_2 is not set" in done.stdout + done.stderr
    assert not seen
