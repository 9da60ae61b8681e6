"""`tradingfloor clearinghouse` as a process of its own: ready line, answers, signals."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tradingfloor.settlement.clearing_client import ClearingClient
from tradingfloor.settlement.clearinghouse.faults import FaultKind
from tradingfloor.settlement.clearinghouse.store import recorded_faults
from tradingfloor.settlement.records import ClearingTrade

D1, D3 = "2026-12-01", "2026-12-03"
WAIT_S = 20.0
"""Bound on every wait here (the process starting, answering, stopping)."""


def trade(ref: str, buyer: str, seller: str, qty: int) -> ClearingTrade:
    return ClearingTrade(ref, D1, D3, "AAPL", buyer, seller, qty, 1_500_000)


def _command(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradingfloor",
            "clearinghouse",
            "--data",
            str(tmp_path),
            "--port",
            "0",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def _ready_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    stdout = process.stdout
    return await asyncio.wait_for(asyncio.to_thread(stdout.readline), WAIT_S)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_the_command_serves_until_a_signal(tmp_path: Path, stop: signal.Signals) -> None:
    process = _command(tmp_path, "--faults", "duplicate=1", "--fault-seed", "5")
    try:
        line = await _ready_line(process)
        assert line.startswith("clearinghouse listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        client = ClearingClient("127.0.0.1", port, "platform", timeout_s=WAIT_S)
        answer = await client.submit_trades(D1, "b", [trade("s1:1", "a", "b", 1)])
        assert len(answer) == 2
        process.send_signal(stop)
        assert process.wait(WAIT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT_S)
    assert [f.kind for f in recorded_faults(tmp_path)] == [FaultKind.DUPLICATE]


def test_the_command_refuses_bad_fault_rates(tmp_path: Path) -> None:
    process = _command(tmp_path, "--faults", "explode=1")
    _, stderr = process.communicate(timeout=WAIT_S)
    assert process.returncode != 0
    assert "drop|alter|duplicate|late" in stderr


async def test_the_command_says_when_its_port_is_taken(tmp_path: Path) -> None:
    taken = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        process = _command(tmp_path, "--port", str(port))
        _, stderr = await asyncio.to_thread(process.communicate, timeout=WAIT_S)
    finally:
        taken.close()
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
