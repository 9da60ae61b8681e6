"""`tradingfloor bench wrk` against a real server: every order answered 2xx, the figures named;
and the CPU meter it uses, on processes of this test's own."""

import os
import shutil
import subprocess
import sys

from conftest import skip_or_fail
from tradingfloor.bench.cpu import CpuMeter, server_roles

SUPERVISOR = """
import subprocess, sys
wait = [sys.executable, "-c", "import sys; sys.stdin.read()"]
children = [subprocess.Popen(command, stdin=-1) for command in (wait + ["--role", "shard"], wait)]
print(*(child.pid for child in children), flush=True)
sys.stdin.read()
for child in children:
    child.communicate(b"")
"""
# Burns a fixed amount of CPU (well over the 10 ms of a clock tick), then exits.
BUSY_CHILD = "sum(i * i for i in range(3_000_000))"


def table_rows(output: str, first_cell: str) -> list[list[str]]:
    """The rows (and headers) of rich's tables in `output` whose first cell is `first_cell`."""
    rows = []
    for line in output.splitlines():
        if not line.startswith(("│", "┃")):
            continue
        cells = [cell.strip() for cell in line.replace("┃", "│").strip().strip("│").split("│")]
        if cells[0] == first_cell:
            rows.append(cells)
    return rows


def test_every_order_under_wrk_is_answered_2xx_and_the_figures_are_named() -> None:
    if shutil.which("wrk") is None:
        skip_or_fail("wrk is not installed (apt-get install wrk)")
    command = [sys.executable, "-m", "tradingfloor", "bench", "wrk", "--connections", "4"]
    command += ["--seconds", "1", "--warmup-seconds", "0", "--show-output"]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},  # rich wraps no cell at this width
    )

    output = completed.stdout
    assert completed.returncode == 0, output + completed.stderr
    header = ["connections", "orders", "orders/s", "ack p50 ms", "p90 ms", "p99 ms", "p99.9 ms"]
    header += ["non-2xx", "socket errors"]
    assert table_rows(output, "connections")[0] == header
    [figures] = [row for row in table_rows(output, "4") if len(row) == len(header)]
    orders = int(figures[1].replace(",", ""))
    assert orders > 0
    assert (figures[7], figures[8]) == ("0", "0")
    # The script's own count, thread by thread, agrees: every answer was 2xx.
    threads = [line for line in output.splitlines() if line.startswith("thread ")]
    assert len(threads) == 2
    assert all(line.endswith(" 0 non-2xx") for line in threads)
    assert sum(int(line.split()[2]) for line in threads) == orders
    roles = {row[1]: row for row in table_rows(output, "4") if len(row) == 7}
    # serve runs its roles as processes: each is a row, with wrk and the rest of the machine
    served = {"supervisor", "shard", "projector", "marketdata", "gateway"}
    served |= {"settlement", "clearinghouse"}  # the end of day, idle while wrk runs
    served |= {"audit", "surveillance", "reporting"}  # the readers of the feed
    served |= {"desk"}  # the demo's fractional desk, squared after its fills
    assert set(roles) == served | {"wrk", "other processes"}
    assert table_rows(output, "connections")[1][5:] == ["µs per order", "above idle"]
    assert all(float(roles[role][5]) > 0 for role in ("shard", "gateway"))


def test_the_meter_counts_a_process_started_during_it_under_its_role() -> None:
    children: list[int] = []
    with CpuMeter(lambda: {"busy": children}) as meter:
        child = subprocess.Popen([sys.executable, "-c", BUSY_CHILD])
        children.append(child.pid)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, figures readable
    child.wait()

    assert meter.report is not None
    assert meter.report.roles["busy"].pids == (child.pid,)
    assert meter.report.roles["busy"].cpu_s > 0
    assert meter.report.machine_busy_s >= meter.report.roles["busy"].cpu_s


def test_children_that_run_roles_make_their_parent_a_supervisor() -> None:
    # A stand-in server: two children, one that runs a role (a word of its command line) and a
    # helper that runs none; all wait for their standard input to close.
    server = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        shard, helper = (int(pid) for pid in server.stdout.readline().split())
        roles = server_roles(server.pid)
    finally:
        server.communicate(b"")

    others = {role: pids for role, pids in roles.items() if role.startswith("other (")}
    assert (roles["supervisor"], roles["shard"]) == ([server.pid], [shard])
    assert list(others.values()) == [[helper]]
    assert len(roles) == 3
