"""`tradingfloor cluster up`: the whole distributed platform on this machine, in one command.

What starts and why in that order is `cluster_plan`'s. Here: the checks before anything
starts (the settings, a cluster already running, NATS answering or its binary found, the ports
free), the database migrated and its first admin made once (the gateways then find it), then
each stage of processes started and waited for until every one is ready (its ready mark; NATS
when it accepts connections; the gateways' port when `/readyz` answers 200). Each process is
recorded in `cluster.json` as soon as it starts, so that `cluster down` finds even those of
an `up` that failed half-way (`up` itself stops them then).

Detached (the default), each process runs in a session of its own: `up` exits 0 once all are
ready and they go on without it; Ctrl-C in the terminal reaches none of them. With
`--foreground`, this process supervises them as `serve` does (`processes.supervise`: a process
that dies is started again after a wait that doubles), and Ctrl-C or SIGTERM stops them all
in order.
"""

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tradingfloor.bootstrap import cluster_plan, cluster_record
from tradingfloor.bootstrap.cluster_plan import Endpoints, Planned
from tradingfloor.bootstrap.cluster_record import Record, Recorded
from tradingfloor.bootstrap.processes import Child, stop_child, supervise
from tradingfloor.config import ConfigError, Settings, ensure_jwt_secret

answer_wait_s = 2.0
"""How long a server (NATS, a gateway) may take to answer one check."""
log_tail_bytes = 3_000
"""How much of a failed process's log `up` shows."""


class AlreadyRunning(Exception):
    """A cluster of this data directory runs already."""


class StartFailed(Exception):
    """A process exited, or was not ready in time, while the cluster started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port within `answer_wait_s`."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), answer_wait_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def refuse_if_running(settings: Settings) -> None:
    """`AlreadyRunning` if a recorded process still runs; a stale record is removed."""
    path = cluster_plan.record_path(settings)
    record = cluster_record.read(path)
    if record is None:
        return
    running = [p for p in record.processes if cluster_record.alive(p.pid, p.start_ticks)]
    supervisor = cluster_record.alive(record.supervisor_pid, record.supervisor_ticks)
    if running or supervisor:
        pids = ", ".join(f"{p.name} {p.pid}" for p in running)
        raise AlreadyRunning(
            f"a cluster of {record.data_dir} is running ({pids or 'its supervisor'}): see "
            "tradingfloor cluster status, or stop it with tradingfloor cluster down"
        )
    cluster_record.remove(path)


async def endpoints(settings: Settings) -> tuple[Endpoints, list[socket.socket], str | None]:
    """What every process shares, the ports held until the roles listen on them, and the
    nats-server binary to start (None: the running server at nats_url)."""
    binary = None
    if settings.cluster_nats == "private":
        binary = str(cluster_plan.nats_server_binary())
        nats_port = settings.cluster_nats_port or _free_port()
        if await answers("127.0.0.1", nats_port):
            raise ConfigError(f"cluster_nats_port {nats_port}: something listens there already")
        nats_url = f"nats://127.0.0.1:{nats_port}"
    else:
        nats_url = settings.nats_url
        first = urlsplit(nats_url.split(",")[0].strip())  # a list of servers: the first
        if not await answers(first.hostname or "127.0.0.1", first.port or 4222):
            raise ConfigError(
                f"no NATS server answers at nats_url {nats_url}: start one, or set "
                'cluster_nats = "private" for a server of the cluster\'s own'
            )
    held = [_held(settings.host, settings.port), _held(settings.host, settings.marketdata_port)]
    root = Path(settings.data_dir).resolve()
    ends = Endpoints(
        nats_url=nats_url,
        port=held[0].getsockname()[1],
        marketdata_port=held[1].getsockname()[1],
        database_url=_absolute_database_url(settings.database_url),
        jwt_secret=ensure_jwt_secret(settings.model_copy(update={"data_dir": root})),
    )
    return ends, held, binary


def _held(host: str, port: int) -> socket.socket:
    """The port reserved (bound, not listening: the gateways bind it too, SO_REUSEPORT);
    port 0 picks a free one for all of them."""
    from tradingfloor.bootstrap.roles import reuse_port_socket

    try:
        return reuse_port_socket(host, port)
    except OSError as error:
        raise ConfigError(f"port {port} on {host} cannot be used: {error}") from error


def _absolute_database_url(url: str) -> str:
    """A SQLite file named relative to here, named absolutely: each process has another
    data directory, but they all read and write the one database."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url


async def set_up_database(settings: Settings, ends: Endpoints) -> None:
    """Migrate once, and make the first admin of a new platform (its password printed)."""
    from tradingfloor.bootstrap.setup import first_admin
    from tradingfloor.identity import AuthService
    from tradingfloor.store.database import make_engine, upgrade

    await asyncio.to_thread(upgrade, ends.database_url)
    store = make_engine(ends.database_url)
    try:
        await first_admin(AuthService(store, settings))
    finally:
        store.dispose()


class Launcher:
    """Starts the planned processes (detached or as supervised children) and records them."""

    def __init__(self, settings: Settings, config: Path, ends: Endpoints, foreground: bool):
        self.path = cluster_plan.record_path(settings)
        self.foreground = foreground
        host = cluster_plan.local_host(settings)
        self.record = Record(
            config=str(config),
            data_dir=str(Path(settings.data_dir).resolve()),
            nats_url=ends.nats_url,
            http_url=f"http://{host}:{ends.port}",
            marketdata_url=f"ws://{host}:{ends.marketdata_port}/v1/market-data",
        )
        self.planned: dict[str, Planned] = {}
        self.detached: dict[str, subprocess.Popen[bytes]] = {}
        self.children: dict[str, Child] = {}
        if foreground:
            self.record.supervisor_pid = os.getpid()
            self.record.supervisor_ticks = cluster_record.start_ticks(os.getpid())

    async def start(self, planned: Planned) -> None:
        self.planned[planned.name] = planned
        if self.foreground:
            child = Child(planned.name, planned.argv)
            self.children[planned.name] = child
            await self.respawn(child)
            return
        _prepare_directories(planned)
        with planned.log.open("ab") as log:
            process = subprocess.Popen(
                planned.argv,
                env=_environment(planned),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C of the terminal reaches it not
            )
        self.detached[planned.name] = process
        self._recorded(planned, process.pid)

    async def respawn(self, child: Child) -> None:
        """Start (again) a supervised child: `processes.supervise`'s spawn."""
        planned = self.planned[child.name]
        _prepare_directories(planned)
        with planned.log.open("ab") as log:
            child.process = await asyncio.create_subprocess_exec(
                *planned.argv,
                env=_environment(planned),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops in order
            )
        child.started_at = time.monotonic()
        self._recorded(planned, child.process.pid)

    def ready(self) -> None:
        """Every process is ready: status may count the cluster up."""
        self.record.ready = True
        cluster_record.write(self.path, self.record)

    def exit_code(self, name: str) -> int | None:
        if name in self.detached:
            return self.detached[name].poll()
        process = self.children[name].process
        return None if process is None else process.returncode

    def _recorded(self, planned: Planned, pid: int) -> None:
        mark = planned.ready_mark
        entry = Recorded(
            name=planned.name,
            role=planned.role,
            shard=planned.shard,
            pid=pid,
            start_ticks=cluster_record.start_ticks(pid),
            started_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            argv=planned.argv,
            env=planned.env,
            data_dir=str(planned.data_dir),
            log=str(planned.log),
            ready_mark=None if mark is None else str(mark),
        )
        names = [p.name for p in self.record.processes]
        if planned.name in names:  # started again: same place, so status keeps its order
            self.record.processes[names.index(planned.name)] = entry
        else:
            self.record.processes.append(entry)
        cluster_record.write(self.path, self.record)

    async def until_ready(
        self, stage: list[Planned], deadline: float, tick: Callable[[], Any]
    ) -> None:
        """Wait until each process of `stage` is ready (`tick` once for each); `StartFailed`
        when one exits first or the deadline passes."""
        pending = {planned.name: planned for planned in stage}
        while pending:
            for name, planned in list(pending.items()):
                if await _is_ready(planned, self.record):
                    del pending[name]
                    tick()
                    continue
                code = self.exit_code(name)
                if code is not None:
                    raise StartFailed(
                        f"{name} exited ({code}) before it was ready; the end of its log "
                        f"{planned.log}:\n{_tail(planned.log)}"
                    )
            if pending and time.monotonic() > deadline:
                raise StartFailed(
                    f"not ready in time (cluster_ready_wait_s): {', '.join(sorted(pending))}; "
                    f"their logs are in {next(iter(pending.values())).log.parent}"
                )
            await asyncio.sleep(0.1)

    async def supervise(self, stop: asyncio.Event, stop_wait_s: float) -> None:
        """`--foreground`: start again what dies until `stop`, then stop all in order."""
        await supervise(list(self.children.values()), self.respawn, stop)
        names = list(self.children)
        roles = [self.planned[name].role for name in names]
        for group in cluster_plan.stop_groups(roles):
            children = [self.children[names[index]] for index in group]
            await asyncio.gather(*(stop_child(child, stop_wait_s) for child in children))
        cluster_record.remove(self.path)


def _prepare_directories(planned: Planned) -> None:
    planned.data_dir.mkdir(parents=True, exist_ok=True)
    planned.log.parent.mkdir(parents=True, exist_ok=True)
    mark = planned.ready_mark
    if mark is not None:
        mark.unlink(missing_ok=True)  # a previous run's, or one a killed process left


def _environment(planned: Planned) -> dict[str, str]:
    return {**os.environ, **planned.env, **planned.secret_env}


async def _is_ready(planned: Planned, record: Record) -> bool:
    if planned.role == "nats":
        port = int(record.nats_url.rsplit(":", 1)[1])
        return await answers("127.0.0.1", port)
    if planned.role == "clearinghouse":
        port = int(planned.argv[planned.argv.index("--port") + 1])
        return await answers("127.0.0.1", port)
    mark = planned.ready_mark
    return mark is not None and mark.exists()


async def gateways_answer(record: Record, deadline: float) -> None:
    """Wait until the gateways' port answers `/readyz` with 200 (the shard and the projector
    reached through NATS); `StartFailed` at the deadline, with the last answer."""
    import httpx

    last = "no answer"
    async with httpx.AsyncClient(base_url=record.http_url, timeout=answer_wait_s) as client:
        while True:
            try:
                answer = await client.get("/readyz")
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as error:
                last = repr(error)
            if time.monotonic() > deadline:
                raise StartFailed(f"the gateways at {record.http_url} are not ready: {last}")
            await asyncio.sleep(0.1)


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - log_tail_bytes))
            return log.read().decode(errors="replace")
    except OSError as error:
        return f"(unreadable: {error})"
