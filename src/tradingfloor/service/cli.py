"""`tradingfloor node`: one shard's sequencer and engine behind the order-entry line port."""

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def node(
    data: Annotated[
        Path, typer.Option(help="Data directory (journal, snapshots, events).")
    ] = Path("data"),
    host: Annotated[str, typer.Option(help="Address of the order-entry port.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Order-entry port (0: any free port).")] = 7001,
    fsync: Annotated[bool, typer.Option(help="fsync the journal per batch.")] = True,
    snapshot_every: Annotated[int, typer.Option(help="Commands between snapshots.")] = 500_000,
) -> None:
    """Recover from the journal, then take commands on a JSON-lines TCP port until Ctrl-C."""
    from tradingfloor.service.lineserver import serve_lines
    from tradingfloor.service.node import Node, NodeSettings

    async def run() -> None:
        settings = NodeSettings(data, fsync=fsync, snapshot_every_commands=snapshot_every)
        node = Node(settings)
        recovered = await node.start()
        console.print(
            f"recovered to seq {recovered.last_seq} (snapshot {recovered.snapshot_seq}, "
            f"{recovered.replayed} replayed) in {recovered.seconds:.3f} s; "
            f"state {recovered.engine.state_hash()[:16]}"
        )
        assert node.sequencer is not None
        server = await serve_lines(node.sequencer, host, port)
        bound = server.sockets[0].getsockname()
        print(f"listening on {bound[0]}:{bound[1]}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()
        await server.wait_closed()
        await node.stop()
        console.print(f"stopped at seq {node.sequencer.last_seq}")

    asyncio.run(run())
