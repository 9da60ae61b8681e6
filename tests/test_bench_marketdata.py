"""`tradingfloor bench marketdata` against a real `serve --demo`: clients in processes of their
own, through the gateways to the market-data role or straight to its own port
(`serve --marketdata-port`), every one counted, none dropped."""

import os
import subprocess
import sys

import pytest

from test_bench_wrk import table_rows


@pytest.mark.parametrize("route", ["--no-direct", "--direct"])
def test_clients_in_processes_of_their_own_get_quotes_and_trades(route: str) -> None:
    command = [sys.executable, "-m", "tradingfloor", "bench", "marketdata", "--clients", "6"]
    command += ["--pro-fraction", "0.5", "--seconds", "2", "--orders-per-second", "20"]
    command += ["--client-processes", "2", route]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )

    output = completed.stdout
    assert completed.returncode == 0, output + completed.stderr
    way = "direct to the market-data role" if route == "--direct" else "through the gateways"
    assert way in output
    [pro] = table_rows(output, "pro")
    [retail] = table_rows(output, "retail")
    assert pro[1] == retail[1] == "3"  # clients per tier, over both processes
    assert int(pro[2].replace(",", "")) > 0  # messages
    assert int(retail[2].replace(",", "")) > 0
    assert "clients dropped: 0;" in output and "failed to connect: 0." in output
