"""Every shard process's status in a NATS KV bucket, for `cluster status` and operators.

Bucket `nats_roles_bucket` (default `TF_ROLES`, history 1, entries expire `status_ttl_s` =
5 s after their last write, so a dead process's entry vanishes by itself), key
`shard.<shard>.<node id>`, value JSON, written again every `status_interval_s` = 1 s:

    {"role": "shard", "shard": "<shard>", "node": "<node id>",
     "state": "primary" | "standby" | "taking-over",
     "applied_seq": <the newest seq its engine applied>,
     "journal_seq": <the newest seq of the journal stream it knows of>,
     "epoch": <its lease epoch while primary or taking over, else the epoch it last saw>,
     "ts_ns": <its wall clock when written>}

A standby's `journal_seq - applied_seq` is how far behind the primary it follows. A write that
fails (NATS away) is only logged: the status is information, never a reason to stop.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
import nats.errors
from nats.js.kv import KeyValue

log = logging.getLogger("tradingfloor.shard_status")

status_interval_s = 1.0
"""How often a shard process writes its status."""
status_ttl_s = 5.0
"""How long an entry outlives its last write (the bucket's max age)."""


class ShardStatus(msgspec.Struct, frozen=True):
    role: str
    shard: str
    node: str
    state: str
    applied_seq: int
    journal_seq: int
    epoch: int
    ts_ns: int


def status_key(shard: str, node: str) -> str:
    return f"shard.{shard}.{node}"


class StatusWriter:
    """Writes `status()` under the node's key every `status_interval_s` until stopped."""

    def __init__(
        self, kv: KeyValue, shard: str, node: str, status: Callable[[], Awaitable[ShardStatus]]
    ) -> None:
        self.kv = kv
        self.key = status_key(shard, node)
        self.status = status
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="shard-status")

    async def write(self) -> None:
        status = await self.status()
        await self.kv.put(self.key, msgspec.json.encode(status))

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.write()
                failing = False
            except (nats.errors.Error, TimeoutError, OSError) as error:
                if not failing:
                    log.warning("the shard's status could not be written: %r", error)
                failing = True
            await asyncio.sleep(status_interval_s)

    async def stop(self) -> None:
        """Stop writing and remove the entry (a clean stop is not a dead node)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
            await self.kv.delete(self.key)
