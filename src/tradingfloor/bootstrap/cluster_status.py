"""`tradingfloor cluster status`: one row per recorded process, from what each one tells.

Where each figure comes from, every source asked once with a bounded wait (a source that does
not answer leaves its figures "unknown"; status never fails for it):

- alive: the recorded pid with its start time (`cluster_record.alive`); ready: its ready
  mark (NATS: it accepts connections).
- a shard process's state (primary, standby, taking-over) and how far it has applied its
  journal: its entry in the NATS KV bucket `TF_ROLES` (key `shard.<shard>.<node>`, the node
  being the process's name); the shard's leader: its lease in `TF_LEASES` (key: the shard).
- the shard's last seq: its events stream `TF_EVENTS_<shard>` (stream seq = command seq).
- the projector's projected seq: its answer on `tf.<shard>.projection.ask`; its lag is the
  stream's last seq minus that.
- the market-data role's seq: its `/health` on marketdata_port; lag as the projector's.
- the gateways: their shared port's `/readyz` (any one of them answers: the kernel picks).
"""

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import msgspec

from tradingfloor.bootstrap import cluster_record
from tradingfloor.bootstrap.cluster_record import Record, Recorded
from tradingfloor.config import Settings

answer_wait_s = 1.0
"""How long each source may take to answer."""
UNKNOWN = "unknown"


@dataclass
class Row:
    name: str
    role: str
    shard: str | None
    pid: int
    alive: bool
    ready: bool
    state: str
    leader: str | None = None
    seq: int | None = None
    lag: int | None = None

    @property
    def up(self) -> bool:
        return self.alive and self.ready


@dataclass
class Figures:
    """What NATS and the HTTP ports told."""

    nats_answers: bool = False
    stream_last: dict[str, int | None] | None = None
    leases: dict[str, dict[str, Any] | None] | None = None
    shard_states: dict[str, dict[str, Any] | None] | None = None
    projected: dict[str, Any] | None = None
    marketdata: dict[str, Any] | None = None
    gateways: str = UNKNOWN


async def collect(record: Record, settings: Settings) -> list[Row]:
    """One row per process of `record` (see the module)."""
    figures = Figures()
    await _ask_nats(record, settings, figures)
    await _ask_http(record, figures)
    return [_row(process, settings, figures) for process in record.processes]


async def _ask_nats(record: Record, settings: Settings, figures: Figures) -> None:
    import nats
    import nats.errors

    async def quiet(error: Exception) -> None:
        """A server that does not answer leaves its figures unknown: nothing to print."""

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                record.nats_url,
                allow_reconnect=False,
                connect_timeout=answer_wait_s,
                error_cb=quiet,
            ),
            answer_wait_s * 2,
        )
    except (OSError, TimeoutError, nats.errors.Error):
        return
    figures.nats_answers = True
    try:
        shards = sorted({p.shard for p in record.processes if p.shard is not None})
        nodes = [p for p in record.processes if p.role in ("shard", "standby")]
        figures.stream_last = {s: await _stream_last(nc, settings, s) for s in shards}
        lease_bucket = getattr(settings, "nats_lease_bucket", "TF_LEASES")
        roles_bucket = getattr(settings, "nats_roles_bucket", "TF_ROLES")
        figures.leases = {s: await _kv_json(nc, lease_bucket, s) for s in shards}
        figures.shard_states = {
            p.name: await _kv_json(nc, roles_bucket, f"shard.{p.shard}.{p.name}") for p in nodes
        }
        figures.projected = {s: await _projected(nc, settings, s) for s in shards}
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


async def _stream_last(nc: Any, settings: Settings, shard: str) -> int | None:
    import nats.errors

    stream = f"{settings.nats_stream_prefix}_{shard}"
    try:
        info = await nc.jetstream(timeout=answer_wait_s).stream_info(stream)
    except (nats.errors.Error, TimeoutError):
        return None
    last: int = info.state.last_seq
    return last


async def _kv_json(nc: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The JSON object at `key` of KV `bucket`, None when either is missing or unreadable."""
    import nats.errors

    try:
        kv = await nc.jetstream(timeout=answer_wait_s).key_value(bucket)
        entry = await kv.get(key)
        value = json.loads(entry.value or b"null")
    except (nats.errors.Error, TimeoutError, ValueError):
        return None
    return value if isinstance(value, dict) else None


async def _projected(nc: Any, settings: Settings, shard: str) -> Any:
    """The projector's `ProjectionStatus`, None when it does not answer."""
    import nats.errors

    from tradingfloor.service.nats_subjects import NatsNames
    from tradingfloor.service.ports import ProjectionStatus

    names = NatsNames(settings.nats_subject_prefix, shard, settings.nats_stream_prefix)
    try:
        answer = await nc.request(names.projection_ask, b"", timeout=answer_wait_s)
        return msgspec.msgpack.decode(answer.data, type=ProjectionStatus)
    except (nats.errors.Error, TimeoutError, msgspec.DecodeError):
        return None


async def _ask_http(record: Record, figures: Figures) -> None:
    import httpx

    health = record.marketdata_url.replace("ws://", "http://").rsplit("/v1/", 1)[0] + "/health"
    async with httpx.AsyncClient(timeout=answer_wait_s) as client:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            figures.marketdata = (await client.get(health)).json()
        try:
            answer = await client.get(record.http_url + "/readyz")
            figures.gateways = "ready" if answer.status_code == 200 else "not ready"
        except httpx.HTTPError:
            figures.gateways = "no answer"


def _row(process: Recorded, settings: Settings, figures: Figures) -> Row:
    alive = cluster_record.alive(process.pid, process.start_ticks)
    ready = alive and process.ready_mark is not None and _exists(process.ready_mark)
    row = Row(process.name, process.role, process.shard, process.pid, alive, ready, UNKNOWN)
    if not alive:
        row.state = "dead"
        return row
    if process.role == "nats":
        row.ready = figures.nats_answers
        row.state = "serving" if figures.nats_answers else "no answer"
    elif process.role in ("shard", "standby"):
        _shard_row(row, process, figures)
    elif process.role == "projector":
        _projector_row(row, process, figures)
    elif process.role == "marketdata":
        _marketdata_row(row, settings, figures)
    elif process.role == "gateway":
        row.state = figures.gateways
        row.ready = row.ready and figures.gateways == "ready"
    elif process.role in ("allocator", "settlement"):  # ready once it has read the feeds
        row.state = "following" if row.ready else "starting"
    elif process.role == "clearinghouse":
        row.ready, row.state = True, "serving"
    return row


def _exists(path: str) -> bool:
    from pathlib import Path

    return Path(path).exists()


def _shard_row(row: Row, process: Recorded, figures: Figures) -> None:
    state = (figures.shard_states or {}).get(process.name)
    lease = (figures.leases or {}).get(process.shard or "")
    row.seq = (figures.stream_last or {}).get(process.shard or "")
    if state is not None:
        row.state = str(state.get("state", UNKNOWN))
        applied, journaled = state.get("applied_seq"), state.get("journal_seq")
        if isinstance(applied, int) and isinstance(journaled, int):
            row.lag = journaled - applied
    if lease is not None:
        row.leader = f"{lease.get('holder', UNKNOWN)} (epoch {lease.get('epoch', UNKNOWN)})"
    else:
        row.leader = UNKNOWN


def _projector_row(row: Row, process: Recorded, figures: Figures) -> None:
    status = (figures.projected or {}).get(process.shard or "")
    last = (figures.stream_last or {}).get(process.shard or "")
    if status is None:
        row.state = "no answer"
        row.ready = False
        return
    row.seq = status.projected_seq
    row.state = f"failing: {status.failure}" if status.failure else "projecting"
    if last is not None:
        row.lag = max(0, last - status.projected_seq)


def _marketdata_row(row: Row, settings: Settings, figures: Figures) -> None:
    health = figures.marketdata
    if health is None:
        row.state = "no answer"
        row.ready = False
        return
    row.state = str(health.get("status", UNKNOWN))
    seq = health.get("seq")
    last = (figures.stream_last or {}).get(settings.shard_name)
    if isinstance(seq, int):
        row.seq = seq
        if last is not None:
            row.lag = max(0, last - seq)


def all_up(record: Record, rows: list[Row]) -> bool:
    """Every process up, and `up` done starting them."""
    return record.ready and bool(rows) and all(row.up for row in rows)


def as_json(record: Record, rows: list[Row]) -> str:
    """What `status --json` prints."""
    body = {
        "up": all_up(record, rows),
        "starting": not record.ready,
        "http_url": record.http_url,
        "marketdata_url": record.marketdata_url,
        "nats_url": record.nats_url,
        "processes": [{**asdict(row), "up": row.up} for row in rows],
    }
    return json.dumps(body, indent=2)


def table(record: Record, rows: list[Row]) -> Any:
    """The rich table `status` prints."""
    from rich.table import Table

    starting = "" if record.ready else " (starting)"
    view = Table(title=f"cluster of {record.data_dir}: {record.http_url}{starting}")
    for column in ("process", "role", "shard", "pid", "alive", "ready", "state", "leader"):
        view.add_column(column)
    view.add_column("seq", justify="right")
    view.add_column("lag", justify="right")
    for row in rows:
        view.add_row(
            row.name,
            row.role,
            row.shard or "",
            str(row.pid),
            "[green]yes[/green]" if row.alive else "[red]no[/red]",
            "[green]yes[/green]" if row.ready else "[red]no[/red]",
            row.state,
            row.leader or "",
            "" if row.seq is None else str(row.seq),
            "" if row.lag is None else str(row.lag),
        )
    return view
