"""The failure table of distributed mode, one test per row, against the roles as processes on
real NATS, PostgreSQL and Redis (`nats_cluster`). The shared services are never stopped: a
role's path to one goes through a `TcpProxy` of the test's own, which the test cuts (every
connection reset, new ones closed) or stalls (bytes held both ways).

1. The read models' database down: orders are taken, reads that need the read models are
   refused (503, 5033, Retry-After), and once it is back the projector catches up with nothing
   lost: the journal, the event log, the events stream and the rows agree seq by seq.
2. The risk state unreachable, order entry fails closed: the shard cut from NATS (503, 5031)
   and Redis cut from the gateways (503, 5034); no refused order reaches the stream, and
   order entry resumes by itself once the path is back.
3. The projector lagging (its database stalled): past `projection_lag_max_commands`, new
   orders are refused (503, 5038) at every gateway and the lag shows in `/metrics`; once the
   database answers again the projector catches up and orders are taken again.
4. One user flooding from a process of its own: limited (429, 4007), then banned (429, 4018)
   while everyone else's orders are all taken; their ack latency with and without the flood
   is printed, not asserted.

Every wait is bounded (STEP_WAIT_S) and fails saying what it waited for.
"""

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import nats

from api_helpers import Served
from nats_cluster import (
    REDIS_URL,
    STEP_WAIT_S,
    agree_seq_by_seq,
    listed,
    running_cluster,
    until,
    until_projected,
)
from order_flood import flooding
from tcp_proxy import TcpProxy

BUY = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": "90"}
"""A bid below the market: it rests (nobody sells there)."""
IOC = {**BUY, "time_in_force": "ioc"}
"""The same bid, immediate or cancel: it rests nowhere."""


@contextlib.contextmanager
def proxy_of(url: str, default_port: int) -> Iterator[TcpProxy]:
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or default_port).start()
    try:
        yield proxy
    finally:
        proxy.close()


async def fresh(base_url: str, method: str, path: str, **request: Any) -> httpx.Response:
    """One request on a connection of its own: the kernel picks either gateway."""
    async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:
        return await client.request(method, path, **request)


def assert_unavailable(answer: httpx.Response, code: int) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == code, answer.text
    assert int(answer.headers["retry-after"]) >= 1, answer.headers


async def stream_last_seq(nats_url: str, stream: str) -> int:
    """The events stream's last seq, asked of NATS directly (not through any proxy)."""
    connection = await nats.connect(nats_url)
    try:
        info = await connection.jetstream().stream_info(stream)
        return int(info.state.last_seq)
    finally:
        await connection.close()


# --------------------------------------------------------------------------- 1. database down


async def test_read_model_database_down_orders_are_taken_reads_refused_then_caught_up(
    tmp_path: Path, nats_url: str, postgres_url: str
) -> None:
    with proxy_of(postgres_url, 5432) as projector_db, proxy_of(postgres_url, 5432) as edge_db:
        edge = {"TRADINGFLOOR_DATABASE_URL": edge_db.url_of(postgres_url)}
        role_env = {
            "projector": {"TRADINGFLOOR_DATABASE_URL": projector_db.url_of(postgres_url)},
            **{name: edge for name in ("marketdata", "gateway-a", "gateway-b")},
        }
        async with running_cluster(tmp_path, nats_url, postgres_url, role_env=role_env) as (
            processes,
            here,
        ):
            # Sessions (access tokens): no gateway looks them up in the database.
            alice = await here.trader("alice", key=False)
            bob = await here.trader("bob", cash="0", shares={"XYZ": 100}, key=False)
            base_url = str(here.client.base_url)
            sold = await here.client.post(
                "/v1/orders", json={**BUY, "side": "sell", "limit_price": "100"}, headers=bob
            )
            assert sold.status_code == 200, sold.text

            projector_db.cut()
            edge_db.cut()
            placed = await _orders_taken_until_a_read_is_refused(here, alice)
            for _ in range(6):  # either gateway takes orders
                answer = await fresh(base_url, "POST", "/v1/orders", json=BUY, headers=alice)
                assert answer.status_code == 200, answer.text
                placed.append(answer.json()["id"])
            bought = await fresh(
                base_url,
                "POST",
                "/v1/orders",
                json={**BUY, "limit_price": "100"},
                headers=alice,
            )
            assert bought.status_code == 200 and bought.json()["status"] == "filled", bought.text
            placed.append(bought.json()["id"])
            read_v2 = await fresh(
                base_url, "GET", "/v2/orders", headers={**alice, "TF-Min-Seq": "999999"}
            )
            assert_unavailable(read_v2, 5033)
            canceled = await fresh(base_url, "DELETE", f"/v1/orders/{placed[0]}", headers=alice)
            assert canceled.status_code == 200, canceled.text  # done: not a 503 to retry
            assert canceled.json()["status"] == "canceled"

            projector_db.restore()
            edge_db.restore()
            assert set(placed) <= await listed(here, alice)  # 503s retried, as told
            last_seq = await here.shard.last_seq()
            await until_projected(postgres_url, last_seq)
            processes.stop_all()
            await agree_seq_by_seq(processes, postgres_url, nats_url, last_seq)
    print(f"{len(placed)} orders taken while the database was down, all projected after")


async def _orders_taken_until_a_read_is_refused(here: Served, alice: dict[str, str]) -> list[str]:
    """Orders (each taken) and, after each, a read of it, until a read is refused 5033 (the
    projector has found its database gone and told the gateways); the ids placed."""
    placed = []
    deadline = time.monotonic() + STEP_WAIT_S
    while True:
        assert time.monotonic() < deadline, "no read refused (5033) while the database is down"
        answer = await here.client.post("/v1/orders", json=BUY, headers=alice)
        assert answer.status_code == 200, answer.text
        placed.append(answer.json()["id"])
        read = await here.client.get(
            "/v1/orders", headers={**alice, "TF-Min-Seq": answer.headers["TF-Seq"]}
        )
        assert read.status_code == 503, read.text  # the database is cut: never a 200
        if read.json()["code"] == 5033:
            assert_unavailable(read, 5033)
            return placed
        assert_unavailable(read, 5032)  # waited for a projector that had not failed yet


# --------------------------------------------------------------------------- 2. risk state


async def test_risk_state_unreachable_order_entry_fails_closed_and_resumes(
    tmp_path: Path, nats_url: str, postgres_url: str
) -> None:
    with proxy_of(nats_url, 4222) as shard_nats, proxy_of(REDIS_URL, 6379) as redis:
        role_env = {"shard": {"TRADINGFLOOR_NATS_URL": shard_nats.url_of(nats_url)}}
        settings = {"redis_url": redis.url_of(REDIS_URL), "redis_retry_s": 0.5}
        async with running_cluster(
            tmp_path, nats_url, postgres_url, settings=settings, role_env=role_env
        ) as (processes, here):
            alice = await here.trader("alice")
            stream = f"TF_EVENTS_{processes.settings.shard_name}"
            for proxy, code in ((shard_nats, 5031), (redis, 5034)):
                await _refused_while_cut(here, alice, nats_url, stream, proxy, code)


async def _refused_while_cut(
    here: Served,
    alice: dict[str, str],
    nats_url: str,
    stream: str,
    proxy: TcpProxy,
    code: int,
) -> None:
    """Cut `proxy`: orders on either gateway refused with `code` and none in the stream;
    restored: the first order taken is the stream's next seq (none refused got in), and a
    refused order's retry with its client order id is a new order."""
    base_url = str(here.client.base_url)
    before = await stream_last_seq(nats_url, stream)
    proxy.cut()
    for number in range(8):
        order = {**BUY, "client_order_id": f"cut-{code}-{number}"}
        refused = await fresh(base_url, "POST", "/v1/orders", json=order, headers=alice)
        assert_unavailable(refused, code)
    refused_v2 = await fresh(
        base_url,
        "POST",
        "/v2/orders",
        json={**BUY, "qty": "1", "time_in_force": "gtc"},
        headers=alice,
    )
    assert_unavailable(refused_v2, code)
    account = await fresh(base_url, "GET", "/v1/account", headers=alice)
    if code == 5031:  # buying power is the shard's: not answered without it
        assert_unavailable(account, 5031)
    else:  # Redis limits order entry only
        assert account.status_code == 200, account.text
    assert await stream_last_seq(nats_url, stream) == before, "a refused order got in"

    proxy.restore()
    first = await _first_taken(base_url, alice, code)
    assert int(first.headers["TF-Seq"]) == before + 1, "a refused order got in"
    # Each gateway finds the path back by itself: the other may refuse a moment longer.
    retried = await _first_taken(
        base_url, alice, code, {**BUY, "client_order_id": f"cut-{code}-0"}
    )
    assert int(retried.json()["id"]) > before + 1  # a new order, not an earlier one's answer


async def _first_taken(
    base_url: str, headers: dict[str, str], code: int, order: dict[str, Any] = BUY
) -> httpx.Response:
    """The first order taken once the path is back (refused with `code` until then)."""
    deadline = time.monotonic() + STEP_WAIT_S
    while True:
        answer = await fresh(base_url, "POST", "/v1/orders", json=order, headers=headers)
        if answer.status_code == 200:
            return answer
        assert_unavailable(answer, code)
        assert time.monotonic() < deadline, f"order entry did not resume after {code}"
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- 3. consumer lag

LAG_MAX_COMMANDS = 50
BACKLOG_COMMANDS = 20_000
"""Commands sent to the shard while the projector's database is stalled, to time its
catch-up (printed)."""
METRICS_TOKEN = "metrics-token-" + "x" * 20


async def test_a_lagging_projector_makes_gateways_refuse_new_orders_until_it_catches_up(
    tmp_path: Path, nats_url: str, postgres_url: str
) -> None:
    with proxy_of(postgres_url, 5432) as projector_db:
        role_env = {"projector": {"TRADINGFLOOR_DATABASE_URL": projector_db.url_of(postgres_url)}}
        settings = {
            "projection_lag_max_commands": LAG_MAX_COMMANDS,
            "metrics_token": METRICS_TOKEN,
        }
        async with running_cluster(
            tmp_path, nats_url, postgres_url, settings=settings, role_env=role_env
        ) as (_, here):
            alice = await here.trader("alice")
            projected_seq_before = await here.shard.last_seq()
            await until_projected(postgres_url, projected_seq_before)
            projector_db.stall()  # its transactions wait: the projector falls behind

            taken, refusal = await _taken_until_refused(here, alice)
            assert_unavailable(refusal, 5038)
            assert "behind" in refusal.json()["message"]
            assert LAG_MAX_COMMANDS < taken <= LAG_MAX_COMMANDS + 1, taken
            base_url = str(here.client.base_url)
            for _ in range(8):  # at every gateway, from the lag its event feed shows it
                answer = await fresh(base_url, "POST", "/v1/orders", json=BUY, headers=alice)
                assert_unavailable(answer, 5038)
            assert await _lag_in_metrics(base_url) > LAG_MAX_COMMANDS
            await _backlog(here, "alice", BACKLOG_COMMANDS)  # past the gateways: to measure

            behind = await here.shard.last_seq() - projected_seq_before
            restored_at = time.monotonic()
            projector_db.restore()
            await until_projected(postgres_url, await here.shard.last_seq())
            caught_up_s = time.monotonic() - restored_at
            await _first_taken(base_url, alice, 5038)
            assert await _lag_in_metrics(base_url) <= LAG_MAX_COMMANDS
    print(
        f"{taken} orders taken, then 5038; the projector caught up {behind} commands in "
        f"{caught_up_s:.2f} s ({behind / caught_up_s:,.0f} commands/s, PostgreSQL)"
    )


async def _backlog(here: Served, account: str, count: int) -> None:
    """`count` IOC bids of `account` straight to the shard (no gateway), 200 at a time."""
    from tradingfloor.domain.commands import PlaceOrder
    from tradingfloor.domain.enums import OrderType, Side, TimeInForce

    bid = PlaceOrder(0, account, "XYZ", Side.BUY, OrderType.LIMIT, 1, 900_000, tif=TimeInForce.IOC)
    for start in range(0, count, 200):
        await asyncio.gather(*(here.shard.submit(bid) for _ in range(min(200, count - start))))


async def _taken_until_refused(here: Served, alice: dict[str, str]) -> tuple[int, httpx.Response]:
    """Orders on one connection (one gateway) until one is refused: how many were taken, and
    the refusal."""
    taken = 0
    deadline = time.monotonic() + STEP_WAIT_S
    while True:
        answer = await here.client.post("/v1/orders", json=BUY, headers=alice)
        if answer.status_code != 200:
            return taken, answer
        taken += 1
        assert time.monotonic() < deadline, f"{taken} orders taken, none refused for the lag"


async def _lag_in_metrics(base_url: str) -> float:
    operator = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    answer = await fresh(base_url, "GET", "/metrics", headers=operator)
    assert answer.status_code == 200, answer.text
    for line in answer.text.splitlines():
        if line.startswith("tradingfloor_projection_lag_commands "):
            return float(line.split()[1])
    raise AssertionError(f"no projection lag in /metrics:\n{answer.text[:2_000]}")


# --------------------------------------------------------------------------- 4. one user flooding

FLOOD_CONNECTIONS = 32
OTHERS = 4
OTHER_ORDERS = 100
OTHER_PAUSE_S = 0.025
"""Each other user sends about 40 orders a second, below the limit of 100."""


async def test_one_user_flooding_is_limited_then_banned_while_the_others_are_served(
    tmp_path: Path, nats_url: str, postgres_url: str
) -> None:
    prefix = f"tf:test-{uuid.uuid4().hex[:12]}:"  # to delete its keys (the ban's) at the end
    settings = {
        "orders_per_second_max": 100,
        "orders_burst_max": 100,
        "rate_limit_key_prefix": prefix,
    }
    try:
        async with running_cluster(tmp_path, nats_url, postgres_url, settings=settings) as (
            processes,
            here,
        ):
            limit = processes.settings
            flooder = await here.trader("flooder", cash="10000000")
            others = [await here.trader(f"other{n}", cash="1000000") for n in range(OTHERS)]
            base_url = str(here.client.base_url)
            quiet = await _others_acks(base_url, others)
            port = urlsplit(base_url).port
            async with flooding(port, flooder, FLOOD_CONNECTIONS, STEP_WAIT_S) as flood:
                loud = await _others_acks(base_url, others)
                result = await flood.result()
            after = await fresh(base_url, "POST", "/v1/orders", json=IOC, headers=flooder)
    finally:
        await _forget_keys(prefix)

    print(f"flood: {result['requests_per_s']:.0f} requests/s, answers {result['answers']}")
    for name, acks in (("without the flood", quiet), ("during the flood", loud)):
        p50, p99 = _percentile(acks, 50), _percentile(acks, 99)
        print(f"others' acks {name}: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")
    answers = result["answers"]
    assert answers.get("200/None", 0) >= 1, answers  # its burst was taken
    assert answers.get("429/4007", 0) >= 1, answers  # then limited
    assert answers.get("429/4018", 0) >= 1, answers  # then banned
    assert set(answers) <= {"200/None", "429/4007", "429/4018"}, answers
    assert result["accepted_after_ban"] == 0, result
    # Whole seconds rounded up, from a clock read as the request came: one read just before
    # the banning one's (on the other gateway) sees a ban a fraction of a second longer.
    assert 1 <= result["ban_retry_after_s"] <= limit.rate_limit_ban_s + 1, result
    assert after.status_code == 429 and after.json()["code"] == 4018, after.text
    assert 1 <= int(after.headers["retry-after"]) <= limit.rate_limit_ban_s + 1


async def _others_acks(base_url: str, others: list[dict[str, str]]) -> list[float]:
    """Every other user's orders (each one's in sequence, all users at once): the seconds
    each took to be acknowledged; every one must be taken."""

    async def one_user(headers: dict[str, str]) -> list[float]:
        acks = []
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:
            warm = await client.post("/v1/orders", json=IOC, headers=headers)  # not counted:
            assert warm.status_code == 200, warm.text  # a connection and a key cache to fill
            for _ in range(OTHER_ORDERS):
                started = time.perf_counter()
                answer = await client.post("/v1/orders", json=IOC, headers=headers)
                acks.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
                await asyncio.sleep(OTHER_PAUSE_S)
        return acks

    per_user = await asyncio.gather(*(one_user(headers) for headers in others))
    return [ack for acks in per_user for ack in acks]


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * percent / 100) - 1)]


async def _forget_keys(prefix: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- 3. what else buffers

FOLLOWED_MESSAGES = 20_000


async def test_a_feed_follower_that_takes_nothing_holds_what_flow_control_lets_through(
    nats_url: str,
) -> None:
    """The events feed's consumer (the projector's, each gateway's market data, the market-data
    role's) is flow-controlled: a reader that takes nothing holds what the server sent before
    its flow-control request, which is answered only once the reader has taken all that came
    before it; the rest stays in the stream."""
    from tradingfloor.service.nats_events import stream_config
    from tradingfloor.service.nats_events_feed import _Consumer
    from tradingfloor.service.nats_subjects import NatsNames

    connection = await nats.connect(nats_url)
    names = NatsNames("tf", f"buffer-{uuid.uuid4().hex[:12]}", "TF_EVENTS")
    js = connection.jetstream()
    await js.add_stream(stream_config(names, 1))
    consumer = _Consumer(connection, names, 1)
    try:
        subject, payload = names.event_subject("XYZ", "alice"), b"x" * 200
        for _ in range(FOLLOWED_MESSAGES // 1_000):
            # a busy machine may take longer than the client's half-second default
            await asyncio.gather(*(js.publish(subject, payload, timeout=30) for _ in range(1_000)))
        await consumer.open()

        async def flow_control_asked() -> bool:
            return any(isinstance(item, str) for item in list(consumer.queue._queue))  # type: ignore[attr-defined]

        await until(flow_control_asked, "the server's flow-control request")
        held = consumer.queue.qsize()
        assert held < FOLLOWED_MESSAGES // 2, held
    finally:
        await consumer.close()
        await js.delete_stream(names.events_stream)
        await connection.close()
    print(f"a follower that takes nothing holds {held} of {FOLLOWED_MESSAGES} messages of 200 B")
