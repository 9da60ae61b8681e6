"""`tradingfloor clearinghouse --data DIR`: the clearinghouse simulator, in the foreground.

It prints one line when it listens (`clearinghouse listening on HOST:PORT`) and runs until
SIGINT or SIGTERM, then stops cleanly: it stops listening, lets the exchanges under way finish
(bounded), and closes its store. A bug met while answering (a broken invariant, a store that
fails) stops it too, with the error and a non-zero exit: a clearinghouse does not go on
answering from a state it cannot trust.
"""

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from tradingfloor.settlement.clearinghouse.faults import FaultPlan, FaultRates
from tradingfloor.settlement.clearinghouse.server import ClearinghouseServer
from tradingfloor.settlement.clearinghouse.store import ClearingStore

CLEARINGHOUSE_PORT = 7400


class CannotListen(OSError):
    """The clearinghouse could not open its port."""


async def run_clearinghouse(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = CLEARINGHOUSE_PORT,
    participant: str | None = None,
    plan: FaultPlan | None = None,
    on_ready: Callable[[str, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (by default: until SIGINT or SIGTERM), or until an exchange
    fails for a reason that is not its client's (then raise that failure)."""
    store = ClearingStore(data_dir, plan)
    server = ClearinghouseServer(store, participant)
    try:
        bound_host, bound_port = await server.start(host, port)
    except OSError as error:  # the port is taken, the address is not this machine's, ...
        await server.stop()
        raise CannotListen(f"clearinghouse cannot listen on {host}:{port}: {error}") from error
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready(bound_host, bound_port)
    stopping = asyncio.create_task(stop.wait())
    failing = asyncio.create_task(server.failed.wait())
    try:
        await asyncio.wait((stopping, failing), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        failing.cancel()
        await server.stop()
    if server.failure is not None:
        raise server.failure


def clearinghouse(
    data: Annotated[Path, typer.Option(help="Directory of the clearinghouse's store.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).")] = CLEARINGHOUSE_PORT,
    participant: Annotated[
        str | None, typer.Option(help="The only participant id answered (default: any).")
    ] = None,
    faults: Annotated[
        str, typer.Option(help="Fault rates, e.g. drop=0.01,alter=0.01,duplicate=0.01,late=0.01")
    ] = "",
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault draws.")] = 0,
) -> None:
    """Run the clearinghouse simulator: CNS netting, settlement, fails, fault injection."""
    try:
        rates = FaultRates.parse(faults)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--faults") from error

    def ready(bound_host: str, bound_port: int) -> None:
        print(f"clearinghouse listening on {bound_host}:{bound_port}", flush=True)

    try:
        asyncio.run(
            run_clearinghouse(data, host, port, participant, FaultPlan(rates, fault_seed), ready)
        )
    except CannotListen as error:
        print(error, file=sys.stderr)
        raise typer.Exit(1) from error
