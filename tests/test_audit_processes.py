"""The audit role under `serve` as processes: orders sent through the API are chained with
who sent them; `kill -9` of the role mid-stream leaves a trail that, once the supervisor has
started it again, holds every journaled command exactly once (the journal, one to one) and
that `audit verify` proves whole against the anchors in the database."""

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec

from api_helpers import served
from test_processes import _kill, _restarted, _until
from tradingfloor.bootstrap.audit_role import verify_trail
from tradingfloor.compliance.audit_chain import chain_files
from tradingfloor.compliance.audit_records import describe
from tradingfloor.config import load_settings
from tradingfloor.journal.file import FileJournal

ORDER = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": "90"}


def trail(data: Path) -> list[dict[str, Any]]:
    found = []
    for path in chain_files(data / "audit"):
        for line in path.read_bytes().splitlines():
            if line.endswith(b"}"):  # a torn last line is not a record
                found.append(msgspec.json.decode(line[65:]))
    return found


def journal(data: Path) -> list[Any]:
    journal = FileJournal(data / "node" / "journal")
    journal.open_sync()
    try:
        return list(journal.read(1))
    finally:
        journal.log.close()


async def test_the_trail_survives_kill_9_and_matches_the_journal_one_to_one(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with served(data, None, "processes", audit_enabled=True) as here:
        await here.symbol("XYZ", "100")
        alice = await here.trader("alice")
        placed = await here.client.post("/v1/orders", json=ORDER, headers=alice)
        assert placed.status_code == 200, placed.text
        await _until(lambda: len(trail(data)) > 0)

        stop = asyncio.Event()

        async def orders() -> int:
            count = 0
            while not stop.is_set():
                answer = await here.client.post("/v1/orders", json=ORDER, headers=alice)
                count += answer.status_code == 200
            return count

        flow = asyncio.create_task(orders())
        await asyncio.sleep(0.5)
        old = _kill(here, "audit")
        await _until(lambda: _restarted(here, "audit", old))
        await asyncio.sleep(0.5)
        stop.set()
        assert await flow > 0
        last_seq = await here.shard.last_seq()
        await _until(lambda: _chained_up_to(data, last_seq), timeout_s=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the access events (sign-ups, keys) come too
            if any(r["kind"] == "access" for r in trail(data)):
                break
            await asyncio.sleep(0.1)

    records = trail(data)
    commands = [r for r in records if r["kind"] == "command"]
    entries = journal(data)
    assert [(r["seq"], r["command"]) for r in commands] == [
        (entry.seq, describe(entry.command)) for entry in entries
    ]
    mine = [r for r in commands if r["command"]["type"] == "PlaceOrder"]
    origin = mine[0]["origin"]
    assert origin["key_id"] and origin["user"] and origin["source"] == "127.0.0.1"
    assert origin["gateway"] and origin["ts_received"] > 0
    assert any(r["kind"] == "access" for r in records)
    verdict = verify_trail(load_settings(None, data_dir=data))
    assert verdict.ok, verdict.problem
    assert verdict.places == {"main": entries[-1].seq}


def _chained_up_to(data: Path, seq: int) -> bool:
    commands = [r["seq"] for r in trail(data) if r["kind"] == "command"]
    return bool(commands) and commands[-1] >= seq
