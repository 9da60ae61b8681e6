"""Crash tests with a real process: `kill -9` a node under load, restart it, check nothing is lost.

The node (`tradingfloor node`) runs as a subprocess; this test process drives orders at its line
port from several connections and records every answered command (seq + the command sent).
After every kill, on a copy of the data directory (and on the stream, for JetStream):

- the journal holds every answered command at its seq, and what was journaled before is still
  there unchanged (nothing is lost or rewritten across crashes);
- the state hash the node printed after recovery equals a replay from seq 1 in a fresh engine;
- every snapshot's hash equals that replay's at its seq, and the event log holds exactly the
  replay's events; for the file journal, `tradingfloor journal verify` exits 0 as well.

TRADINGFLOOR_CRASH_KILLS (default 20) and TRADINGFLOOR_CRASH_SEED set the run.
"""

import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
)
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.events import Event
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.journal.codec import Entry, on_the_feed
from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.jetstream import JetStreamJournal, JetStreamSettings
from tradingfloor.journal.snapshots import read_snapshot
from tradingfloor.service.eventlog import EventLog

KILLS = int(os.environ.get("TRADINGFLOOR_CRASH_KILLS", "20"))
SEED = int(os.environ.get("TRADINGFLOOR_CRASH_SEED", "20250101"))
SYMBOLS = ("XYZ", "ABC")
ACCOUNTS = ("acct-1", "acct-2", "acct-3", "acct-4", "acct-5")
CONNECTIONS = 4
WINDOW = 8
"""Requests in flight per connection."""
SNAPSHOT_EVERY = 250
START_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 10.0
VERIFY_TIMEOUT_S = 60.0
LOAD_S = (0.15, 0.9)
"""Range of the random time under load before a kill."""
EARLY_KILL_EVERY = 4
"""Every 4th run gets an extra kill at a random moment of its start-up (recovery)."""
EARLY_KILL_S = (0.05, 0.6)
NODE = [sys.executable, "-c", "from tradingfloor.cli import main; main()"]


# --------------------------------------------------------------------------- the node process


@dataclass
class Started:
    seq: int
    state_hash: str
    port: int
    journal_before: int = 0
    """Records the journal held (as this test read it) before this start."""


class NodeProcess:
    """One `tradingfloor node` subprocess: start, wait for its port, kill -9."""

    def __init__(self, data: Path, extra: list[str], log: Path) -> None:
        self.data = data
        self.extra = extra
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def spawn(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *NODE,
                "node",
                "--data",
                str(self.data),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--snapshot-every",
                str(SNAPSHOT_EVERY),
                *self.extra,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )

    async def ready(self) -> Started:
        """Read the start-up lines: the recovered hash, then the port."""
        if self.process is None or self.process.stdout is None:
            raise RuntimeError("not spawned")
        recovered: tuple[int, str] | None = None
        async with asyncio.timeout(START_TIMEOUT_S):
            while line := (await self.process.stdout.readline()).decode():
                if line.startswith("hash "):
                    _, state_hash, _, _, seq = line.split()
                    recovered = int(seq), state_hash
                elif line.startswith("listening on ") and recovered is not None:
                    port = int(line.rsplit(":", 1)[1])
                    return Started(recovered[0], recovered[1], port)
        raise AssertionError(f"node exited during start-up; see {self.log}:\n{self.tail()}")

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            async with asyncio.timeout(10):
                await self.process.wait()

    async def stop(self) -> int:
        """A clean stop (SIGTERM); returns the exit code."""
        if self.process is None:
            raise RuntimeError("not spawned")
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            return await self.process.wait()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


# --------------------------------------------------------------------------- the load


@dataclass
class Answered:
    """What the node answered, over all runs: seq -> the command as journaled."""

    commands: dict[int, Command] = field(default_factory=dict)
    events: dict[int, object] = field(default_factory=dict)
    """seq -> the answer's events, as JSON values."""
    errors: list[str] = field(default_factory=list)
    sent: int = 0

    def record(self, seq: int, sent: Command, events: object) -> None:
        journaled = _with_order_id(sent, seq)
        if seq in self.commands:
            raise AssertionError(f"seq {seq} answered twice: {self.commands[seq]}, {journaled}")
        self.commands[seq] = journaled
        self.events[seq] = events


def _with_order_id(command: Command, seq: int) -> Command:
    """The command as the sequencer journals it: a PlaceOrder's id 0 becomes its seq."""
    if isinstance(command, PlaceOrder) and command.order_id == 0:
        return msgspec.structs.replace(command, order_id=seq)
    return command


class Client:
    """One line-port connection that keeps up to WINDOW requests in flight."""

    def __init__(self, port: int, rng: random.Random, answered: Answered) -> None:
        self.port = port
        self.rng = rng
        self.answered = answered
        self.placed: list[tuple[int, str, str]] = []

    def next_command(self) -> Command:
        rng = self.rng
        if self.placed and rng.random() < 0.25:
            order_id, account, symbol = self.placed.pop(rng.randrange(len(self.placed)))
            return CancelOrder(order_id, symbol, account)
        side = rng.choice((Side.BUY, Side.SELL))
        price = 10_000 + rng.randint(-8, 8)  # both sides overlap: many orders cross
        qty = rng.randint(1, 5) * 10
        account, symbol = rng.choice(ACCOUNTS), rng.choice(SYMBOLS)
        return PlaceOrder(0, account, symbol, side, OrderType.LIMIT, qty, price)

    async def run(self) -> None:
        """Send and read until the node goes away (killed)."""
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return
        in_flight: asyncio.Queue[tuple[int, Command]] = asyncio.Queue(WINDOW)
        ref = 0

        async def send() -> None:
            nonlocal ref
            while True:
                command = self.next_command()
                ref += 1
                await in_flight.put((ref, command))
                line = msgspec.json.encode({"ref": ref, "command": command})
                writer.write(line + b"\n")
                self.answered.sent += 1
                await writer.drain()

        async def receive() -> None:
            while True:
                line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT_S)
                if not line.endswith(b"\n"):
                    return  # the node is gone (a cut-off line is no answer)
                expected_ref, command = in_flight.get_nowait()
                answer = msgspec.json.decode(line)
                if answer.get("ref") != expected_ref:
                    raise AssertionError(f"answer {answer} out of order, {expected_ref} due")
                if "error" in answer:
                    self.answered.errors.append(answer["error"])
                    continue
                seq = answer["seq"]
                self.answered.record(seq, command, answer["events"])
                if isinstance(command, PlaceOrder):
                    self.placed.append((seq, command.account, command.symbol))

        sender = asyncio.create_task(send())
        try:
            await receive()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
            writer.close()


async def add_instruments(port: int, answered: Answered) -> None:
    """List the symbols and fund the accounts (cash, and shares to sell): the node keeps a
    ledger, so the state compared after each crash includes every account."""
    setup: list[Command] = [AddInstrument(Instrument(symbol, tick_size=1)) for symbol in SYMBOLS]
    for account in ACCOUNTS:
        setup.append(OpenAccount(account))
        setup.append(Deposit(account, 10**12))
        setup.extend(DepositShares(account, symbol, 10**7, 10_000) for symbol in SYMBOLS)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for command in setup:
            writer.write(msgspec.json.encode(command) + b"\n")
            answer = msgspec.json.decode(await asyncio.wait_for(reader.readline(), 10))
            answered.record(answer["seq"], command, answer["events"])
    finally:
        writer.close()


# --------------------------------------------------------------------------- the checks


@dataclass
class Replay:
    """A clean replay from seq 1 in a fresh engine, advanced as the journal grows."""

    engine: Engine = field(default_factory=Engine)
    journal: list[Entry] = field(default_factory=list)
    events: list[list[Event]] = field(default_factory=list)
    """events[seq - 1]: what the engine gave for seq."""
    hashes: dict[int, str] = field(default_factory=dict)
    checked_starts: int = 0
    events_checked: int = 0
    checked_snapshots: set[int] = field(default_factory=set)

    def extend(self, journal: list[Entry], want_hashes: set[int]) -> None:
        """Take the journal as read now: what was there before must be there unchanged."""
        seen = len(self.journal)
        if journal[:seen] != self.journal:
            pairs = zip(journal, self.journal, strict=False)
            first = next((i for i, (a, b) in enumerate(pairs) if a != b), len(journal))
            raise AssertionError(f"journaled seq {first + 1} changed or vanished after a crash")
        for entry in journal[seen:]:
            if entry.seq != len(self.journal) + 1:
                raise AssertionError(f"journal gives seq {entry.seq} after {len(self.journal)}")
            self.events.append(self.engine.apply(entry.command, entry.seq, entry.ts))
            self.journal.append(entry)
            if entry.seq in want_hashes:
                self.hashes[entry.seq] = self.engine.state_hash()
        self.hashes[len(self.journal)] = self.engine.state_hash()

    def hash_at(self, seq: int) -> str:
        if seq == 0:
            return Engine().state_hash()
        if seq not in self.hashes:  # asked for after the replay passed it: replay again
            engine = Engine()
            for entry in self.journal[:seq]:
                engine.apply(entry.command, entry.seq, entry.ts)
            self.hashes[seq] = engine.state_hash()
        return self.hashes[seq]


def check_answered(replay: Replay, answered: Answered, checked: int) -> None:
    """Every answered command is journaled at its seq; the answer's events are the replay's."""
    journal = replay.journal
    for seq, command in answered.commands.items():
        if seq > len(journal):
            raise AssertionError(
                f"answered seq {seq} is missing: the journal ends at {len(journal)}"
            )
        entry = journal[seq - 1]
        if entry.seq != seq or entry.command != command:
            raise AssertionError(f"seq {seq}: answered {command}, journaled {entry}")
    for seq in sorted(answered.commands)[checked:]:
        replayed = msgspec.json.decode(msgspec.json.encode(replay.events[seq - 1]))
        if replayed != answered.events[seq]:
            raise AssertionError(f"seq {seq}: answered {answered.events[seq]}, replay {replayed}")


def check_snapshots_and_events(copy: Path, replay: Replay, recovered_seq: int) -> None:
    """Snapshots agree with the replay; the event log holds the replay's events, and at least
    up to what the latest start recovered (a node writes them again before it opens its port)."""
    for path in sorted((copy / "snapshots").glob("snapshot-*.snap")):
        snapshot = read_snapshot(path)  # written by rename: never damaged by a kill
        if snapshot.seq in replay.checked_snapshots:
            continue
        assert snapshot.seq <= len(replay.journal), f"{path.name} is ahead of the journal"
        assert snapshot.state_hash == replay.hash_at(snapshot.seq), f"{path.name} disagrees"
        replay.checked_snapshots.add(snapshot.seq)
    # What an earlier check read stays as it was (only a torn tail, never read, is cut).
    events = EventLog(copy / "events")
    events.open()
    try:
        assert events.last_seq >= recovered_seq, "the event log lost what recovery wrote"
        for seq, _ts, logged in events.read(replay.events_checked + 1):
            assert seq <= len(replay.journal), f"event log has seq {seq} past the journal"
            entry = replay.journal[seq - 1]
            fed = on_the_feed(seq, entry.ts, entry.command, entry.origin, replay.events[seq - 1])
            assert logged == fed, f"event log differs at seq {seq}"
            replay.events_checked = seq
    finally:
        events.close()


def snapshot_seqs(data: Path) -> set[int]:
    return {int(path.stem.split("-")[1]) for path in (data / "snapshots").glob("snapshot-*.snap")}


# --------------------------------------------------------------------------- the run


ReadJournal = Callable[[Path], Awaitable[list[Entry]]]


@dataclass
class CrashRun:
    data: Path
    node: NodeProcess
    read_journal: ReadJournal
    verify_cli: bool
    """Run `tradingfloor journal verify` on a copy after every kill (file journal)."""
    exact_recovery: bool
    """A start recovers exactly what this test read after the kill (file journal); with
    JetStream, a killed node's last publishes may still land after the read."""
    rng: random.Random
    answered: Answered = field(default_factory=Answered)
    replay: Replay = field(default_factory=Replay)
    starts: list[Started] = field(default_factory=list)
    kills: int = 0
    early_kills: int = 0
    checks: int = 0
    answered_checked: int = 0
    verify: list[tuple[asyncio.subprocess.Process, Path]] = field(default_factory=list)

    async def cycle(self, number: int) -> None:
        await self.node.spawn()
        if number % EARLY_KILL_EVERY == EARLY_KILL_EVERY - 1:
            await asyncio.sleep(self.rng.uniform(*EARLY_KILL_S))  # imports, recovery
            await self.node.kill()
            self.early_kills += 1
            await self.check(number, "early")
        started = await self.start()
        if number == 0:
            await add_instruments(started.port, self.answered)
        clients = [
            Client(started.port, random.Random(self.rng.random()), self.answered)
            for _ in range(CONNECTIONS)
        ]
        tasks = [asyncio.create_task(client.run()) for client in clients]
        await asyncio.sleep(self.rng.uniform(*LOAD_S))
        await self.node.kill()
        self.kills += 1
        async with asyncio.timeout(ANSWER_TIMEOUT_S + 5):
            await asyncio.gather(*tasks)
        await self.check(number, "load")

    async def start(self) -> Started:
        if self.node.process is None or self.node.process.returncode is not None:
            await self.node.spawn()
        started = await self.node.ready()
        started.journal_before = len(self.replay.journal)
        self.starts.append(started)
        return started

    async def check(self, number: int, kind: str) -> None:
        copy = self.data.parent / f"copy-{number}-{kind}"
        shutil.copytree(self.data, copy)
        if self.verify_cli:  # on a copy of its own: verify cuts a torn tail itself
            verify_copy = self.data.parent / f"verify-{number}-{kind}"
            shutil.copytree(self.data, verify_copy)
            self.verify.append((await spawn_verify(verify_copy), verify_copy))
        journal = await self.read_journal(copy)
        self.replay.extend(journal, snapshot_seqs(copy))
        check_answered(self.replay, self.answered, self.answered_checked)
        self.answered_checked = len(self.answered.commands)
        for started in self.starts[self.replay.checked_starts :]:
            assert started.seq <= len(self.replay.journal)
            if self.exact_recovery:
                assert started.seq == started.journal_before, "recovery left records out"
            else:
                assert started.seq >= started.journal_before, "recovery left records out"
            assert started.state_hash == self.replay.hash_at(started.seq), (
                f"the node recovered to seq {started.seq} with a state hash that a clean "
                "replay of the journal does not give"
            )
        self.replay.checked_starts = len(self.starts)
        recovered_seq = self.starts[-1].seq if self.starts else 0
        check_snapshots_and_events(copy, self.replay, recovered_seq)
        await self.reap_verify(block=False)
        shutil.rmtree(copy)
        self.checks += 1

    async def reap_verify(self, block: bool) -> None:
        """Each `journal verify` exits 0 and ends at the replay's state hash."""
        for process, copy in list(self.verify):
            if block:
                async with asyncio.timeout(VERIFY_TIMEOUT_S):
                    await process.wait()
            if process.returncode is None:
                continue
            self.verify.remove((process, copy))
            shutil.rmtree(copy)
            output = (await process.stdout.read()).decode() if process.stdout else ""
            assert process.returncode == 0, f"journal verify failed:\n{output}"
            # It prints the range it replayed and the hash it reached: the replay's, too.
            span = re.search(r"journal 1\.\.(\d+)", output)
            state = re.search(r"state hash ([0-9a-f]{64})", output)
            if span and state:
                assert state[1] == self.replay.hash_at(int(span[1])), output

    async def finish(self) -> Started:
        """Start once more, stop cleanly, and check that recovery too."""
        started = await self.start()
        assert await self.node.stop() == 0, self.node.tail()
        await self.check(10_000, "final")
        await self.reap_verify(block=True)
        return started


async def spawn_verify(data: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *NODE,
        "journal",
        "verify",
        "--data",
        str(data),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )


async def crash_loop(run: CrashRun) -> None:
    began = time.monotonic()
    try:
        for number in range(KILLS):
            await run.cycle(number)
        final = await run.finish()
    except BaseException:
        print(f"\nthe node's log ends with:\n{run.node.tail()}")
        raise
    finally:
        await run.node.kill()
        for process, _ in run.verify:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert run.kills >= KILLS
    assert not run.answered.errors, run.answered.errors[:5]
    assert len(run.answered.commands) > KILLS * 20, "too little load to mean anything"
    print(
        f"\n{run.kills} kills under load + {run.early_kills} during start-up; "
        f"{len(run.answered.commands)} answered commands checked in a journal of "
        f"{len(run.replay.journal)} ({run.answered.sent} sent); {run.checks} checks; "
        f"{len(run.replay.checked_snapshots)} snapshots; final state at seq {final.seq}; "
        f"{time.monotonic() - began:.1f} s"
    )


async def read_file_journal(copy: Path) -> list[Entry]:
    journal = FileJournal(copy / "journal", fsync=False)
    journal.open_sync()  # cuts a torn tail, as the node does on start
    try:
        return list(journal.read(1))
    finally:
        await journal.close()


async def test_kill_9_with_file_journal(tmp_path: Path) -> None:
    data = tmp_path / "node"
    node = NodeProcess(data, ["--journal", "file"], tmp_path / "node.log")
    run = CrashRun(data, node, read_file_journal, True, True, random.Random(SEED))
    await crash_loop(run)


async def test_kill_9_with_jetstream_journal(
    tmp_path: Path, jetstream_settings: JetStreamSettings
) -> None:
    settings = jetstream_settings

    async def read_stream(_copy: Path) -> list[Entry]:
        journal = JetStreamJournal(settings)
        try:
            await journal.open()
            return [entry async for entry in journal.replay(1)]
        finally:
            await journal.close()

    data = tmp_path / "node"
    extra = ["--journal", "jetstream", "--nats-url", settings.url, "--shard", settings.shard]
    node = NodeProcess(data, extra, tmp_path / "node.log")
    run = CrashRun(data, node, read_stream, False, False, random.Random(SEED + 1))
    await crash_loop(run)


def test_the_checks_catch_a_lost_or_changed_record() -> None:
    """The crash tests' checks themselves, on a made-up journal: each failure is caught."""
    instrument = AddInstrument(Instrument("XYZ", tick_size=1))
    place = PlaceOrder(0, "acct-1", "XYZ", Side.BUY, OrderType.LIMIT, 10, 10_000)
    journal = [Entry(1, 10, instrument), Entry(2, 11, _with_order_id(place, 2))]
    replay = Replay()
    replay.extend(journal, set())
    answered = Answered()
    answered.record(1, instrument, [["InstrumentAdded", 1, 10, {"symbol": "XYZ"}]])
    with pytest.raises(AssertionError, match="seq 1: answered"):  # events differ
        check_answered(replay, answered, 0)

    answered = Answered()
    answered.record(2, place, msgspec.json.decode(msgspec.json.encode(replay.events[1])))
    check_answered(replay, answered, 0)
    answered.record(3, place, [])
    with pytest.raises(AssertionError, match="answered seq 3 is missing"):
        check_answered(replay, answered, 1)
    with pytest.raises(AssertionError, match="answered twice"):
        answered.record(3, place, [])

    other = msgspec.structs.replace(place, qty=20)
    answered = Answered(commands={2: _with_order_id(other, 2)})
    with pytest.raises(AssertionError, match="seq 2: answered"):
        check_answered(replay, answered, 1)
    with pytest.raises(AssertionError, match="seq 2 changed or vanished"):
        replay.extend([journal[0], Entry(2, 11, other)], set())
    with pytest.raises(AssertionError, match="seq 2 changed or vanished"):
        replay.extend(journal[:1], set())
    assert replay.hash_at(1) != replay.hash_at(2)
