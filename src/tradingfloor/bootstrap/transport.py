"""How a role's process reaches the others (`transport` setting), behind one factory.

The role code (`roles`) is the same whatever the transport: it asks its `Transport` for the
ports it holds (`shard_port`, `projection_port`) and for the servers of the ports it offers
(`serve_shard`, `serve_projection`), stops those servers itself, and closes the transport last.

- `local`: Unix sockets under `data_dir/run`: one machine, `serve`'s supervisor.
- `nats`: one NATS connection per process (`nats_url`): commands and questions by
  request/reply, the shard's events in a JetStream stream, the projector's status on a subject
  (`service.nats_subjects` lists the names). A gateway then needs Redis for its rate limits
  (`check_gateway_settings`): each gateway's own memory would let a user send N times the limit.

The journal is a choice of its own (`journal` setting, `make_journal`): file or JetStream,
with either transport.
"""

import contextlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol

from tradingfloor.config import ConfigError, Settings
from tradingfloor.journal.base import Journal
from tradingfloor.service.ports import ProjectionPort, ShardPort
from tradingfloor.service.projection import ProjectionRole
from tradingfloor.service.shard import ShardRole

if TYPE_CHECKING:
    from nats.aio.client import Client

    from tradingfloor.service.nats_subjects import NatsNames

OnFatal = Callable[[BaseException], None]
"""Told when a server cannot go on (the role then stops)."""


class Server(Protocol):
    async def stop(self) -> None: ...


class Transport(Protocol):
    async def start(self) -> None: ...

    def shard_port(self) -> ShardPort: ...

    def own_shard_port(self) -> ShardPort:
        """The port of this process's shard (`shard_name`) alone, even on a platform of
        several (a projector follows its own shard)."""
        ...

    async def projection_port(self) -> ProjectionPort:
        """A started `ProjectionPort` (stopped by `close`)."""
        ...

    async def serve_shard(self, shard: ShardRole, on_fatal: OnFatal) -> Server: ...

    async def serve_projection(self, role: ProjectionRole) -> Server: ...

    async def close(self) -> None: ...


def make_transport(settings: Settings, role: str) -> Transport:
    """The transport `settings` name, for a process of `role` (its name at the NATS server)."""
    if settings.transport == "nats":
        return NatsTransport(settings, role)
    return LocalTransport(settings)


def make_journal(settings: Settings) -> Journal | None:
    """The shard's journal: None for the file journal under its data dir, else JetStream's
    stream `TF_JOURNAL_<shard_name>`."""
    if settings.journal != "jetstream":
        return None
    from tradingfloor.journal.jetstream import JetStreamJournal, JetStreamSettings

    return JetStreamJournal(JetStreamSettings(url=settings.nats_url, shard=settings.shard_name))


def check_gateway_settings(settings: Settings) -> None:
    """Refuse what a gateway cannot run with (`ConfigError`, saying what to set)."""
    if settings.transport == "nats" and not settings.redis_url:
        raise ConfigError(
            "a gateway with transport = nats needs redis_url: its order rate limits are "
            "shared by every gateway through Redis (each one's memory would multiply them)"
        )


class LocalTransport:
    """Unix sockets under `data_dir/run` (`service.wire`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: list[object] = []

    async def start(self) -> None:
        """Nothing to open: each client connects when it is used."""

    def shard_port(self) -> ShardPort:
        from tradingfloor.bootstrap.run_paths import shard_socket
        from tradingfloor.service.shard_client import ShardClient

        client = ShardClient(shard_socket(self.settings))
        self._clients.append(client)
        return client

    def own_shard_port(self) -> ShardPort:
        return self.shard_port()

    async def projection_port(self) -> ProjectionPort:
        from tradingfloor.bootstrap.run_paths import projector_socket
        from tradingfloor.service.projection_link import ProjectionClient

        client = ProjectionClient(projector_socket(self.settings))
        client.start()
        self._clients.append(client)
        return client

    async def serve_shard(self, shard: ShardRole, on_fatal: OnFatal) -> Server:
        from tradingfloor.bootstrap.run_paths import shard_socket
        from tradingfloor.service.shard import ShardServer

        server = ShardServer(shard, shard_socket(self.settings))
        await server.start()
        return server

    async def serve_projection(self, role: ProjectionRole) -> Server:
        from tradingfloor.bootstrap.run_paths import projector_socket
        from tradingfloor.service.projection_link import ProjectionServer

        server = ProjectionServer(role, projector_socket(self.settings))
        await server.start()
        return server

    async def close(self) -> None:
        from tradingfloor.service.projection_link import ProjectionClient
        from tradingfloor.service.shard_client import ShardClient

        for client in self._clients:
            if isinstance(client, ShardClient):
                client.close()
            elif isinstance(client, ProjectionClient):
                await client.stop()


class NatsTransport:
    """One NATS connection for the process's adapters (`service.nats_*`)."""

    def __init__(self, settings: Settings, role: str) -> None:
        from tradingfloor.service.nats_subjects import NatsNames

        self.settings = settings
        self.role = role
        self.names = NatsNames(
            settings.nats_subject_prefix, settings.shard_name, settings.nats_stream_prefix
        )
        self._nc: Client | None = None
        self._stoppable: list[Server] = []

    async def start(self) -> None:
        from tradingfloor.service.nats_connection import connect

        self._nc = await connect(
            self.settings.nats_url,
            f"tradingfloor-{self.role}-{self.settings.shard_name}",
            ping_interval_ms=self.settings.nats_ping_interval_ms,
            pings_outstanding_max=self.settings.nats_pings_outstanding_max,
        )

    @property
    def nc(self) -> "Client":
        if self._nc is None:
            raise RuntimeError("the NATS transport is not started")
        return self._nc

    def shard_port(self) -> ShardPort:
        """This process's shard; on a platform of several shards (`shards`) a router over
        all of them (`service.shard_router`)."""
        from tradingfloor.domain.shards import ShardMap
        from tradingfloor.service.shard_router import ShardRouter

        if len(self.settings.shards) > 1:
            return ShardRouter(ShardMap.of_settings(self.settings), self.shard_ports())
        return self.own_shard_port()

    def own_shard_port(self) -> ShardPort:
        from tradingfloor.service.nats_shard_client import NatsShardClient

        timeout_s = self.settings.nats_request_timeout_ms / 1000
        return NatsShardClient(self.nc, self.names, timeout_s)

    def shard_ports(self) -> dict[str, ShardPort]:
        """A port to every shard of the platform (`shards`), by name."""
        from tradingfloor.domain.shards import ShardMap
        from tradingfloor.service.nats_shard_client import NatsShardClient

        settings = self.settings
        timeout_s = settings.nats_request_timeout_ms / 1000
        return {
            name: NatsShardClient(self.nc, self._names_of(name), timeout_s)
            for name in ShardMap.of_settings(settings).names
        }

    async def projection_port(self) -> ProjectionPort:
        """The shard's projection; on a platform of several shards every shard's, by seq
        token (`service.sharded_projection`)."""
        from tradingfloor.domain.shards import ShardMap
        from tradingfloor.service.nats_projection import NatsProjectionClient
        from tradingfloor.service.sharded_projection import ShardedProjection

        settings = self.settings
        names = [self.names]
        if len(settings.shards) > 1:
            names = [self._names_of(name) for name in ShardMap.of_settings(settings).names]
        clients = []
        for shard_names in names:
            client = NatsProjectionClient(self.nc, shard_names, self._status_interval_s())
            await client.start()
            self._stoppable.append(client)
            clients.append(client)
        return clients[0] if len(clients) == 1 else ShardedProjection(clients)

    def _names_of(self, shard: str) -> "NatsNames":
        from tradingfloor.service.nats_subjects import NatsNames

        settings = self.settings
        return NatsNames(settings.nats_subject_prefix, shard, settings.nats_stream_prefix)

    async def serve_shard(self, shard: ShardRole, on_fatal: OnFatal) -> Server:
        from tradingfloor.domain.shards import ShardMap
        from tradingfloor.service.nats_shard import NatsShardServer
        from tradingfloor.service.shard_router import shard_of

        replicas = self.settings.nats_events_replicas
        shard_map = ShardMap.of_settings(self.settings)
        owner = None if len(shard_map.names) == 1 else partial(shard_of, shard_map)
        server = NatsShardServer(shard, self.nc, self.names, replicas, on_fatal, owner)
        await server.start()
        return server

    async def serve_projection(self, role: ProjectionRole) -> Server:
        from tradingfloor.service.nats_projection import ProjectionStatusPublisher

        server = ProjectionStatusPublisher(role, self.nc, self.names, self._status_interval_s())
        await server.start()
        return server

    def _status_interval_s(self) -> float:
        return self.settings.projection_status_interval_ms / 1000

    async def close(self) -> None:
        for stoppable in self._stoppable:
            await stoppable.stop()
        if self._nc is not None:
            nc, self._nc = self.nc, None
            with contextlib.suppress(Exception):
                await nc.close()
