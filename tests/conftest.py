"""Shared test helpers. Keep each block self-contained: several people add to this file."""

import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from tradingfloor.journal.jetstream import JetStreamSettings

# --------------------------------------------------------------------------- external services

REQUIRE_SERVICES_VARIABLE = "TRADINGFLOOR_REQUIRE_SERVICES"
NATS_URL = os.environ.get("TRADINGFLOOR_NATS_URL", "nats://127.0.0.1:4222")


def services_required() -> bool:
    """CI sets TRADINGFLOOR_REQUIRE_SERVICES=1: a missing service is then a failure."""
    return os.environ.get(REQUIRE_SERVICES_VARIABLE) == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the test for `reason`, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_VARIABLE}=1)")
    pytest.skip(reason)


def require_tcp_service(name: str, url: str, default_port: int, timeout_s: float = 1.0) -> None:
    """Skip (or fail, see `skip_or_fail`) unless something accepts connections at `url`."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        skip_or_fail(f"{name} is not reachable at {host}:{port}: {error}")


@pytest.fixture
def nats_url() -> str:
    """The NATS server's URL (TRADINGFLOOR_NATS_URL, default 127.0.0.1:4222), or a skip."""
    require_tcp_service("NATS", NATS_URL, 4222)
    return NATS_URL


# --------------------------------------------------------------------------- JetStream streams


@pytest.fixture
async def jetstream_settings(nats_url: str) -> "AsyncIterator[JetStreamSettings]":
    """Settings of a JetStream journal stream of its own, deleted at the end."""
    import uuid

    import nats
    import nats.js.errors

    from tradingfloor.journal.jetstream import JetStreamSettings

    shard = f"test-{uuid.uuid4().hex[:12]}"
    yield JetStreamSettings(url=nats_url, shard=shard)
    connection = await nats.connect(nats_url)
    try:
        await connection.jetstream().delete_stream(f"TF_JOURNAL_{shard}")
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the platform's SQLite default), then a scratch PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    from postgres_db import scratch_database

    with scratch_database() as url:
        yield url


@pytest.fixture
async def kv(nats_url: str) -> AsyncIterator["KeyValue"]:
    """A NATS KV bucket of the test's own (a shard's leases), deleted at the end."""
    import contextlib
    import uuid

    import nats
    import nats.js.errors

    from tradingfloor.service.shard_lease import key_value

    bucket = f"TFL_{uuid.uuid4().hex[:12]}"
    nc = await nats.connect(nats_url)
    try:
        yield await key_value(nc, bucket)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(f"KV_{bucket}")
    finally:
        await nc.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A scratch PostgreSQL database of the test's own, dropped at the end."""
    from postgres_db import scratch_database

    with scratch_database() as url:
        yield url
