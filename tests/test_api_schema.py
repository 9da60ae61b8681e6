"""schemathesis against the app's own OpenAPI document: for every operation, generated
requests (valid and invalid) never get a 5xx, every status answered is documented, and every
answer matches its documented schema."""

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from api_helpers import served
from postgres_db import scratch_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """A served platform on its own thread and event loop, a symbol listed, a funded trader
    with an API key: (base URL, headers). Its read models on SQLite, then on PostgreSQL
    (whose text refuses what SQLite takes: a NUL byte)."""
    with contextlib.ExitStack() as stack:
        database_url = None
        if request.param == "postgresql":
            database_url = stack.enter_context(scratch_database())
        yield from _served_in_a_thread(tmp_path_factory, database_url)


def _served_in_a_thread(
    tmp_path_factory: pytest.TempPathFactory, database_url: str | None
) -> Iterator[tuple[str, dict[str, str]]]:
    ready: list[tuple[str, dict[str, str]]] = []
    started = threading.Event()
    stop: asyncio.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    failure: list[BaseException] = []

    async def main() -> None:
        nonlocal stop, loop
        stop, loop = asyncio.Event(), asyncio.get_running_loop()
        data: Path = tmp_path_factory.mktemp("schema") / "data"
        async with served(
            data,
            database_url,
            orders_per_second_max=1_000_000,
            orders_burst_max=1_000_000,
            source_failures_max=1_000_000,  # the tarpit of a blocked source is not its subject
        ) as api:
            await api.symbol("XYZ", "100")
            trader = await api.trader("alice", shares={"XYZ": 1_000})
            ready.append((str(api.client.base_url), {**trader, **api.admin}))
            started.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # surfaced to the test below
            failure.append(error)
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(120)
    if failure:
        raise failure[0]
    try:
        yield ready[0]
    finally:
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(60)


def test_no_server_error_and_answers_match_the_schema(
    api_server: tuple[str, dict[str, str]],
) -> None:
    base_url, headers = api_server
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("TRADINGFLOOR_SCHEMA_EXAMPLES", "25")),
            derandomize="TRADINGFLOOR_SCHEMA_RANDOM" not in os.environ,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=base_url,
                headers=headers,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    response_schema_conformance,
                ],
            )

        check()
    assert operations >= 25
