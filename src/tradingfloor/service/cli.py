"""`tradingfloor node`: one shard's sequencer and engine behind the order-entry line port."""

import asyncio
import signal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


class JournalKind(StrEnum):
    file = "file"
    jetstream = "jetstream"


def node(
    data: Annotated[
        Path, typer.Option(help="Data directory (journal, snapshots, events).")
    ] = Path("data"),
    host: Annotated[str, typer.Option(help="Address of the order-entry port.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Order-entry port (0: any free port).")] = 7001,
    fsync: Annotated[bool, typer.Option(help="fsync the journal per batch.")] = True,
    snapshot_every: Annotated[int, typer.Option(help="Commands between snapshots.")] = 500_000,
    journal: Annotated[
        JournalKind,
        typer.Option(help="file: segments under DATA/journal; jetstream: a NATS stream."),
    ] = JournalKind.file,
    nats_url: Annotated[
        str, typer.Option(help="NATS server of the jetstream journal.")
    ] = "nats://127.0.0.1:4222",
    shard: Annotated[
        str, typer.Option(help="Shard name: the jetstream journal is stream TF_JOURNAL_<shard>.")
    ] = "0",
    matching_only: Annotated[
        bool,
        typer.Option(
            help="No accounts, ledger or risk checks: an exchange whose members carry their "
            "own risk (a new journal only; a ledger is never switched off)."
        ),
    ] = False,
) -> None:
    """Recover from the journal, then take commands on a JSON-lines TCP port until Ctrl-C.

    Prints `hash <64 hex> at seq N`, the state after recovery, then `listening on HOST:PORT`.
    """
    from tradingfloor.journal.base import Journal
    from tradingfloor.service.lineserver import serve_lines
    from tradingfloor.service.node import Node, NodeSettings

    chosen: Journal | None = None
    if journal is JournalKind.jetstream:
        from tradingfloor.journal.jetstream import JetStreamJournal, JetStreamSettings

        chosen = JetStreamJournal(JetStreamSettings(url=nats_url, shard=shard))

    async def run() -> None:
        from tradingfloor.domain.settings import RiskSettings

        settings = NodeSettings(
            data,
            fsync=fsync,
            snapshot_every_commands=snapshot_every,
            risk=None if matching_only else RiskSettings(),
        )
        node = Node(settings, journal=chosen)
        try:
            recovered = await node.start()
        except (ConnectionError, RuntimeError) as error:
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from error
        state = recovered.engine.state_hash()
        console.print(
            f"recovered to seq {recovered.last_seq} (snapshot {recovered.snapshot_seq}, "
            f"{recovered.replayed} replayed) in {recovered.seconds:.3f} s; state {state[:16]}"
        )
        print(f"hash {state} at seq {recovered.last_seq}", flush=True)
        try:
            await node.configure_risk()
        except RuntimeError as error:
            console.print(f"[red]{error}[/red]")
            await node.stop()
            raise typer.Exit(1) from error
        sequencer = node.sequencer
        if sequencer is None:
            raise RuntimeError("node started without a sequencer")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        snapshots: set[asyncio.Task[int | None]] = set()

        def snapshot_now() -> None:  # SIGUSR1: a snapshot on demand
            task = loop.create_task(node.snapshot())
            snapshots.add(task)
            task.add_done_callback(snapshots.discard)

        loop.add_signal_handler(signal.SIGUSR1, snapshot_now)
        server = await serve_lines(sequencer, host, port)
        bound = server.sockets[0].getsockname()
        # Only now: a client that reads this line may also stop the node with SIGTERM at once.
        print(f"listening on {bound[0]}:{bound[1]}", flush=True)
        stopping = asyncio.create_task(stop.wait())
        failed = asyncio.create_task(sequencer.done.wait())
        await asyncio.wait((stopping, failed), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        failed.cancel()
        server.close()
        await server.wait_closed()
        await node.stop()
        if sequencer.failure is not None:
            console.print(
                f"[red]sequencer failed at seq {sequencer.last_seq}: {sequencer.failure}"
            )
            raise typer.Exit(1)
        console.print(f"stopped at seq {sequencer.last_seq}")

    asyncio.run(run())
