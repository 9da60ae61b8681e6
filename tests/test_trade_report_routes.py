"""`/v1/admin/trade-reports` and its WebSocket over real HTTP, with the reporting role
running on the served platform's shard: paging, the stream of new reports, admin only."""

import asyncio
import json
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api_helpers import Served, served
from tradingfloor.bootstrap.reporting_role import make_role

WAIT_S = 30.0


def ws_url(api: Served, path: str) -> str:
    return str(api.client.base_url).replace("http://", "ws://") + path


async def trade_three_times(api: Served) -> None:
    await api.symbol("XYZ")
    alice = await api.trader("alice")
    bob = await api.trader("bob", shares={"XYZ": 100})
    sold = await api.order(bob, side="sell", type="limit", qty=30, limit_price="99.00")
    assert sold.status_code in (200, 201), sold.text
    for _ in range(3):
        bought = await api.order(alice, side="buy", type="limit", qty=10, limit_price="99.00")
        assert bought.status_code in (200, 201), bought.text


async def test_reports_are_paged_and_streamed_as_they_land(tmp_path: Path) -> None:
    async with served(tmp_path) as api:
        assert api.platform is not None
        role = make_role(api.platform.settings, {api.platform.settings.shard_name: api.shard})
        await role.start()
        try:
            url = ws_url(api, "/v1/admin/trade-reports/stream")
            async with connect(url, additional_headers=api.admin) as stream:
                await trade_three_times(api)
                streamed = [
                    json.loads(await asyncio.wait_for(stream.recv(), WAIT_S)) for _ in range(3)
                ]
            first = await api.client.get(
                "/v1/admin/trade-reports?since_id=0&limit=2", headers=api.admin
            )
            since = first.json()["next_since_id"]
            rest = await api.client.get(
                f"/v1/admin/trade-reports?since_id={since}&limit=2", headers=api.admin
            )
        finally:
            await role.stop()

    assert [message["report"]["quantity"] for message in streamed] == [10, 10, 10]
    assert [message["report"]["price_text"] for message in streamed] == ["99.00"] * 3
    assert {message["report"]["late"] for message in streamed} == {False}
    paged = first.json()["reports"] + rest.json()["reports"]
    assert [report["id"] for report in paged] == [message["id"] for message in streamed]
    assert len(first.json()["reports"]) == 2 and len(rest.json()["reports"]) == 1
    trade_ids = [report["report"]["trade_id"] for report in paged]
    assert len(set(trade_ids)) == 3


async def test_serve_as_processes_runs_the_reporting_role(tmp_path: Path) -> None:
    async with served(tmp_path, topology="processes", reporting_enabled=True) as api:
        await trade_three_times(api)
        deadline = time.monotonic() + WAIT_S
        while True:
            listed = await api.client.get("/v1/admin/trade-reports", headers=api.admin)
            reports = listed.json()["reports"]
            if len(reports) >= 3 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)

    assert [report["report"]["quantity"] for report in reports] == [10, 10, 10]
    day = reports[0]["report"]["trade_date"]
    written = (tmp_path / "reports" / "trades" / f"{day}.jsonl").read_text().splitlines()
    assert [json.loads(line)["trade_id"] for line in written] == [
        report["report"]["trade_id"] for report in reports
    ]
    assert (tmp_path / "reports" / "cat" / f"{day}.jsonl").exists()


async def test_only_an_admin_reads_trade_reports(tmp_path: Path) -> None:
    async with served(tmp_path) as api:
        carol = await api.trader("carol")
        listed = await api.client.get("/v1/admin/trade-reports", headers=carol)
        anonymous = await api.client.get("/v1/admin/trade-reports")
        url = ws_url(api, "/v1/admin/trade-reports/stream")
        async with connect(url, additional_headers=carol) as stream:
            try:
                await asyncio.wait_for(stream.recv(), WAIT_S)
                closed_code = None
            except ConnectionClosed as closed:
                closed_code = closed.rcvd.code if closed.rcvd else None

    assert listed.status_code == 403
    assert anonymous.status_code == 401
    assert closed_code == 1008
