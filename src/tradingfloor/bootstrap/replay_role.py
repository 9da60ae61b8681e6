"""The recorded market of `serve --replay lobster`: it runs next to the shard, as the demo's
simulated market does (it reads the engine between commands, as a co-located client would),
and sends the recorded day's commands through the shard's command bus."""

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tradingfloor.bootstrap.setup import DEMO_USERS
from tradingfloor.domain.commands import Command
from tradingfloor.domain.events import Event
from tradingfloor.domain.origin import role_origin
from tradingfloor.service.shard import ShardRole

if TYPE_CHECKING:
    from tradingfloor.replay.live import LobsterMarket

REPLAY_ORIGIN = role_origin("replay")
"""The origin of the recorded market's commands."""

SPEED_MAX = "max"
"""`--speed max` (or 0): as fast as the platform takes the commands."""


@dataclass(frozen=True)
class ReplaySource:
    """What `serve --replay lobster` plays: the files, the pace, how many messages."""

    messages: Path
    orderbook: Path
    speed: float = 1.0
    """Times the recorded pace; 0: as fast as the platform goes."""
    limit: int | None = None
    """Play only the first `limit` messages (None: the whole file)."""

    def argv(self) -> list[str]:
        """As arguments of the shard role's process (`of_argv` reads them back)."""
        limit = "" if self.limit is None else str(self.limit)
        return [str(self.messages), str(self.orderbook), repr(self.speed), limit]

    @classmethod
    def of_argv(cls, argv: list[str]) -> "ReplaySource":
        messages, orderbook, speed, limit = argv
        return cls(Path(messages), Path(orderbook), float(speed), int(limit) if limit else None)


def parse_speed(text: str) -> float:
    """`--speed`: a factor of the recorded pace (1: real time), or `max` / 0: unpaced."""
    if text.strip().lower() == SPEED_MAX:
        return 0.0
    try:
        speed = float(text)
    except ValueError:
        reason = f"--speed is a number (times real time) or {SPEED_MAX}: {text!r}"
        raise ValueError(reason) from None
    if not speed >= 0 or speed == float("inf"):
        raise ValueError(f"--speed must be 0 ({SPEED_MAX}) or a positive number: {text!r}")
    return speed


def people_accounts() -> list[str]:
    """The accounts of the demo logins that trade (alice's, bob's): funded for the day."""
    return [account for _username, role, account in DEMO_USERS if role == "trader"]


async def start_replay_market(
    shard: ShardRole, stop: asyncio.Event, source: ReplaySource
) -> tuple["LobsterMarket", "asyncio.Task[None]"]:
    """Read the day, list its symbol and fund its accounts (once), then play it until its end
    or `stop`: the market, and the task that plays it."""
    from tradingfloor.replay.live import LobsterMarket, is_set_up, read_day, setup_commands
    from tradingfloor.service.sequencer import JournalUnavailable, Overloaded

    day = await asyncio.to_thread(read_day, source.messages, source.orderbook)
    engine = shard.engine
    accounts = engine.risk.ledger.accounts if engine.risk is not None else {}
    if not is_set_up(engine.books, accounts, day):
        for command in setup_commands(day, people_accounts()):
            await shard.submit(command, REPLAY_ORIGIN)

    async def submit(command: Command) -> list[Event]:
        return (await shard.submit(command, REPLAY_ORIGIN)).events

    market = LobsterMarket(
        day,
        submit,
        engine,
        source.speed,
        source.limit,
        retry_on=(Overloaded, JournalUnavailable),
    )
    print(
        f"replaying {day.symbol} {day.date} ({len(day.messages)} messages, {day.levels} "
        f"level{'s' if day.levels > 1 else ''}) at "
        f"{'full speed' if source.speed == 0 else f'{source.speed:g}x real time'}",
        flush=True,
    )
    return market, asyncio.create_task(market.run(stop))
