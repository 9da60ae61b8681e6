"""The surveillance review queue over real HTTP, on SQLite and on PostgreSQL: alerts listed
by filter and page, read with their evidence, reviewed once (dismissed or escalated, with the
reviewer and the note), and refused to anyone but an admin."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api_helpers import Served, served
from tradingfloor.compliance.surveillance.alerts import (
    Alert,
    Pattern,
    alert_id,
    make_evidence,
)
from tradingfloor.compliance.surveillance.role import alert_row
from tradingfloor.store import make_engine
from tradingfloor.store.surveillance_queries import Place, store_alerts

TS = 1_796_000_000 * 1_000_000_000


def alert(pattern: Pattern, number: int, accounts: tuple[str, ...], symbol: str) -> Alert:
    evidence = make_evidence("main", [number, number + 1], [number * 10, number * 10 + 1], "why")
    return Alert(
        alert_id(pattern, "main", str(number)),
        pattern,
        "main",
        accounts,
        accounts[0],
        symbol,
        TS + number,
        number * 10 + 1,
        number,
        f"alert {number}",
        evidence,
    )


ALERTS = [
    alert(Pattern.WASH_TRADE, 1, ("A", "B"), "ACME"),
    alert(Pattern.SPOOFING, 2, ("C",), "ACME"),
    alert(Pattern.MARKING_THE_CLOSE, 3, ("A",), "GLOBX"),
    alert(Pattern.ORDER_ENTRY_ABUSE, 4, ("A_1",), "TINY"),
]


@pytest.fixture
async def api(tmp_path: Path, database_url: str | None) -> AsyncIterator[Served]:
    async with served(tmp_path / "data", database_url) as here:
        assert here.platform is not None
        database = make_engine(here.platform.backend.settings.database_url)
        with database.begin() as connection:
            rows = [alert_row(found) for found in ALERTS]
            store_alerts(connection, rows, {"main": Place(50, 1)})
        database.dispose()
        yield here


def ids(answer: object) -> list[str]:
    return [found["id"] for found in answer.json()["alerts"]]  # type: ignore[attr-defined]


async def test_alerts_list_newest_first_by_filter_and_page(api: Served) -> None:
    get, admin = api.client.get, api.admin
    every = await get("/v1/admin/alerts", headers=admin)
    assert every.status_code == 200
    assert ids(every) == [found.alert_id for found in reversed(ALERTS)]
    assert every.json()["alerts"][3]["accounts"] == ["A", "B"]
    assert "evidence" not in every.json()["alerts"][0]
    spoofing = await get("/v1/admin/alerts", params={"pattern": "spoofing"}, headers=admin)
    assert ids(spoofing) == [ALERTS[1].alert_id]
    of_symbol = await get("/v1/admin/alerts", params={"symbol": "ACME"}, headers=admin)
    assert ids(of_symbol) == [ALERTS[1].alert_id, ALERTS[0].alert_id]
    of_account = await get("/v1/admin/alerts", params={"account": "A"}, headers=admin)
    assert ids(of_account) == [ALERTS[2].alert_id, ALERTS[0].alert_id]  # not A_1
    pages: list[str] = []
    params: dict[str, str | int] = {"limit": 3}
    while True:
        page = await get("/v1/admin/alerts", params=params, headers=admin)
        pages += ids(page)
        if page.json()["next_page_token"] is None:
            break
        params["page_token"] = page.json()["next_page_token"]
    assert pages == ids(every)


async def test_an_alert_is_read_with_its_evidence(api: Served) -> None:
    answer = await api.client.get(f"/v1/admin/alerts/{ALERTS[0].alert_id}", headers=api.admin)
    assert answer.status_code == 200
    body = answer.json()
    assert body["pattern"] == "wash_trade" and body["state"] == "open"
    assert body["evidence"] == {
        "order_ids": ["1", "2"],
        "events": [{"shard": "main", "seq": 10}, {"shard": "main", "seq": 11}],
        "explanation": "why",
    }
    missing = await api.client.get(f"/v1/admin/alerts/{alert_id(Pattern.WASH_TRADE, 'x', 'y')}",
                                   headers=api.admin)  # fmt: skip
    assert missing.status_code == 404
    assert (await api.client.get("/v1/admin/alerts/nope", headers=api.admin)).status_code == 404


async def test_an_alert_is_reviewed_once(api: Served) -> None:
    path = f"/v1/admin/alerts/{ALERTS[1].alert_id}"
    body = {"action": "escalate", "note": "layered bids twice this week"}
    answer = await api.client.post(path, json=body, headers=api.admin)
    assert answer.status_code == 200, answer.text
    review = answer.json()["review"]
    assert answer.json()["state"] == "closed"
    assert review["outcome"] == "escalated" and review["note"] == body["note"]
    assert review["reviewer"] and review["ts"] > 0
    again = await api.client.post(path, json={**body, "action": "dismiss"}, headers=api.admin)
    assert again.status_code == 409
    closed = await api.client.get("/v1/admin/alerts", params={"state": "closed"},
                                  headers=api.admin)  # fmt: skip
    assert ids(closed) == [ALERTS[1].alert_id]
    assert ALERTS[1].alert_id not in ids(await api.client.get("/v1/admin/alerts",
                                                              headers=api.admin))  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"action": "ignore", "note": "x"},
        {"action": "dismiss", "note": ""},
        {"action": "dismiss", "note": "two\nlines"},
        {"action": "dismiss", "note": "x" * 2_001},
        {"action": "dismiss", "note": "x", "extra": 1},
    ],
)
async def test_a_review_out_of_bounds_is_refused(api: Served, body: dict[str, object]) -> None:
    path = f"/v1/admin/alerts/{ALERTS[0].alert_id}"
    assert (await api.client.post(path, json=body, headers=api.admin)).status_code == 422
    assert (await api.client.get(path, headers=api.admin)).json()["state"] == "open"


async def test_bounds_of_the_list_are_kept(api: Served) -> None:
    for params in ({"limit": 501}, {"limit": 0}, {"state": "new"}, {"pattern": "fraud"}):
        answer = await api.client.get("/v1/admin/alerts", params=params, headers=api.admin)
        assert answer.status_code == 422, params


async def test_only_an_admin_sees_or_reviews_alerts(api: Served) -> None:
    trader = await api.trader("trader1")
    path = f"/v1/admin/alerts/{ALERTS[0].alert_id}"
    assert (await api.client.get("/v1/admin/alerts", headers=trader)).status_code == 403
    assert (await api.client.get(path, headers=trader)).status_code == 403
    body = {"action": "dismiss", "note": "mine"}
    assert (await api.client.post(path, json=body, headers=trader)).status_code == 403
    assert (await api.client.get("/v1/admin/alerts")).status_code == 401
    assert (await api.client.get(path, headers=api.admin)).json()["state"] == "open"
