"""Hostile requests to the review queue, corporate actions and settlement routes: a trader
is refused every one (403), bad break ids are unknown breaks (404), oversize or unprintable
reasons, bad money, bad dates, unknown fields and out-of-range numbers are 422, and none of
it reaches the shard (nothing is journaled)."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api_helpers import Served, served

RESOLVE = "/v1/admin/breaks/2026-12-01/UNCONFIRMED/s0:1/resolve"
ACTIONS = "/v1/admin/corporate-actions"
SPLIT = {"kind": "split", "id": "S1", "symbol": "XYZ", "old_shares": 1, "new_shares": 2,
         "ex_date": "2026-12-07"}  # fmt: skip
DIVIDEND = {"kind": "dividend", "id": "D1", "symbol": "XYZ", "amount_per_share": "0.24",
            "record_date": "2026-12-08", "pay_date": "2026-12-15"}  # fmt: skip


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Served]:
    async with served(tmp_path / "data") as here:
        await here.symbol("XYZ", "100")
        yield here


ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/admin/breaks", None),
    ("GET", "/v1/admin/breaks/2026-12-01/UNCONFIRMED/s0:1", None),
    ("POST", RESOLVE, {"reason": "fine"}),
    ("GET", ACTIONS, None),
    ("POST", ACTIONS, SPLIT),
    ("GET", "/v1/admin/settlement", None),
]


async def test_a_trader_is_refused_every_route(api: Served) -> None:
    alice = await api.trader("alice")
    before = await api.shard.last_seq()

    for method, path, body in ROUTES:
        answer = await api.client.request(method, path, json=body, headers=alice)
        assert answer.status_code == 403, (path, answer.text)
        anonymous = await api.client.request(method, path, json=body)
        assert anonymous.status_code == 401, (path, anonymous.text)

    assert await api.shard.last_seq() == before


@pytest.mark.parametrize(
    "break_id",
    [
        "has space",
        "x" * 201,
        "tab%09here",
        "%00",
        "caf\u00e9",
    ],
)
async def test_a_break_id_that_cannot_be_one_is_an_unknown_break(
    api: Served, break_id: str
) -> None:
    got = await api.client.get(f"/v1/admin/breaks/{break_id}", headers=api.admin)
    resolved = await api.client.post(
        f"/v1/admin/breaks/{break_id}/resolve", json={"reason": "x"}, headers=api.admin
    )

    assert (got.status_code, got.json()["code"]) == (404, 6007)
    assert (resolved.status_code, resolved.json()["code"]) == (404, 6007)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "r" * 501},
        {"reason": "a\u0000b"},
        {"reason": "two\nlines"},
        {"reason": 5},
        {"reason": "ok", "cash_adjustment": "12.345678"},
        {"reason": "ok", "cash_adjustment": "1e5"},
        {"reason": "ok", "cash_adjustment": "--1"},
        {"reason": "ok", "cash_adjustment": "NaN"},
        {"reason": "ok", "cash_adjustment": "9" * 40},
        {"reason": "ok", "cash_adjustment": 12.5},
        {"reason": "ok", "shares_adjustment": 10**12},
        {"reason": "ok", "shares_adjustment": "5x"},
        {"reason": "ok", "resolved_by": "someone else"},
    ],
)
async def test_a_bad_resolution_is_refused_before_the_shard(
    api: Served, body: dict[str, Any]
) -> None:
    before = await api.shard.last_seq()

    answer = await api.client.post(RESOLVE, json=body, headers=api.admin)

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == 1000
    assert await api.shard.last_seq() == before


@pytest.mark.parametrize(
    "body",
    [
        {**SPLIT, "kind": "merger"},
        {**SPLIT, "old_shares": 0},
        {**SPLIT, "new_shares": 10**9},
        {**SPLIT, "ex_date": "2026-02-30"},
        {**SPLIT, "ex_date": "tomorrow"},
        {**SPLIT, "id": ""},
        {**SPLIT, "id": "a" * 65},
        {**SPLIT, "id": "bad id"},
        {**SPLIT, "symbol": "xyz"},
        {**SPLIT, "cash_in_lieu_price": "-1"},
        {**SPLIT, "cash_in_lieu_price": "1.00001"},
        {**SPLIT, "extra": 1},
        {**DIVIDEND, "amount_per_share": "0.123456"},
        {**DIVIDEND, "amount_per_share": "1e3"},
        {**DIVIDEND, "pay_date": "2026-13-01"},
        {"kind": "symbol_change", "id": "C1", "symbol": "XYZ", "new_symbol": "A B",
         "effective_date": "2026-12-09"},
    ],
)  # fmt: skip
async def test_a_bad_corporate_action_is_refused_before_the_shard(
    api: Served, body: dict[str, Any]
) -> None:
    before = await api.shard.last_seq()

    answer = await api.client.post(ACTIONS, json=body, headers=api.admin)

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == 1000
    assert await api.shard.last_seq() == before


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/admin/breaks", {"status": "closed"}),
        ("/v1/admin/breaks", {"limit": 0}),
        ("/v1/admin/breaks", {"limit": 501}),
        ("/v1/admin/breaks", {"date": "yesterday"}),
        ("/v1/admin/breaks", {"kind": "everything"}),
        ("/v1/admin/breaks", {"account": "a" * 65}),
        ("/v1/admin/breaks", {"account": "a\u0000b"}),
        ("/v1/admin/breaks", {"page_token": "a\u0000b"}),
        ("/v1/admin/breaks", {"page_token": "x" * 201}),
        (ACTIONS, {"kind": "merger"}),
        (ACTIONS, {"limit": 100_000}),
        (ACTIONS, {"page_token": "no good"}),
        ("/v1/admin/settlement", {"limit": 367}),
    ],
)
async def test_bad_list_parameters_are_refused(
    api: Served, path: str, params: dict[str, Any]
) -> None:
    answer = await api.client.get(path, params=params, headers=api.admin)

    assert answer.status_code == 422, answer.text
