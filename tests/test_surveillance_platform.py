"""The surveillance role on a served platform: trades placed over HTTP by two users whose
accounts have one beneficial owner (`surveillance_owners`) come back as a wash-trade alert
in the review queue, with the evidence of the real feed; a user trading with another owner
raises none."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api_helpers import Served, served
from tradingfloor.bootstrap.surveillance_role import make_role
from tradingfloor.store import make_engine

WAIT_S = 30.0


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Served]:
    owners = {"alice": "smith-family", "bob": "smith-family"}
    async with served(tmp_path / "data", surveillance_owners=owners) as here:
        await here.symbol("XYZ", "100")
        yield here


async def test_two_accounts_of_one_owner_trading_together_are_flagged(api: Served) -> None:
    alice = await api.trader("alice", shares={"XYZ": 100})
    bob = await api.trader("bob")
    carol = await api.trader("carol")
    sold = await api.order(alice, side="sell", type="limit", qty=40, limit_price="100")
    bought = await api.order(bob, side="buy", type="limit", qty=30, limit_price="100")
    assert await api.order(carol, side="buy", type="limit", qty=10, limit_price="100")
    assert api.platform is not None
    settings = api.platform.backend.settings
    store = make_engine(settings.database_url)
    role = await make_role(settings, {settings.shard_name: api.shard}, store)
    await role.start()
    try:
        await role.caught_up(WAIT_S)
    finally:
        await role.stop()
        store.dispose()

    listed = await api.client.get("/v1/admin/alerts", headers=api.admin)
    [alert] = listed.json()["alerts"]
    assert alert["pattern"] == "wash_trade" and alert["owner"] == "smith-family"
    assert alert["accounts"] == ["alice", "bob"] and alert["score"] == 30
    found = await api.client.get(f"/v1/admin/alerts/{alert['id']}", headers=api.admin)
    evidence = found.json()["evidence"]
    assert sorted(evidence["order_ids"]) == sorted([sold.json()["id"], bought.json()["id"]])
    seqs = [event["seq"] for event in evidence["events"]]
    assert int(bought.headers["TF-Seq"]) in seqs
