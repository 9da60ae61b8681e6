"""What the NATS outage tests build around the roles: a NATS server of their own, a network
namespace joined to the host by a veth pair, and Unix sockets forwarded to TCP services.

- `PrivateNats`: a `nats-server -js` with its own store directory, on an address and port the
  test picks, stopped (SIGTERM, SIGKILL), paused (SIGSTOP: the kernel still acknowledges
  every byte while nothing answers, a silent peer as in a partition) and started again on the
  same store. The machine's own NATS server, which other tests use, is never touched.
- `Namespace`: `ip netns` with a veth pair (`<prefix>.1/30` on the host end, `.2` inside);
  `cut` sets the host end down, which drops every packet between the two without a reset (a
  silent partition: the host keeps its address, its own connections to it go through `lo`),
  `heal` sets it up again. Removed by `remove`, whatever happened.
- `UnixForward`: a Unix socket that carries each connection to a TCP address. Unix sockets
  live in the file system, which a network namespace shares: a process inside reaches
  PostgreSQL and Redis this way while the veth pair carries NATS alone, so cutting it
  partitions that process from NATS and from nothing else.
"""

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conftest import skip_or_fail

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
SERVER_WAIT_S = 30.0
"""The longest the private server may take to listen (or to stop) before the test fails."""


def free_port(host: str) -> int:
    """A TCP port nothing listens on at `host` now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateNats:
    """A nats-server with JetStream of the test's own (see the module)."""

    def __init__(self, root: Path, host: str, port: int, prefix: Sequence[str] = ()) -> None:
        if not os.access(NATS_SERVER, os.X_OK):
            skip_or_fail(f"no nats-server binary at {NATS_SERVER} to run a private server")
        self.root = root
        self.host = host
        self.port = port
        self.prefix = list(prefix)
        """What runs the server inside a namespace (`Namespace.prefix`), if it is to."""
        self.store = root / "nats-store"
        self.log_path = root / "nats-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self) -> None:
        """Start the server (again: on the same store, address and port)."""
        command = [*self.prefix, NATS_SERVER, "-js", "-sd", str(self.store), "-a", self.host]
        command += ["-p", str(self.port), "-n", f"tf-test-{uuid.uuid4().hex[:8]}"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)

    async def ready(self) -> None:
        """Wait until the server takes connections (and JetStream with them)."""
        deadline = time.monotonic() + SERVER_WAIT_S
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"nats-server exited:\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1),
            ):
                return
            assert time.monotonic() < deadline, f"nats-server not listening:\n{self.log()}"
            await asyncio.sleep(0.05)

    def send(self, number: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(number)

    def stop(self, number: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server with `number` and wait until it is gone."""
        if self.process is None:
            return
        self.send(signal.SIGCONT)  # a paused server must run to die of SIGTERM
        self.send(number)
        try:
            self.process.wait(SERVER_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4_000:]


def _ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True, timeout=SERVER_WAIT_S)


@dataclass
class Namespace:
    """A network namespace joined to the host by a veth pair (see the module)."""

    name: str
    host_link: str
    host_address: str
    inside_address: str

    @property
    def prefix(self) -> list[str]:
        """What runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def cut(self) -> None:
        _ip("link", "set", self.host_link, "down")

    def heal(self) -> None:
        _ip("link", "set", self.host_link, "up")

    def remove(self) -> None:
        """Delete the namespace (its end of the pair, and so the pair, with it)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "delete", self.name)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "delete", self.host_link)  # gone with the pair, unless that failed


def _free_subnet() -> int:
    """A third octet N such that no interface has an address in 10.213.N.0/24."""
    used = subprocess.run(
        ["ip", "-o", "-4", "addr"], check=True, capture_output=True, text=True
    ).stdout
    free = [n for n in range(256) if f"10.213.{n}." not in used]
    return random.choice(free)


def make_namespace() -> Namespace:
    """A new namespace and veth pair, or a skip (a failure in CI) where `ip netns` cannot
    run: it needs root and iproute2."""
    if shutil.which("ip") is None:
        skip_or_fail("no `ip` command (iproute2) to make a network namespace")
    if os.geteuid() != 0:
        skip_or_fail("`ip netns` needs root to make a network namespace")
    tag = uuid.uuid4().hex[:8]
    octet = _free_subnet()
    made = Namespace(f"tf-{tag}", f"tfh{tag}", f"10.213.{octet}.1", f"10.213.{octet}.2")
    inside_link = f"tfn{tag}"
    try:
        _ip("netns", "add", made.name)
        _ip("link", "add", made.host_link, "type", "veth", "peer", "name", inside_link)
        _ip("link", "set", inside_link, "netns", made.name)
        _ip("addr", "add", f"{made.host_address}/30", "dev", made.host_link)
        _ip("link", "set", made.host_link, "up")
        inside = ["netns", "exec", made.name, "ip"]
        _ip(*inside, "addr", "add", f"{made.inside_address}/30", "dev", inside_link)
        _ip(*inside, "link", "set", inside_link, "up")
        _ip(*inside, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as error:
        made.remove()
        skip_or_fail(f"cannot make a network namespace: {error.stderr.decode(errors='replace')}")
    return made


class UnixForward:
    """Connections to a Unix socket at `path`, each carried to `host`:`port` (see the
    module)."""

    def __init__(self, path: Path, host: str, port: int) -> None:
        self.path = path
        self.host = host
        self.port = port
        self.server: asyncio.AbstractServer | None = None
        self.pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.server = await asyncio.start_unix_server(self._carry, str(self.path))

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65_536):
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.pipes):
            task.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)
        self.path.unlink(missing_ok=True)
