"""`tradingfloor settle --date D` against a running platform (`serve` as processes, with the
settlement role and the clearinghouse simulator it supervises), twice; and the settings."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from api_helpers import served
from tradingfloor.config import load_settings
from tradingfloor.domain.commands import Deposit, OpenAccount
from tradingfloor.domain.events import DayClosed, DaySettled, RiskConfigured
from tradingfloor.risk.calendar import calendar_for

COMMAND_WAIT_S = 120.0


def settle(config: Path, date: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tradingfloor", "settle", "--date", date]
    return subprocess.run(
        [*command, "--config", str(config), "--wait-s", "20"],
        capture_output=True,
        text=True,
        timeout=COMMAND_WAIT_S,
    )


def test_the_settlement_settings_and_their_checks() -> None:
    settings = load_settings(None)
    assert settings.settlement_enabled
    assert settings.clearinghouse_host is None
    assert (settings.clearinghouse_port, settings.clearing_participant) == (7400, "TF")
    for wrong in (
        {"clearing_participant": "tf lower"},
        {"clearing_participant": "TOOLONGID1"},
        {"clearinghouse_port": 70000},
        {"clearinghouse_host": "a host"},
    ):
        with pytest.raises(ValidationError):
            load_settings(None, **wrong)


async def test_settle_by_hand_twice_against_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "tradingfloor.toml"
    config.write_text(
        f'data_dir = "{data}"\nclearinghouse_port = 0\nfsync = false\nsettlement_sessions = 1\n'
    )
    calendar = calendar_for()
    import time

    # The session before the one now: over, whenever the test runs.
    date = calendar.session_date(calendar.session_index(time.time_ns()) - 1)
    async with served(
        data,
        None,
        "processes",
        settlement_enabled=True,
        clearinghouse_port=0,
        settlement_sessions=1,
    ) as here:
        await here.shard.submit(OpenAccount("ann"))
        await here.shard.submit(Deposit("ann", 1_000_000))
        first = await asyncio.to_thread(settle, config, date)
        second = await asyncio.to_thread(settle, config, date)
        holiday = await asyncio.to_thread(settle, config, "2026-12-25")
        events = [
            event
            for batch in [b async for b in _read(here.shard)]
            for _, _, found in batch
            for event in found
        ]

    # T+1 as the settings say: the shard configured its engine with it, in its journal.
    configured = [event for event in events if isinstance(event, RiskConfigured)]
    assert configured and configured[-1].settings is not None
    assert configured[-1].settings.settlement_sessions == 1
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"trade date {date}: closed now" in first.stdout
    assert "1 movements submitted" in first.stdout
    assert "breaks: 0 new, 0 known" in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"trade date {date}: closed already" in second.stdout
    assert "nothing changed: this day was done already" in second.stdout
    assert holiday.returncode == 1 and "not a trading day" in holiday.stderr
    assert [event.date for event in events if isinstance(event, DayClosed)] == [date]
    assert len([event for event in events if isinstance(event, DaySettled)]) == 1


async def _read(shard: object):  # type: ignore[no-untyped-def]
    """The shard's feed up to its last seq."""
    last = await shard.last_seq()  # type: ignore[attr-defined]
    async for batch in shard.follow(1):  # type: ignore[attr-defined]
        yield batch
        if batch[-1][0] >= last:
            return
