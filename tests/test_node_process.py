"""`tradingfloor node` as an operator runs it: start, take commands, snapshot on demand, stop."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgspec

from tradingfloor.domain.commands import AddInstrument, PlaceOrder
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.instruments import Instrument

STARTUP_TIMEOUT_S = 30


def start_node(data: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tradingfloor", "node", "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("listening on "):
            return process, int(line.rsplit(":", 1)[1])
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("node did not start")


def send(port: int, commands: list[object]) -> list[dict[str, object]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        stream = connection.makefile("rwb")
        for command in commands:
            stream.write(msgspec.json.encode(command) + b"\n")
        stream.flush()
        return [json.loads(stream.readline()) for _ in commands]


def test_snapshot_on_demand_and_clean_stop(tmp_path: Path) -> None:
    data = tmp_path / "node"
    process, port = start_node(data)
    try:
        answers = send(
            port,
            [
                AddInstrument(Instrument("XYZ", tick_size=1)),
                PlaceOrder(0, "a", "XYZ", Side.BUY, OrderType.LIMIT, 10, 100, tif=TimeInForce.GTC),
            ],
        )
        # seq 1 is the node's own ConfigureRisk: a new journal starts with the risk settings
        assert [answer["seq"] for answer in answers] == [2, 3]
        process.send_signal(signal.SIGUSR1)
        snapshot = data / "snapshots" / f"snapshot-{3:020d}.snap"
        deadline = time.monotonic() + 10
        while not snapshot.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert snapshot.exists()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped at seq 3" in output


def test_bad_line_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "node"
    process, port = start_node(data)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            stream = connection.makefile("rwb")
            stream.write(b'["PlaceOrder", "not an id"]\n{"ref": 1}\nnot json\n')
            stream.flush()
            answers = [json.loads(stream.readline()) for _ in range(3)]
        assert all("error" in answer and "seq" not in answer for answer in answers)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped at seq 1" in output
