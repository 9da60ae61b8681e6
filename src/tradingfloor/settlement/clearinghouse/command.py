"""`tradingfloor clearinghouse --data DIR`: the clearinghouse simulator, in the foreground.

It prints one line when it listens (`clearinghouse listening on HOST:PORT`) and runs until
SIGINT or SIGTERM, then stops cleanly: it stops listening, lets the exchanges under way finish
(bounded), and closes its store.
"""

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from tradingfloor.settlement.clearinghouse.faults import FaultPlan, FaultRates
from tradingfloor.settlement.clearinghouse.server import ClearinghouseServer
from tradingfloor.settlement.clearinghouse.store import ClearingStore

CLEARINGHOUSE_PORT = 7400


async def run_clearinghouse(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = CLEARINGHOUSE_PORT,
    participant: str | None = None,
    plan: FaultPlan | None = None,
    on_ready: Callable[[str, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (by default: until SIGINT or SIGTERM)."""
    store = ClearingStore(data_dir, plan)
    server = ClearinghouseServer(store, participant)
    bound_host, bound_port = await server.start(host, port)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready(bound_host, bound_port)
    try:
        await stop.wait()
    finally:
        await server.stop()


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

    asyncio.run(
        run_clearinghouse(data, host, port, participant, FaultPlan(rates, fault_seed), ready)
    )
