"""The fractional desk role's wiring (`service.fractional_desk`): `tradingfloor desk` (the
role in the foreground, on the transport the settings name), a process of serve's supervisor
(`python -m tradingfloor.bootstrap.desk_role`), and the role inside the process of `serve
--single-process`. It runs when the platform has a fractional desk (`fractional_desk_account`)
and `fractional_desk_squaring` is on.
"""

import asyncio
from collections.abc import Awaitable, Callable

from tradingfloor.bootstrap.surveillance_role import _shard_ports
from tradingfloor.config import ConfigError, Settings
from tradingfloor.service.fractional_desk import DeskBand, FractionalDesk
from tradingfloor.service.ports import ShardPort


def desk_runs(settings: Settings) -> bool:
    return bool(settings.fractional_desk_account) and settings.fractional_desk_squaring


def check_desk_settings(settings: Settings) -> None:
    """Refuse what the role cannot run with (`ConfigError`, saying what to set)."""
    if not settings.fractional_desk_account:
        raise ConfigError("fractional_desk_account is empty: the platform has no desk")
    if not settings.fractional_desk_squaring:
        raise ConfigError("fractional_desk_squaring is false: the desk is squared by hand")


def make_desk(settings: Settings, ports: dict[str, ShardPort]) -> FractionalDesk:
    band = DeskBand(
        settings.fractional_desk_inventory_min_shares,
        settings.fractional_desk_inventory_max_shares,
    )
    return FractionalDesk(ports, settings.fractional_desk_account, band)


async def run_desk(settings: Settings) -> None:
    """The role until SIGINT or SIGTERM."""
    from tradingfloor.bootstrap.roles import _ready, _transport, stop_on_signals

    stop = stop_on_signals()
    transport = await _transport(settings, "desk", stop)
    if transport is None:
        return
    desk = make_desk(settings, _shard_ports(transport, settings))
    try:
        while not stop.is_set():  # the shards may not answer yet
            try:
                await desk.start()
                break
            except Exception as error:
                print(f"waiting for the shards: {error}", flush=True)
                await asyncio.sleep(1.0)
        _ready(settings, "desk")
        await stop.wait()
    finally:
        await desk.stop()
        await transport.close()


async def start_in_process(settings: Settings, shard: ShardPort) -> Callable[[], Awaitable[None]]:
    """`serve --single-process`: the role on the in-process shard, in tasks of this process;
    returns what stops it. Nothing when the desk is not squared by the platform."""
    if not desk_runs(settings):

        async def nothing() -> None:
            return None

        return nothing
    desk = make_desk(settings, {settings.shard_name: shard})
    await desk.start()
    return desk.stop


def main(argv: list[str]) -> int:
    """`python -m tradingfloor.bootstrap.desk_role`: the role as a process of serve's
    supervisor (its settings from the environment, as the other roles')."""
    from tradingfloor.bootstrap import roles
    from tradingfloor.gateway import logs

    if len(argv) != 1:
        print("usage: desk_role")
        return 2
    logs.configure()
    roles._die_with_parent()
    asyncio.run(run_desk(roles._settings_from_environment()))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
