"""`tradingfloor allocator --config FILE`: the cash allocator of a platform of several symbol
shards (`service.allocator`), on NATS, in the foreground until SIGINT or SIGTERM.

It holds a port to every shard named in `shards` and finishes every move of cash between
them; run one per platform (a second one is harmless: a shard takes each move once, the
second's copy is refused as already taken).
"""

import asyncio

from tradingfloor.config import ConfigError, Settings


def check_allocator_settings(settings: Settings) -> None:
    if settings.transport != "nats":
        raise ConfigError("the allocator runs with transport = nats (one port per shard)")
    if len(settings.shards) < 2:
        raise ConfigError("the allocator needs a platform of two shards or more (shards)")


async def run_allocator(settings: Settings) -> None:
    from tradingfloor.bootstrap.roles import _ready, _transport, stop_on_signals
    from tradingfloor.bootstrap.transport import NatsTransport
    from tradingfloor.service.allocator import CashAllocator

    stop = stop_on_signals()
    transport = await _transport(settings, "allocator", stop)
    if transport is None:
        return
    if not isinstance(transport, NatsTransport):
        raise ConfigError("the allocator runs with transport = nats")
    allocator = CashAllocator(transport.shard_ports())
    while not stop.is_set():  # the shards may not answer yet
        try:
            await allocator.start()
            break
        except Exception as error:
            print(f"waiting for the shards: {error}", flush=True)
            await asyncio.sleep(1.0)
    _ready(settings, "allocator")
    await stop.wait()
    await allocator.stop()
    await transport.close()
