"""The shard candidates of one shard as processes, for `bench failover` and its test.

Every candidate is `python -m tradingfloor shard --config FILE` with its own data directory
under `root` (`TRADINGFLOOR_DATA_DIR`), on one settings file: transport nats, journal
jetstream, `shard_standby`, a shard name, a lease bucket and a roles bucket of the run's own
(deleted by `drop`, with the journal and events streams). Every wait has a deadline and fails
saying what it waited for, with the end of the process's output.
"""

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nats
import nats.js.errors

from tradingfloor.config import Settings, load_settings

start_wait_s = 120.0
"""The longest a candidate may take to follow the journal (imports, recovery)."""
stop_wait_s = 30.0
_STOPPED = re.compile(r"stopped at seq (\d+); state ([0-9a-f]{64})")


class CandidateFailed(AssertionError):
    """A candidate did not do in time what was waited for (its output is in the message)."""


class Candidates:
    """Candidate processes `name` -> Popen, each in `root/<name>`."""

    def __init__(self, root: Path, nats_url: str, lease: tuple[int, int] = (200, 1_000)) -> None:
        """`lease`: (shard_lease_renew_ms, shard_lease_ttl_ms)."""
        self.root = root
        self.nats_url = nats_url
        run_id = uuid.uuid4().hex[:10]
        self.shard = f"fo-{run_id}"
        self.lease_bucket = f"TFL_{run_id}"
        self.roles_bucket = f"TFR_{run_id}"
        self.config = root / "shard.toml"
        root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "\n".join(
                (
                    'transport = "nats"',
                    'journal = "jetstream"',
                    "shard_standby = true",
                    f'nats_url = "{nats_url}"',
                    f'shard_name = "{self.shard}"',
                    f'nats_lease_bucket = "{self.lease_bucket}"',
                    f'nats_roles_bucket = "{self.roles_bucket}"',
                    f"shard_lease_renew_ms = {lease[0]}",
                    f"shard_lease_ttl_ms = {lease[1]}",
                    "fsync = false",
                    "",
                )
            ),
            encoding="utf-8",
        )
        self.settings: Settings = load_settings(self.config)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        for mark in ("shard", "shard-standby"):
            self._mark(name, mark).unlink(missing_ok=True)
        env = {**os.environ, "TRADINGFLOOR_DATA_DIR": str(self.root / name)}
        with (self.root / f"{name}.log").open("ab") as log:
            command = [sys.executable, "-m", "tradingfloor", "shard", "--config", str(self.config)]
            self.processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def _mark(self, name: str, mark: str) -> Path:
        # DATA/run/<mark>.ready, as a role makes it (`bootstrap.run_paths`, which a bench,
        # outside the composition root, does not import).
        return self.root / name / "run" / f"{mark}.ready"

    def is_primary(self, name: str) -> bool:
        return self._mark(name, "shard").exists()

    async def following(self, name: str) -> None:
        await self._until_mark(name, "shard-standby", start_wait_s, "following the journal")

    async def primary(self, name: str, timeout_s: float = start_wait_s) -> None:
        await self._until_mark(name, "shard", timeout_s, "serving as primary")

    async def _until_mark(self, name: str, mark: str, timeout_s: float, what: str) -> None:
        path = self._mark(name, mark)
        deadline = time.monotonic() + timeout_s
        while not path.exists():
            process = self.processes[name]
            if process.poll() is not None:
                raise CandidateFailed(f"{name} exited ({process.returncode}):\n{self.log(name)}")
            if time.monotonic() > deadline:
                raise CandidateFailed(f"{name} not {what} in {timeout_s} s:\n{self.log(name)}")
            await asyncio.sleep(0.01)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-4_000:]

    def kill(self, name: str) -> None:
        """SIGKILL, and wait for the process to be gone."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(stop_wait_s)

    def signal(self, name: str, number: int) -> None:
        self.processes[name].send_signal(number)

    async def exited(self, name: str, timeout_s: float = stop_wait_s) -> int:
        """The process's exit code once it has exited by itself."""
        process = self.processes[name]
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            if time.monotonic() > deadline:
                raise CandidateFailed(f"{name} did not exit in {timeout_s} s:\n{self.log(name)}")
            await asyncio.sleep(0.02)
        return process.returncode

    async def stop(self, name: str) -> tuple[int, str]:
        """SIGTERM, as an operator would: the (seq, state hash) it printed at its stop."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = await self.exited(name)
        found = _STOPPED.findall(self.log(name))
        if code != 0 or not found:
            raise CandidateFailed(f"{name} did not stop cleanly ({code}):\n{self.log(name)}")
        seq, state = found[-1]
        return int(seq), state

    def stop_all(self) -> None:
        """Every process still running: SIGCONT (a paused one), SIGKILL, reaped."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                    process.kill()
                process.wait(stop_wait_s)

    async def drop(self) -> None:
        """Delete the run's streams and buckets from the NATS server."""
        connection = await nats.connect(self.nats_url)
        try:
            js = connection.jetstream()
            streams = (
                f"TF_JOURNAL_{self.shard}",
                f"TF_EVENTS_{self.shard}",
                f"KV_{self.lease_bucket}",
                f"KV_{self.roles_bucket}",
            )
            for stream in streams:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.delete_stream(stream)
        finally:
            await connection.close()
