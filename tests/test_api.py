"""End to end over real HTTP: orders, fills, cancels, replaces, rejects, auth, rate limits,
idempotent retries, restart and recovery, read your writes. Against SQLite, and against the
real PostgreSQL.

The tests on `api` share a platform per topology and database (`api_helpers`): each has its
own users and symbol."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from api_helpers import SHARED_PLATFORMS, Served, served, shared_platform, shared_platform_id

on_shared_platform = pytest.mark.asyncio(loop_scope="module")
"""The tests on `api`: they run in the event loop of the module's shared platforms."""


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=SHARED_PLATFORMS, ids=shared_platform_id
)
async def platform(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    """The platform in one process, then as processes (shard, projector, a gateway); on
    SQLite, then on PostgreSQL."""
    data = tmp_path_factory.mktemp("platform") / "data"
    async with shared_platform(data, request.param) as here:
        await here.symbol("XYZ", "100")  # the malformed orders' symbol
        yield here


@pytest_asyncio.fixture(loop_scope="module")
async def api(platform: Served) -> Served:
    """The test's share of the module's platform: its own users and symbol (`api.sym`)."""
    return await platform.share()


@pytest.fixture
async def api_single(tmp_path: Path, database_url: str | None) -> AsyncIterator[Served]:
    """In one process: for tests that move the edges' clock or look inside the roles."""
    async with served(tmp_path / "data", database_url) as here:
        await here.symbol("XYZ", "100")
        yield here


@on_shared_platform
async def test_place_rest_fill_partially_and_read_it_back(api: Served) -> None:
    alice = await api.trader("alice", cash="100000")
    bob = await api.trader("bob", cash="0", shares={api.sym: 100})

    resting = await api.order(alice, side="buy", type="limit", qty=100, limit_price="100.00")
    assert resting.status_code == 200, resting.text
    assert resting.json()["status"] == "new"
    order_id = resting.json()["id"]

    sold = await api.order(bob, side="sell", type="limit", qty=40, limit_price="99.50")
    assert sold.json()["status"] == "filled"
    assert sold.json()["avg_fill_price"] == "100.00"  # at the resting order's price

    got = await api.client.get(f"/v1/orders/{order_id}", headers=alice)
    assert got.status_code == 200
    body = got.json()
    assert (body["status"], body["filled_qty"], body["leaves_qty"]) == ("partially_filled", 40, 60)
    assert body["fills"][0]["price"] == "100.00" and body["fills"][0]["liquidity"] == "maker"

    positions = (await api.client.get("/v1/positions", headers=alice)).json()
    assert positions == [
        {
            "symbol": api.sym,
            "qty": 40,
            "qty_held_by_orders": 0,
            "avg_cost": "100.00",
            "cost_basis": "4000.00",
            "market_price": "100.00",
            "market_value": "4000.00",
            "unrealized_pl": "0.00",
            "realized_pl": "0.00",
            "settled_qty": 0,  # bought today: settles at T+N
        }
    ]
    account = (await api.client.get("/v1/account", headers=alice)).json()
    assert account["cash"] == "96000.00"
    assert (account["good_faith_violations"], account["settled_cash_only_until"]) == (0, None)
    assert account["held_for_orders"] == "6000.00"
    assert account["buying_power"] == "90000.00"
    activities = (await api.client.get("/v1/activities", headers=bob)).json()
    assert any(a["kind"] == "trade" and a["amount"] == "4000.00" for a in activities)

    quote = (await api.client.get(f"/v1/quotes/{api.sym}", headers=alice)).json()
    assert (
        quote["bid"] == {"price": "100.00", "qty": 60, "orders": 1} and quote["last"] == "100.00"
    )
    trades = (await api.client.get(f"/v1/trades/{api.sym}", headers=alice)).json()
    assert trades[0]["qty"] == 40 and trades[0]["aggressor"] == "sell"
    book = (await api.client.get(f"/v1/book/{api.sym}?depth=5", headers=alice)).json()
    assert book["bids"][0]["qty"] == 60 and book["asks"] == []


@on_shared_platform
async def test_cancel_replace_and_another_users_order(api: Served) -> None:
    alice = await api.trader("alice")
    eve = await api.trader("eve")
    placed = (await api.order(alice, side="buy", type="limit", qty=10, limit_price="99")).json()

    assert (await api.client.get(f"/v1/orders/{placed['id']}", headers=eve)).status_code == 404
    missing = str(10**15)
    for method, body in (("DELETE", None), ("PATCH", {"limit_price": "98"})):
        theirs = await api.client.request(
            method, f"/v1/orders/{placed['id']}", json=body, headers=eve
        )
        nothing = await api.client.request(method, f"/v1/orders/{missing}", json=body, headers=eve)
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.json() == nothing.json() == {"code": 3001, "message": "no such order"}
        # No command was sequenced for it: a TF-Seq would tell that the id is a live order.
        assert "tf-seq" not in theirs.headers

    replaced = await api.client.patch(
        f"/v1/orders/{placed['id']}", json={"limit_price": "98.50"}, headers=alice
    )
    assert replaced.status_code == 200, replaced.text
    new_id = replaced.json()["id"]
    assert new_id != placed["id"] and replaced.json()["limit_price"] == "98.50"
    old = (await api.client.get(f"/v1/orders/{placed['id']}", headers=alice)).json()
    assert old["status"] == "replaced" and old["replaced_by"] == new_id

    canceled = await api.client.delete(f"/v1/orders/{new_id}", headers=alice)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = await api.client.delete(f"/v1/orders/{new_id}", headers=alice)
    assert (again.status_code, again.json()["code"]) == (422, 3002)
    assert (await api.client.get("/v1/account", headers=alice)).json()["held_for_orders"] == "0.00"
    listed = (await api.client.get("/v1/orders?status=closed", headers=alice)).json()
    assert {o["id"] for o in listed["orders"]} == {placed["id"], new_id}


REJECTS = [
    ({"symbol": "NOPE", "side": "buy", "type": "limit", "qty": 1, "limit_price": "1"}, 404, 1012),
    ({"side": "buy", "type": "limit", "qty": 1, "limit_price": "100.005"}, 422, 1004),
    ({"side": "buy", "type": "limit", "qty": 1}, 422, 1005),
    ({"side": "buy", "type": "market", "qty": 1, "limit_price": "100"}, 422, 1006),
    ({"side": "buy", "type": "stop", "qty": 1}, 422, 1007),
    ({"side": "buy", "type": "trailing_stop", "qty": 1}, 422, 1010),
    ({"side": "buy", "type": "limit", "qty": 2000, "limit_price": "100"}, 403, 2011),
    ({"side": "sell", "type": "limit", "qty": 1, "limit_price": "100"}, 403, 2012),
    ({"side": "buy", "type": "limit", "qty": 1, "limit_price": "111"}, 422, 2009),
    ({"side": "buy", "type": "limit", "qty": 2_000_000, "limit_price": "1"}, 422, 2007),
    ({"side": "buy", "type": "fok", "qty": 1}, 422, 1000),
]


@on_shared_platform
async def test_every_reject_has_one_status_and_a_code(api: Served) -> None:
    alice = await api.trader("alice", cash="100000")
    for terms, status, code in REJECTS:
        answer = await api.order(alice, **terms)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (terms, answer.text)
        assert answer.json()["message"]
    halted = await api.client.post(f"/v1/admin/halts/{api.sym}", headers=api.admin)
    assert halted.status_code == 200
    answer = await api.order(alice, side="buy", type="limit", qty=1, limit_price="100")
    assert (answer.status_code, answer.json()["code"]) == (409, 2005)
    await api.client.delete(f"/v1/admin/halts/{api.sym}", headers=api.admin)
    blocked = await api.client.post(
        f"/v1/admin/accounts/{api.user('alice')}/status",
        json={"status": "blocked"},
        headers=api.admin,
    )
    assert blocked.status_code == 200
    answer = await api.order(alice, side="buy", type="limit", qty=1, limit_price="100")
    # The kill switch stops the account's keys at the gateway (the engine would say 2004).
    assert (answer.status_code, answer.json()["code"]) == (403, 4020)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"side": "buy", "type": "limit", "qty": 1, "limit_price": "1"}', "symbol"),
        (
            '{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": 1.5}',
            "limit_price",
        ),
        ('{"symbol": "XYZ", "side": "up", "type": "limit", "qty": 1}', "side"),
        ('{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": -1}', "qty"),
        ('{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "colour": "red"}', None),
        ("not json", None),
    ],
)
@on_shared_platform
async def test_a_malformed_order_is_a_422_that_names_the_field(
    api: Served, body: str, field: str | None
) -> None:
    alice = await api.trader("alice")
    answer = await api.client.post(
        "/v1/orders", content=body, headers={**alice, "content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == 1000
    if field is not None:
        assert answer.json()["field"] == field


async def test_auth_tokens_second_factor_and_api_keys(api_single: Served) -> None:
    await api_single.trader("alice")
    order = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": "99"}
    assert (await api_single.client.post("/v1/orders", json=order)).json()["code"] == 4003
    token = await api_single.login("alice")
    no_mfa = {"Authorization": f"Bearer {token}"}
    answer = await api_single.client.post("/v1/orders", json=order, headers=no_mfa)
    assert (answer.status_code, answer.json()["code"]) == (401, 4004)
    # A password alone opens only the second factor: no reads either.
    answer = await api_single.client.get("/v1/account", headers=no_mfa)
    assert (answer.status_code, answer.json()["code"]) == (401, 4004)

    tampered = {
        "Authorization": f"Bearer {token[:-3]}{'A' if token[-3] != 'A' else 'B'}{token[-2:]}"
    }
    assert (await api_single.client.get("/v1/account", headers=tampered)).json()["code"] == 4003
    api_single.clock.offset_ns += 3_600 * 1_000_000_000  # past the access token's 15 minutes
    answer = await api_single.client.get("/v1/account", headers=no_mfa)
    assert (answer.status_code, answer.json()["code"]) == (401, 4002)

    wrong = {"X-API-Key-Id": "TFnope", "X-API-Secret": "x" * 43}
    assert (await api_single.client.get("/v1/account", headers=wrong)).status_code == 401
    assert (await api_single.client.post("/v1/admin/halts/XYZ", headers=no_mfa)).status_code in (
        401,
        403,
    )
    bad_login = await api_single.client.post(
        "/v1/auth/login", json={"username": "alice", "password": "nope-nope"}
    )
    assert (bad_login.status_code, bad_login.json()["code"]) == (401, 4001)


@on_shared_platform
async def test_admin_routes_need_the_admin_role(api: Served) -> None:
    alice = await api.trader("alice")
    answer = await api.client.post(f"/v1/admin/halts/{api.sym}", headers=alice)
    assert (answer.status_code, answer.json()["code"]) == (403, 4006)


async def test_rate_limit_answers_429_with_retry_after(
    tmp_path: Path, database_url: str | None
) -> None:
    limits = {"orders_per_second_max": 2, "orders_burst_max": 3}
    async with served(tmp_path / "data", database_url, **limits) as api:
        await api.symbol()
        alice = await api.trader("alice")
        api.clock.freeze()  # every order at one instant: the bucket does not refill
        answers = [
            await api.order(alice, side="buy", type="limit", qty=1, limit_price="90")
            for _ in range(5)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        limited = answers[3]
        assert limited.json()["code"] == 4007
        assert int(limited.headers["Retry-After"]) >= 1
        api.clock.offset_ns += 1_000_000_000  # a second later: two more tokens
        again = await api.order(alice, side="buy", type="limit", qty=1, limit_price="90")
        assert again.status_code == 200
        for _ in range(25):  # keeps hammering: a temporary ban
            last = await api.order(alice, side="buy", type="limit", qty=1, limit_price="90")
        assert (last.status_code, last.json()["code"]) == (429, 4018)
        api.clock.offset_ns += 5_000_000_000  # tokens again, but the ban holds
        banned = await api.order(alice, side="buy", type="limit", qty=1, limit_price="90")
        assert (banned.status_code, banned.json()["code"]) == (429, 4018)
        assert int(banned.headers["Retry-After"]) > 1


@on_shared_platform
async def test_a_retry_with_the_same_client_order_id_returns_the_first_answer(api: Served) -> None:
    alice = await api.trader("alice")
    terms = {
        "side": "buy",
        "type": "limit",
        "qty": 5,
        "limit_price": "99",
        "client_order_id": "c-1",
    }
    first, *retries = await asyncio.gather(*(api.order(alice, **terms) for _ in range(4)))
    assert first.status_code == 200
    assert all(r.content == first.content for r in retries)
    listed = (await api.client.get("/v1/orders", headers=alice)).json()["orders"]
    assert [o["client_order_id"] for o in listed] == ["c-1"]


@on_shared_platform
async def test_a_retry_is_answered_with_the_first_order_as_it_stands_now(api: Served) -> None:
    alice = await api.trader("alice")
    bob = await api.trader("bob", cash="0", shares={api.sym: 10})
    terms = {"side": "buy", "type": "limit", "qty": 5, "limit_price": "100"}
    placed = await api.order(alice, client_order_id="c-1", **terms)
    await api.order(bob, side="sell", type="limit", qty=2, limit_price="100")

    retried = await api.order(alice, client_order_id="c-1", **terms)
    other = await api.order(alice, client_order_id="c-1", **{**terms, "qty": 6})

    assert retried.status_code == 200 and retried.json()["id"] == placed.json()["id"]
    assert placed.json()["status"] == "new"
    answer = retried.json()
    assert (answer["status"], answer["filled_qty"], answer["leaves_qty"]) == (
        "partially_filled",
        2,
        3,
    )
    assert [fill["qty"] for fill in answer["fills"]] == [2]
    assert set(answer) == set(placed.json())  # the shape of the first answer
    assert (other.status_code, other.json()) == (
        422,
        {"code": 1016, "message": "client order id already used for an order with other terms"},
    )


@on_shared_platform
async def test_a_replacement_answers_to_the_client_order_id_its_replace_names(
    api: Served,
) -> None:
    alice = await api.trader("alice")
    placed = (await api.order(alice, side="buy", type="limit", qty=5, limit_price="95",
                              client_order_id="c-1")).json()  # fmt: skip

    unnamed = await api.client.patch(
        f"/v1/orders/{placed['id']}", json={"limit_price": "94"}, headers=alice
    )
    named = await api.client.patch(
        f"/v1/orders/{unnamed.json()['id']}",
        json={"limit_price": "93", "client_order_id": "c-2"},
        headers=alice,
    )
    reused = await api.client.patch(
        f"/v1/orders/{named.json()['id']}",
        json={"limit_price": "92", "client_order_id": "c-1"},
        headers=alice,
    )

    assert unnamed.status_code == 200 and unnamed.json()["client_order_id"] is None
    assert named.status_code == 200 and named.json()["client_order_id"] == "c-2"
    assert (reused.status_code, reused.json()["code"]) == (422, 1016)
    retried = await api.order(alice, side="buy", type="limit", qty=5, limit_price="95",
                              client_order_id="c-1")  # fmt: skip
    assert (retried.json()["id"], retried.json()["status"]) == (placed["id"], "replaced")


@on_shared_platform
async def test_read_your_writes(api: Served) -> None:
    alice = await api.trader("alice")
    for index in range(20):
        placed = await api.order(
            alice, side="buy", type="limit", qty=1, limit_price=f"{90 + index}"
        )
        got = await api.client.get(f"/v1/orders/{placed.json()['id']}", headers=alice)
        assert got.status_code == 200 and got.json()["limit_price"] == f"{90 + index}.00"
    listed = (await api.client.get("/v1/orders?status=open&limit=500", headers=alice)).json()
    assert len(listed["orders"]) == 20


@on_shared_platform
async def test_pagination_of_orders(api: Served) -> None:
    alice = await api.trader("alice")
    for index in range(7):
        await api.order(alice, side="buy", type="limit", qty=1, limit_price=f"{90 + index}")
    seen: list[str] = []
    token = None
    while True:
        query = "/v1/orders?limit=3" + (f"&page_token={token}" if token else "")
        page = (await api.client.get(query, headers=alice)).json()
        seen += [o["id"] for o in page["orders"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    assert seen == sorted(seen, key=int, reverse=True)


async def test_restart_recovers_orders_accounts_and_logins(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    terms = {"side": "buy", "type": "limit", "qty": 3, "limit_price": "95"}
    async with served(data, database_url) as api:
        await api.symbol()
        alice = await api.trader("alice")
        placed = (await api.order(alice, client_order_id="before-restart", **terms)).json()
        state = api.platform.engine.state_hash()
        seq = api.platform.engine.last_seq
    async with served(data, database_url) as api:
        assert api.platform.engine.last_seq == seq  # nothing journaled since
        assert api.platform.engine.state_hash() == state
        got = await api.client.get(f"/v1/orders/{placed['id']}", headers=alice)
        assert got.status_code == 200 and got.json()["status"] == "new"
        account = (await api.client.get("/v1/account", headers=alice)).json()
        assert account["held_for_orders"] == "285.00"
        retried = await api.order(alice, client_order_id="before-restart", **terms)
        assert retried.status_code == 200 and retried.json()["id"] == placed["id"]
        listed = (await api.client.get("/v1/orders", headers=alice)).json()["orders"]
        assert [order["id"] for order in listed] == [placed["id"]]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@on_shared_platform
async def test_health_ready_metrics_and_docs(api: Served) -> None:
    alice = await api.trader("alice")
    count = f'tradingfloor_order_ack_seconds_count{{symbol="{api.sym}"}}'
    before = metric((await api.client.get("/metrics", headers=api.admin)).text, count)
    await api.order(alice, side="buy", type="limit", qty=1, limit_price="99")
    await api.order(alice, side="buy", type="limit", qty=1, limit_price="100.001")
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    assert (await api.client.get("/readyz")).json() == {"status": "ready"}
    detailed = (await api.client.get("/readyz", headers=api.admin)).json()
    assert detailed["status"] == "ready" and detailed["problems"] == [] and detailed["seq"] > 0
    assert (await api.client.get("/metrics")).status_code == 401
    assert (await api.client.get("/metrics", headers=alice)).status_code == 403
    metrics = (await api.client.get("/metrics", headers=api.admin)).text
    assert metric(metrics, count) == before + 2
    assert metric(metrics, 'tradingfloor_rejects_total{reason="PRICE_NOT_ON_TICK"}') >= 1
    assert "tradingfloor_journal_batch_commands_bucket" in metrics
    assert "tradingfloor_matching_seconds_bucket" in metrics
    schema = (await api.client.get("/openapi.json")).json()
    assert "/v1/orders" in schema["paths"] and "OrderRequest" in schema["components"]["schemas"]
    assert (await api.client.get("/docs")).status_code == 200


def test_logs_are_one_json_object_per_line() -> None:
    import json
    import logging

    from tradingfloor.gateway.logs import JsonFormatter

    record = logging.LogRecord("tradingfloor.serve", logging.INFO, "x", 1, "started", (), None)
    record.seq = 42
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "started" and entry["seq"] == 42 and entry["level"] == "info"
    assert entry["ts"].endswith("Z")


async def test_refresh_rotates_and_a_reused_refresh_token_is_refused(api_single: Served) -> None:
    await api_single.trader("alice")
    login = await api_single.client.post(
        "/v1/auth/login", json={"username": "alice", "password": "trader-password"}
    )
    first = login.json()["refresh_token"]
    rotated = await api_single.client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != first
    reused = await api_single.client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401
    later = await api_single.client.post(
        "/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}
    )
    assert later.status_code == 401  # reuse revoked every session of the user


MORE_REJECTS = [
    ({"side": "sell", "type": "limit", "qty": 1, "limit_price": "89"}, 422, 2009),
    (
        {"side": "buy", "type": "limit", "qty": 10, "limit_price": "100", "time_in_force": "fok"},
        422,
        3003,
    ),
    (
        {"side": "buy", "type": "stop_limit", "qty": 1, "limit_price": "120", "stop_price": "100"},
        422,
        2009,
    ),
    (
        {"side": "buy", "type": "limit", "qty": 1, "limit_price": "100", "trail_price": "1"},
        422,
        1014,
    ),
    (
        {
            "side": "buy",
            "type": "trailing_stop",
            "qty": 1,
            "trail_price": "1",
            "trail_percent": "1",
        },
        422,
        1010,
    ),
]


@on_shared_platform
async def test_more_rejects_over_http(api: Served) -> None:
    alice = await api.trader("alice", shares={api.sym: 10})
    for terms, status, code in MORE_REJECTS:
        answer = await api.order(alice, **terms)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (terms, answer.text)
    newco = f"{api.sym}.NEW"
    listed = await api.client.post("/v1/admin/symbols", json={"symbol": newco}, headers=api.admin)
    assert listed.status_code == 200  # no reference price: market orders are refused
    answer = await api.order(alice, symbol=newco, side="buy", type="market", qty=1)
    assert (answer.status_code, answer.json()["code"]) == (422, 2016), answer.text


async def test_orders_filtered_by_time_and_symbol(api_single: Served) -> None:
    alice = await api_single.trader("alice")
    await api_single.symbol("ABC", "50")
    await api_single.order(alice, side="buy", type="limit", qty=1, limit_price="99")
    middle = api_single.platform.engine.last_ts
    await api_single.order(alice, symbol="ABC", side="buy", type="limit", qty=1, limit_price="49")
    later = (await api_single.client.get(f"/v1/orders?after={middle}", headers=alice)).json()[
        "orders"
    ]
    assert [o["symbol"] for o in later] == ["ABC"]
    xyz = (await api_single.client.get("/v1/orders?symbol=XYZ", headers=alice)).json()["orders"]
    assert [o["symbol"] for o in xyz] == ["XYZ"]
    bad = await api_single.client.get("/v1/orders?after=yesterday", headers=alice)
    assert (bad.status_code, bad.json()["code"]) == (422, 1000)


async def test_a_read_the_read_models_cannot_serve_in_time_is_a_503(
    api_single: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradingfloor.gateway import backend

    alice = await api_single.trader("alice")
    monkeypatch.setattr(backend, "read_wait_s_max", 0.05)
    assert api_single.platform is not None
    # As if the projector had fallen behind; put back before the platform stops (which
    # would wait for the projector to reach the last seq), as monkeypatch is undone first.
    monkeypatch.setattr(api_single.platform.projection, "projected_seq", 0)
    answer = await api_single.client.get("/v1/orders", headers=alice)
    assert (answer.status_code, answer.json()["code"]) == (503, 5032)
    assert answer.headers["Retry-After"] == "1"


@on_shared_platform
async def test_the_documentation_works_offline_and_declares_how_to_authenticate(
    api: Served,
) -> None:
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = (await api.client.get(page)).text
        assert "cdn.jsdelivr.net" not in html and f"/static-offline-docs/{asset}" in html
        script = await api.client.get(f"/static-offline-docs/{asset}")
        assert script.status_code == 200 and len(script.content) > 100_000
    schema = (await api.client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyId"] == {"type": "apiKey", "in": "header", "name": "X-API-Key-Id"}
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/v1/auth/login"]["post"]["security"] == []
    assert {"Bearer": []} in schema["security"]


async def test_a_client_gone_before_its_body_was_read_is_counted_not_an_error(
    api_single: Served,
) -> None:
    api = api_single
    alice = await api.trader("alice")
    name = "tradingfloor_client_disconnects_total"
    before = metric((await api.client.get("/metrics", headers=api.admin)).text, name)
    assert api.server is not None
    app = api.server.config.app
    answers = []
    for path, headers in (("/v1/orders", alice), ("/v1/admin/symbols", api.admin)):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }

        async def receive() -> dict[str, object]:
            return {"type": "http.disconnect"}  # the client left before its body was read

        async def send(message: dict[str, object], sent: list[object] = answers) -> None:
            sent.append(message)

        await app(scope, receive, send)  # no exception: the fast path, then a routed one
    statuses = [m["status"] for m in answers if m["type"] == "http.response.start"]
    assert (
        len(statuses) == 2 and statuses[0] == 499
    )  # FastAPI's own body reading answers the other
    after = metric((await api.client.get("/metrics", headers=api.admin)).text, name)
    assert after == before + 1
