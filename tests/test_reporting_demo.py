"""The demo market for a few seconds on a real shard, with the reporting role beside it (as
`serve --single-process` wires it): every execution has exactly one report, none late, the
table holds each once, and the CAT file of the run is complete and valid."""

import asyncio
import json
from pathlib import Path

from sqlalchemy import select

from tradingfloor.bootstrap.reporting_role import make_role, reports_dir
from tradingfloor.bootstrap.setup import start_demo_market
from tradingfloor.compliance.cat_check import check_cat_files
from tradingfloor.compliance.trade_reports import trade_id_of
from tradingfloor.config import load_settings
from tradingfloor.domain.events import TradeExecuted
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.service.node import NodeSettings
from tradingfloor.service.shard import ShardRole
from tradingfloor.store import make_engine, trade_reports, upgrade

DEMO_S = 3.0
"""How long the demo trades (a bounded load: the demo paces itself at 50 commands/s)."""
WAIT_S = 60.0


def executions(shard: ShardRole) -> list[str]:
    """The trade id of every execution in the shard's event log."""
    ids = []
    for seq, _, events in shard.node.events.read(1):
        trades = [event for event in events if type(event) is TradeExecuted]
        ids += [trade_id_of("main", seq, index) for index in range(1, len(trades) + 1)]
    return ids


async def test_every_demo_execution_is_reported_once_and_in_time(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path, shard_name="main")
    upgrade(settings.database_url)
    shard = ShardRole(NodeSettings(tmp_path / "shard", fsync=False, risk=RiskSettings()))
    await shard.start()
    role = make_role(settings, {"main": shard})
    await role.start()
    stop = asyncio.Event()
    try:
        market = await start_demo_market(shard, stop, seed=7)
        await asyncio.sleep(DEMO_S)
        stop.set()
        await asyncio.wait_for(market, WAIT_S)
        await asyncio.wait_for(role.caught_up(WAIT_S), WAIT_S)
        traded = executions(shard)
        with make_engine(settings.database_url).connect() as connection:
            stored = list(connection.scalars(select(trade_reports.c.trade_id)))
    finally:
        await role.stop()
        await shard.stop()

    directory = reports_dir(settings)
    reports = [
        json.loads(line)
        for path in sorted((directory / "trades").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(traded) > 10  # the demo traded
    assert sorted(report["trade_id"] for report in reports) == sorted(traded)
    assert sorted(stored) == sorted(traded)
    assert [report for report in reports if report["late"]] == []
    cat = check_cat_files(sorted((directory / "cat").glob("*.jsonl")))
    assert cat.problems == []
    assert cat.counts["MEOT"] == len(traded)
    assert cat.counts["MENO"] > 0 and cat.counts.get("MEOC", 0) > 0
