"""The lease that makes one of a shard's processes its primary: a key of a NATS KV bucket.

Bucket `nats_lease_bucket` (default `TF_LEASES`, history 1, no TTL: a lease ends by not being
renewed, never by the server), key = the shard's name, value JSON:

    {"holder": "<node id>", "epoch": <n>, "ts_ns": <holder's wall clock, information only>}

A node id is `<hostname>-<pid>-<6 random hex digits>`: a restarted process is another node.

- **First take**: `create` (refused when the key exists): epoch 1, or one past the epoch the
  candidate's journal already records (a bucket made again must not reuse an epoch).
- **Renewal** by the holder, every `shard_lease_renew_ms`: `update(key, value, last=revision)`,
  a compare-and-set on the revision it wrote last. Refused means someone else wrote the key:
  `LeaseLost`, and the primary stops at once.
- **Release** at a clean stop: a delete that expects the holder's revision, so that a standby
  takes the lease at its next poll (a deleted key is created again, as at the first take).
- **Expiry** is judged by each standby with its own monotonic clock, from the last change of
  the key *it observed* (a new revision): no two machines' clocks need to agree. A lease whose
  revision has not moved for `shard_lease_ttl_ms` is taken over by `update(..., last=that
  revision)` with epoch + 1; of several standbys, one wins the compare-and-set.

A primary that stops renewing (paused, partitioned) may still believe it holds the lease:
the lease alone does not keep it from writing. The journal's fence does (`service.standby`).
"""

import asyncio
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

log = logging.getLogger("tradingfloor.shard_lease")

lease_api_timeout_s = 0.5
"""The longest a KV request of the lease may take (a renewal must not outlast the lease)."""


class LeaseLost(RuntimeError):
    """Another node wrote the lease (or this one could not renew it in time): not primary."""


class LeaseValue(msgspec.Struct, frozen=True):
    holder: str
    epoch: int
    ts_ns: int


_decoder = msgspec.json.Decoder(LeaseValue)


def new_node_id() -> str:
    """`<hostname>-<pid>-<random>`, in the characters a KV key takes."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


async def key_value(nc: Client, bucket: str, ttl_s: float | None = None) -> KeyValue:
    """The bucket, created if missing (by whichever process comes first)."""
    js = nc.jetstream(timeout=lease_api_timeout_s * 4)
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        config = KeyValueConfig(bucket=bucket, history=1, ttl=ttl_s, storage=StorageType.FILE)
        try:
            return await js.create_key_value(config)
        except nats.js.errors.BadRequestError:  # created meanwhile by another process
            return await js.key_value(bucket)


class ShardLease:
    """One node's view of its shard's lease (see the module)."""

    def __init__(
        self,
        kv: KeyValue,
        shard: str,
        node: str,
        ttl_ms: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kv = kv
        self.shard = shard
        self.node = node
        self.ttl_s = ttl_ms / 1000
        self.monotonic = monotonic
        self.epoch = 0
        """The epoch of the lease while held (0: not held)."""
        self.revision = 0
        """The revision this node wrote last, while held."""
        self.seen: LeaseValue | None = None
        """The holder last observed (None: no lease seen)."""
        self._seen_revision = 0
        self._seen_at = 0.0

    @property
    def held(self) -> bool:
        return self.epoch > 0

    async def acquire(self, epoch_floor: int = 0) -> bool:
        """One try at the lease: taken if there is none, or if it expired as this node
        observed it; True when this node now holds it. `epoch_floor`: the newest epoch the
        journal records (the new epoch is past it)."""
        try:
            entry = await self.kv.get(self.shard)
        except nats.js.errors.KeyNotFoundError:
            return await self._create(epoch_floor)
        value = _decoder.decode(entry.value or b"")
        revision = entry.revision or 0
        now = self.monotonic()
        if revision != self._seen_revision:
            self.seen, self._seen_revision, self._seen_at = value, revision, now
            return False
        if now - self._seen_at < self.ttl_s:
            return False
        epoch = max(value.epoch, epoch_floor) + 1
        try:
            written = await self.kv.update(self.shard, self._value(epoch), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False  # renewed, or taken by another standby, since we read it
        log.warning(
            "lease of shard %s taken over from %s (epoch %d, not renewed for %.2f s): epoch %d",
            self.shard,
            value.holder,
            value.epoch,
            now - self._seen_at,
            epoch,
        )
        self._hold(epoch, written)
        return True

    async def _create(self, epoch_floor: int) -> bool:
        epoch = max(epoch_floor, self.seen.epoch if self.seen else 0) + 1
        try:
            written = await self.kv.create(self.shard, self._value(epoch))
        except nats.js.errors.KeyWrongLastSequenceError:
            return False  # another candidate created it first
        self._hold(epoch, written)
        return True

    def _hold(self, epoch: int, revision: int) -> None:
        self.epoch, self.revision = epoch, revision
        self.seen, self._seen_revision = LeaseValue(self.node, epoch, 0), revision

    def _value(self, epoch: int) -> bytes:
        return msgspec.json.encode(LeaseValue(self.node, epoch, time.time_ns()))

    async def renew(self) -> None:
        """Write the lease again over our own revision; `LeaseLost` if it moved."""
        if not self.held:
            raise LeaseLost(f"the lease of shard {self.shard} is not held")
        update = self.kv.update(self.shard, self._value(self.epoch), last=self.revision)
        try:  # bounded well within the TTL: `keep` must learn in time that it cannot renew
            self.revision = await asyncio.wait_for(update, self.ttl_s / 2)
        except nats.js.errors.KeyWrongLastSequenceError as error:
            self.epoch = 0
            raise LeaseLost(
                f"the lease of shard {self.shard} was written by another node: {error}"
            ) from error

    async def release(self) -> None:
        """Give the lease up at a clean stop, only if it is still ours (a delete that expects
        our revision): a standby then takes it at its next poll rather than after the TTL.
        Not released (a lost race, NATS away), it simply expires."""
        if not self.held:
            return
        self.epoch = 0
        try:
            await self.kv.delete(self.shard, last=self.revision)
        except (nats.errors.Error, TimeoutError) as error:
            log.warning("the lease of shard %s was not released: %r", self.shard, error)

    async def keep(self, renew_ms: int, on_lost: Callable[[LeaseLost], None]) -> None:
        """Renew every `renew_ms` until cancelled; `on_lost` once it is lost, or once it could
        not be renewed for the lease's TTL (a standby may have taken it by then)."""
        renewed_at = self.monotonic()
        while True:
            await asyncio.sleep(renew_ms / 1000)
            asked_at = self.monotonic()
            try:
                await self.renew()
                self._late(renewed_at, asked_at)
                renewed_at = self.monotonic()
            except LeaseLost as lost:
                on_lost(lost)
                return
            except (nats.errors.Error, TimeoutError, OSError) as error:
                if self.monotonic() - renewed_at >= self.ttl_s:
                    self.epoch = 0
                    on_lost(LeaseLost(f"lease not renewed for {self.ttl_s:g} s: {error!r}"))
                    return
                log.warning("renewing the lease of shard %s failed: %r", self.shard, error)

    def _late(self, renewed_at: float, asked_at: float) -> None:
        """Say so when a renewal came after half the TTL: a standby may take the lease over
        though this node is alive (the lease is safe, the takeover needless)."""
        now = self.monotonic()
        if now - renewed_at >= self.ttl_s / 2:
            log.warning(
                "the lease of shard %s was renewed %.2f s after the last renewal (the event "
                "loop was held %.2f s, the KV update took %.2f s)",
                self.shard,
                now - renewed_at,
                asked_at - renewed_at,
                now - asked_at,
            )
