"""Hand-built trading for the export and execution-quality tests: a real engine's events,
recorded as the projector reads them, projected into SQLite or PostgreSQL."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from risk_helpers import Market
from tradingfloor.domain.commands import Command
from tradingfloor.domain.events import Event
from tradingfloor.risk.calendar import ts_at
from tradingfloor.store import make_engine, upgrade
from tradingfloor.store.projector import Projector

NS_PER_S = 1_000_000_000


@dataclass
class RecordingMarket(Market):
    """A `Market` that keeps (seq, ts, events) of every command: what the projector reads."""

    log: list[tuple[int, int, list[Event]]] = field(default_factory=list)

    def do(self, command: Command, advance_ns: int = 0) -> list[Event]:
        out = super().do(command, advance_ns)
        self.log.append((self.seq, self.ts, out))
        return out

    def at(self, when: str) -> "RecordingMarket":
        """Move the clock to `when`, New York time."""
        self.ts = ts_at(when)
        return self

    def later(self, seconds: float) -> "RecordingMarket":
        self.ts += int(seconds * NS_PER_S)
        return self


def projected(url: str, market: RecordingMarket) -> Engine:
    """The read models of `market` at `url` (migrated first)."""
    upgrade(url)
    engine = make_engine(url)
    Projector(engine).apply(market.log)
    return engine


def database_url(request: Any, tmp_path: Path) -> str:
    """An empty database of the fixture's kind: a SQLite file, or a scratch PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
