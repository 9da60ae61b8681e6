"""`tradingfloor cluster up|status|down` as an operator runs them, as commands of their own:
a private NATS server on a free port (the machine's NATS is untouched), SQLite, Redis; one
shard, no standby, two gateways on one port. An order placed over HTTP is read back; status
shows every process alive and the projector's and market data's lag reaching 0; a second up
is refused; down leaves no process of the cluster running, and a second down is harmless.
With `--foreground`, a killed gateway is started again and SIGINT stops them all.

Settings a cluster cannot run on are refused before anything starts, and the plan of two
shards with standbys is checked as data (standby shards are not in this build)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors
import pytest

from api_helpers import Clock, Served, _admin
from conftest import require_tcp_service
from nats_cluster import drop_stream as _drop_stream
from tradingfloor.bootstrap import cluster_plan
from tradingfloor.bootstrap.cluster_plan import Endpoints
from tradingfloor.bootstrap.transport import NatsTransport
from tradingfloor.config import load_settings
from tradingfloor.identity import AuthService
from tradingfloor.store.database import make_engine, upgrade

REDIS_URL = os.environ.get("TRADINGFLOOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
UP_WAIT_S = 240.0
"""The longest `cluster up` may take (imports and start of seven processes on two cores)."""
COMMAND_WAIT_S = 120.0
"""The longest `status` or `down` may take."""
STEP_WAIT_S = 30.0
"""The longest any other step may take before the test fails."""


def _config(root: Path, **extra: Any) -> Path:
    lines = {
        "transport": "nats",
        "cluster_nats": "private",
        "cluster_nats_port": 0,  # a free port, picked by up
        "cluster_standbys": 0,
        "cluster_gateways": 2,
        "redis_url": REDIS_URL,
        "host": "127.0.0.1",
        "port": 0,
        "marketdata_port": 0,
        "clearinghouse_port": 0,  # a free port, picked by up
        "data_dir": str(root / "data"),
        "fsync": False,
        "projection_status_interval_ms": 100,
        # Tests elsewhere share the Redis server and number users alike: no limit to meet.
        "orders_per_second_max": 1_000_000,
        "orders_burst_max": 1_000_000,
        **extra,
    }
    config = root / "tradingfloor.toml"
    config.write_text("".join(f"{name} = {json.dumps(value)}\n" for name, value in lines.items()))
    return config


def tf(*args: str, timeout_s: float = COMMAND_WAIT_S) -> subprocess.CompletedProcess[str]:
    """`tradingfloor ARGS` as a command of its own."""
    return subprocess.run(
        [sys.executable, "-m", "tradingfloor", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _record(config: Path) -> dict[str, Any]:
    settings = load_settings(config)
    data: dict[str, Any] = json.loads(cluster_plan.record_path(settings).read_text())
    return data


def _running(pid: int) -> bool:
    """Whether `pid` is a process that has not exited (a zombie has: nobody reaps a detached
    process whose parent is gone until init does)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _kill_leftovers(pids: list[int]) -> None:
    """After a failed test: the processes this test's cluster started, if still there."""
    for pid in pids:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


def _status(config: Path) -> tuple[int, dict[str, Any]]:
    done = tf("cluster", "status", "--config", str(config), "--json")
    assert done.stderr == "", done.stderr  # a source that does not answer is no error
    return done.returncode, json.loads(done.stdout)


async def _until_status(
    config: Path, wanted: Any, what: str, wait_s: float = STEP_WAIT_S, with_code: bool = False
) -> Any:
    """The first status `wanted(exit code, status)` accepts (with its exit code if asked)."""
    deadline = time.monotonic() + wait_s
    while True:
        code, status = await asyncio.to_thread(_status, config)
        if wanted(code, status):
            return (code, status) if with_code else status
        assert time.monotonic() < deadline, f"not in time: {what}: {json.dumps(status)}"
        await asyncio.sleep(0.2)


def _admin_before_up(config: Path) -> None:
    """The test's admin (root) in the cluster's database before up, which then makes none."""
    settings = load_settings(config)
    upgrade(settings.database_url)
    store = make_engine(settings.database_url)
    try:
        AuthService(store, settings).create_user("root", "root-password-1", "admin", "root")
    finally:
        store.dispose()


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A cluster's settings, on a private NATS server, or with param "running" on the
    machine's (a shard name of its own, its stream deleted at the end); whatever it started
    is stopped at the end (down, then the recorded pids killed if any survived)."""
    require_tcp_service("Redis", REDIS_URL, 6379)
    kind = getattr(request, "param", "private")
    running = kind == "running"
    if kind == "standby":  # a private NATS, the JetStream journal and a standby per shard
        config = _config(tmp_path, journal="jetstream", cluster_standbys=1)
    elif running:
        nats_url = request.getfixturevalue("nats_url")
        shard = f"cluster-{uuid.uuid4().hex[:12]}"
        config = _config(tmp_path, cluster_nats="running", nats_url=nats_url, shard_name=shard)
    else:
        config = _config(tmp_path)
    yield config
    record = cluster_plan.record_path(load_settings(config))
    pids = []
    if record.exists():
        recorded = json.loads(record.read_text())
        pids = [process["pid"] for process in recorded["processes"]]
        pids += [recorded["supervisor_pid"]] if recorded.get("supervisor_pid") else []
    tf("cluster", "down", "--config", str(config))
    _kill_leftovers(pids)
    if running:
        asyncio.run(_drop_stream(nats_url, f"TF_EVENTS_{shard}"))


@pytest.fixture
async def up(config: Path) -> AsyncIterator[tuple[Served, dict[str, Any], NatsTransport]]:
    """`cluster up` done: the admin's API key through the cluster's gateways and shard; the
    test's NATS connection (to close before down, which stops the private NATS)."""
    await asyncio.to_thread(_admin_before_up, config)
    started = await asyncio.to_thread(
        tf, "cluster", "up", "--config", str(config), timeout_s=UP_WAIT_S
    )
    assert started.returncode == 0, started.stdout + started.stderr
    record = _record(config)
    assert record["http_url"] in started.stdout and record["marketdata_url"] in started.stdout
    for process in record["processes"]:
        assert str(process["pid"]) in started.stdout and process["log"] in started.stdout
    settings = load_settings(config).model_copy(update={"nats_url": record["nats_url"]})
    transport = NatsTransport(settings, "test")
    await transport.start()
    store = make_engine(settings.database_url)
    try:
        async with httpx.AsyncClient(base_url=record["http_url"], timeout=STEP_WAIT_S) as client:
            auth = AuthService(store, settings, clock=Clock())
            served = Served(None, client, Clock(), None, auth, transport.shard_port())
            await _admin(served)
            await served.symbol("XYZ", "100")
            yield served, record, transport
    finally:
        await transport.close()
        store.dispose()


@pytest.mark.parametrize("config", ["private", "running"], indirect=True)
async def test_up_serves_orders_status_tells_down_stops_every_process(
    config: Path, up: tuple[Served, dict[str, Any], NatsTransport]
) -> None:
    here, record, transport = up
    private = load_settings(config).cluster_nats == "private"
    shard = load_settings(config).shard_name
    projector, primary = f"projector-{shard}", f"shard-{shard}-0"
    alice = await here.trader("alice")
    for _ in range(4):  # fresh connections: either gateway may take each
        async with httpx.AsyncClient(base_url=record["http_url"], timeout=STEP_WAIT_S) as http:
            body = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 3, "limit_price": "99"}
            placed = await http.post("/v1/orders", json=body, headers=alice)
            assert placed.status_code == 200, placed.text
            read = await http.get(
                f"/v1/orders/{placed.json()['id']}",
                headers={**alice, "TF-Min-Seq": placed.headers["TF-Seq"]},
            )
            assert read.status_code == 200, read.text
            assert (read.json()["qty"], read.json()["status"]) == (3, "new")
    last_seq = await here.shard.last_seq()

    def caught_up(code: int, status: dict[str, Any]) -> bool:
        rows = {row["name"]: row for row in status["processes"]}
        return (
            code == 0
            and rows[projector]["seq"] == last_seq
            and rows[projector]["lag"] == 0
            and rows["marketdata"]["lag"] == 0
        )

    status = await _until_status(config, caught_up, f"projector and market data at {last_seq}")
    rows = {row["name"]: row for row in status["processes"]}
    roles = [
        primary,
        "clearinghouse",
        projector,
        "settlement",
        "audit",
        "surveillance",
        "reporting",
        "marketdata",
    ]
    roles += ["gateway-1", "gateway-2"]
    assert list(rows) == (["nats", *roles] if private else roles)
    assert status["up"] and all(row["alive"] and row["ready"] for row in rows.values())
    told = (rows[primary]["seq"], rows[primary]["state"], rows[primary]["leader"])
    assert told == (last_seq, "unknown", "unknown")  # no lease nor state in NATS KV yet
    if private:  # KV buckets of our own, on our own server
        await _shard_tells_its_state(record["nats_url"])
        status = await _until_status(config, lambda code, _: code == 0, "the shard's state")
        row = {row["name"]: row for row in status["processes"]}[primary]
        assert (row["state"], row["leader"], row["lag"]) == ("primary", f"{primary} (epoch 3)", 2)

    again = tf("cluster", "up", "--config", str(config))
    assert again.returncode == 1 and "is running" in again.stderr, again.stderr

    pids = {process["name"]: process["pid"] for process in _record(config)["processes"]}
    assert all(_running(pid) for pid in pids.values())
    os.kill(pids["marketdata"], signal.SIGKILL)  # status tells it; down stops the others
    code, status = await _until_status(
        config, lambda _, status: not status["up"], "the killed process seen", with_code=True
    )
    assert code == 1
    assert [row["name"] for row in status["processes"] if not row["alive"]] == ["marketdata"]
    await transport.close()  # down stops a private NATS
    down = tf("cluster", "down", "--config", str(config))
    assert down.returncode == 0, down.stdout + down.stderr
    assert [name for name, pid in pids.items() if _running(pid)] == []
    assert not cluster_plan.record_path(load_settings(config)).exists()
    order = [line.split()[1] for line in down.stdout.splitlines() if line.startswith("stopping")]
    stopped = [
        "gateway-1",
        "surveillance",
        "settlement",
        "audit",
        "reporting",
        projector,
        "clearinghouse",
        primary,
    ]
    assert order == ([*stopped, "nats"] if private else stopped)
    second = tf("cluster", "down", "--config", str(config))
    assert second.returncode == 0 and "no cluster is running" in second.stdout
    code, status = _status(config)
    assert (code, status["up"]) == (1, False)


async def _shard_tells_its_state(nats_url: str) -> None:
    """What a shard process with a lease puts in NATS KV (the private server's buckets)."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        leases = await js.create_key_value(bucket="TF_LEASES")
        lease = {"holder": "shard-main-0", "epoch": 3, "ts_ns": time.time_ns()}
        await leases.put("main", json.dumps(lease).encode())
        roles = await js.create_key_value(bucket="TF_ROLES")
        state = {
            "role": "shard",
            "shard": "main",
            "node": "shard-main-0",
            "state": "primary",
            "applied_seq": 10,
            "journal_seq": 12,
            "epoch": 3,
            "ts_ns": time.time_ns(),
        }
        await roles.put("shard.main.shard-main-0", json.dumps(state).encode())
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"transport": "local"}, 'set transport = "nats"'),
        ({"cluster_standbys": 1}, 'needs journal = "jetstream"'),
        ({"redis_url": ""}, "need redis_url"),
    ],
)
def test_settings_a_cluster_cannot_run_on_are_refused_before_anything_starts(
    tmp_path: Path, settings: dict[str, Any], refusal: str
) -> None:
    from typer.testing import CliRunner

    from tradingfloor.cli import app

    config = _config(tmp_path, **settings)
    done = CliRunner().invoke(app, ["cluster", "up", "--config", str(config)])
    assert done.exit_code == 2, done.output
    assert refusal in " ".join(done.output.split())
    assert not (tmp_path / "data" / "cluster").exists()


def test_the_plan_of_two_shards_with_standbys(tmp_path: Path) -> None:
    config = _config(tmp_path, shards=["a", "b"], shard_name="a", cluster_standbys=2)
    settings = load_settings(config)
    ends = Endpoints("nats://127.0.0.1:4999", 8000, 8001, "sqlite:////x/tf.db", "k" * 64)
    planned = cluster_plan.plan(settings, config, ends, "/usr/sbin/nats-server")
    names = [process.name for process in planned]
    assert names == [
        "nats",
        "shard-a-0", "shard-b-0",
        "shard-a-1", "shard-a-2", "shard-b-1", "shard-b-2",
        "projector-a", "projector-b",
        "allocator",
        "clearinghouse",
        "settlement",
        "audit",
        "surveillance",
        "reporting",
        "marketdata",
        "gateway-1", "gateway-2",
    ]  # fmt: skip
    by_name = {process.name: process for process in planned}
    standby = by_name["shard-b-2"]
    assert standby.argv[-3:] == ["shard", "--config", str(config)]
    assert standby.env["TRADINGFLOOR_SHARD_NAME"] == "b"
    assert standby.env["TRADINGFLOOR_SHARD_STANDBY"] == "true"
    # Every shard process is a candidate for the lease: the first to start is the primary.
    assert by_name["shard-b-0"].env["TRADINGFLOOR_SHARD_STANDBY"] == "true"
    assert by_name["shard-b-0"].env["TRADINGFLOOR_NODE_ID"] == "shard-b-0"
    root = cluster_plan.cluster_dir(settings)
    assert standby.data_dir == root / "shard-b-2"
    assert standby.log == root / "logs" / "shard-b-2.log"
    assert standby.ready_mark == root / "shard-b-2" / "run" / "shard-standby.ready"
    assert by_name["shard-b-0"].ready_mark == root / "shard-b-0" / "run" / "shard.ready"
    assert by_name["gateway-2"].ready_mark == root / "gateway-2" / "run" / "gateway-0.ready"
    assert by_name["allocator"].ready_mark == root / "allocator" / "run" / "allocator.ready"
    assert by_name["gateway-1"].env["TRADINGFLOOR_MARKETDATA_URL"] == "ws://127.0.0.1:8001"
    clearinghouse = by_name["clearinghouse"]  # a simulator of its own, told nothing of ours
    assert clearinghouse.argv[3:6] == ["clearinghouse", "--data", str(root / "clearinghouse")]
    assert clearinghouse.env == {} and clearinghouse.ready_mark is None
    settlement = by_name["settlement"]
    assert settlement.env["TRADINGFLOOR_CLEARINGHOUSE_HOST"] == "127.0.0.1"
    port = clearinghouse.argv[clearinghouse.argv.index("--port") + 1]
    assert settlement.env["TRADINGFLOOR_CLEARINGHOUSE_PORT"] == port
    assert settlement.ready_mark == root / "settlement" / "run" / "settlement.ready"
    assert by_name["reporting"].ready_mark == root / "reporting" / "run" / "reporting.ready"
    assert by_name["audit"].argv[-4:] == ["audit", "run", "--config", str(config)]
    assert by_name["audit"].ready_mark == root / "audit" / "run" / "audit.ready"
    roles_told = [process for process in planned[1:] if process.role != "clearinghouse"]
    for process in roles_told:  # one NATS, one port, one database for all; no secret kept
        assert process.env["TRADINGFLOOR_NATS_URL"] == "nats://127.0.0.1:4999"
        assert process.env["TRADINGFLOOR_PORT"] == "8000"
        assert process.secret_env["TRADINGFLOOR_DATABASE_URL"] == "sqlite:////x/tf.db"
        assert not any("k" * 64 in value for value in process.env.values())
    groups = cluster_plan.stop_groups([process.role for process in planned])
    stopped = [[names[index] for index in group] for group in groups]
    assert stopped == [
        ["gateway-1", "gateway-2"],
        ["surveillance"],
        ["settlement"],
        ["audit"],
        ["reporting"],
        ["marketdata"],
        ["allocator"],
        ["projector-a", "projector-b"],
        ["clearinghouse"],
        ["shard-a-1", "shard-a-2", "shard-b-1", "shard-b-2"],
        ["shard-a-0", "shard-b-0"],
        ["nats"],
    ]


@pytest.mark.parametrize("stop", ["SIGINT", "down"])
async def test_foreground_starts_a_killed_gateway_again_and_stops_all_when_told(
    config: Path, tmp_path: Path, stop: str
) -> None:
    """Told by Ctrl-C (SIGINT), or by `cluster down` (which tells the supervisor)."""
    output = (tmp_path / "foreground.log").open("wb")
    command = [sys.executable, "-m", "tradingfloor", "cluster", "up", "--config", str(config)]
    supervisor = subprocess.Popen([*command, "--foreground"], stdout=output, stderr=output)
    output.close()
    try:
        await _until_status(config, lambda code, _: code == 0, "every process up", UP_WAIT_S)
        record = _record(config)
        assert record["supervisor_pid"] == supervisor.pid
        pids = {process["name"]: process["pid"] for process in record["processes"]}
        os.kill(pids["gateway-1"], signal.SIGKILL)

        def restarted(code: int, status: dict[str, Any]) -> bool:
            rows = {row["name"]: row for row in status["processes"]}
            return code == 0 and rows["gateway-1"]["pid"] != pids["gateway-1"]

        await _until_status(config, restarted, "gateway-1 started again")
        again = {process["name"]: process["pid"] for process in _record(config)["processes"]}
        assert list(again) == list(pids)  # the same processes, in the same order
        pids["gateway-1 again"] = again["gateway-1"]
        if stop == "SIGINT":
            supervisor.send_signal(signal.SIGINT)
        else:
            down = await asyncio.to_thread(tf, "cluster", "down", "--config", str(config))
            assert down.returncode == 0 and "stopping the supervisor" in down.stdout, down.stdout
        assert await asyncio.to_thread(supervisor.wait, COMMAND_WAIT_S) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    log = (tmp_path / "foreground.log").read_text()
    assert "gateway-1 exited" in log, log
    assert [name for name, pid in pids.items() if _running(pid)] == []
    assert not cluster_plan.record_path(load_settings(config)).exists()


def test_a_recorded_process_is_alive_only_with_its_start_time_and_not_as_a_zombie() -> None:
    from tradingfloor.bootstrap import cluster_record

    process = subprocess.Popen(["sleep", "60"])
    try:
        ticks = cluster_record.start_ticks(process.pid)
        assert ticks is not None and cluster_record.alive(process.pid, ticks)
        assert not cluster_record.alive(process.pid, ticks + 1)  # its pid, another process
        process.kill()
        deadline = time.monotonic() + STEP_WAIT_S
        while _running(process.pid):  # exited, not reaped yet: a zombie
            assert time.monotonic() < deadline, "sleep did not die"
            time.sleep(0.01)
        assert Path(f"/proc/{process.pid}").exists()
        assert not cluster_record.alive(process.pid, ticks)
    finally:
        process.kill()
        process.wait()


def test_the_nats_server_binary_is_looked_for_in_order_and_its_absence_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tradingfloor.config import ConfigError

    binary = tmp_path / "bin" / "nats-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(binary.parent))
    assert cluster_plan.nats_server_binary() == binary
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    monkeypatch.setattr(cluster_plan.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(cluster_plan, "NATS_SERVER_SYSTEM_PATH", binary)
    assert cluster_plan.nats_server_binary() == binary
    monkeypatch.setattr(cluster_plan, "NATS_SERVER_SYSTEM_PATH", tmp_path / "none")
    monkeypatch.setattr(cluster_plan, "NATS_SERVER_PACKAGE", f"absent-{uuid.uuid4().hex}")
    with pytest.raises(ConfigError, match='cluster_nats = "running"'):
        cluster_plan.nats_server_binary()


def test_down_stops_a_standby_that_took_over_with_the_primaries(tmp_path: Path) -> None:
    from tradingfloor.bootstrap import cluster_down, cluster_record
    from tradingfloor.bootstrap.cluster_record import Record, Recorded

    started = {
        name: subprocess.Popen(["sleep", "60"])
        for name in ("nats", "shard-a-0", "shard-a-1", "gateway-1")
    }
    roles = {"nats": "nats", "shard-a-0": "shard", "shard-a-1": "standby", "gateway-1": "gateway"}
    try:
        record = Record("c.toml", str(tmp_path), "nats://x:1", "http://x:2", "ws://x:3")
        for name, process in started.items():
            ticks = cluster_record.start_ticks(process.pid)
            record.processes.append(
                Recorded(name, roles[name], "a", process.pid, ticks, "", [], {}, "", "", None)
            )
        said: list[str] = []
        # shard-a-1 started as the standby, but NATS says it is the primary now.
        survivors = cluster_down.stop_recorded(record, STEP_WAIT_S, said.append, {"shard-a-1"})
        assert survivors == []
        stopping = [line.split()[1] for line in said if line.startswith("stopping")]
        assert stopping == ["gateway-1", "shard-a-0", "shard-a-1", "nats"]
    finally:
        for process in started.values():
            process.kill()
            process.wait()


@pytest.mark.parametrize("config", ["standby"], indirect=True)
async def test_a_cluster_with_a_standby_takes_over_from_a_killed_primary(
    config: Path, up: tuple[Served, dict[str, Any], NatsTransport]
) -> None:
    """`cluster up` with `cluster_standbys = 1`: the primary and its standby as `status`
    tells them; the primary killed with SIGKILL, the standby takes over by itself, `status`
    names the new leader, orders through the gateways go on, none acknowledged is lost."""
    here, _, transport = up
    shard = load_settings(config).shard_name
    primary, standby = f"shard-{shard}-0", f"shard-{shard}-1"

    def states(status: dict[str, Any]) -> dict[str, str]:
        return {row["name"]: row["state"] for row in status["processes"]}

    status = await _until_status(
        config,
        lambda code, status: (
            code == 0
            and states(status).get(primary) == "primary"
            and states(status).get(standby) == "standby"
        ),
        "the primary and its standby",
    )
    alice = await here.trader("alice")
    body = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": "99"}
    acknowledged = []
    for _ in range(3):
        placed = await here.client.post("/v1/orders", json=body, headers=alice)
        assert placed.status_code == 200, placed.text
        acknowledged.append(placed.json()["id"])
    pids = {process["name"]: process["pid"] for process in _record(config)["processes"]}
    os.kill(pids[primary], signal.SIGKILL)
    status = await _until_status(
        config,
        lambda _, status: states(status).get(standby) == "primary",
        "the standby to take over",
    )
    leader = {row["name"]: row for row in status["processes"]}[standby]["leader"]
    assert leader.startswith(standby), leader
    deadline = time.monotonic() + STEP_WAIT_S
    while True:  # the gateways find the new primary by themselves
        placed = await here.client.post("/v1/orders", json=body, headers=alice)
        if placed.status_code == 200:
            acknowledged.append(placed.json()["id"])
            break
        assert placed.status_code == 503, placed.text
        assert time.monotonic() < deadline, "no order taken after the takeover"
        await asyncio.sleep(0.1)
    listed = await here.client.get("/v1/orders?status=all&limit=100", headers=alice)
    assert listed.status_code == 200, listed.text
    assert set(acknowledged) <= {order["id"] for order in listed.json()["orders"]}
    await transport.close()  # down stops the private NATS


async def test_up_that_fails_unexpectedly_stops_what_it_started(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure `up` does not expect (here: the last step raising) leaves no process
    running: each one it started is stopped before the error goes on."""
    from tradingfloor.bootstrap import cluster, cluster_cli

    pids: list[int] = []

    async def broken(record: Any, *_: Any) -> None:
        pids.extend(process.pid for process in record.processes)
        raise RuntimeError("an unexpected failure")

    monkeypatch.setattr(cluster, "gateways_answer", broken)
    settings = load_settings(config)
    with pytest.raises(RuntimeError, match="unexpected"):
        await cluster_cli._up(settings, config, foreground=False)
    assert len(pids) >= 5  # nats, the shard, the projector, market data, the gateways
    assert not cluster_plan.record_path(settings).exists()
    deadline = time.monotonic() + STEP_WAIT_S
    while any(_running(pid) for pid in pids):
        assert time.monotonic() < deadline, "processes left running after a failed up"
        await asyncio.sleep(0.1)


def test_status_tells_the_allocator_following_once_it_is_ready(tmp_path: Path) -> None:
    from tradingfloor.bootstrap import cluster_record, cluster_status

    mark = tmp_path / "allocator.ready"
    process = cluster_record.Recorded(
        "allocator", "allocator", None, os.getpid(), cluster_record.start_ticks(os.getpid()),
        "2026-12-03T00:00:00Z", [], {}, str(tmp_path), str(tmp_path / "log"), str(mark),
    )  # fmt: skip
    settings = load_settings(_config(tmp_path))
    figures = cluster_status.Figures()
    assert cluster_status._row(process, settings, figures).state == "starting"
    mark.touch()
    row = cluster_status._row(process, settings, figures)
    assert (row.alive, row.ready, row.state) == (True, True, "following")
