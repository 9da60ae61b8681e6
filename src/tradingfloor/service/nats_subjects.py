"""The NATS names of one shard: its subjects, its events stream, and what a subject means.

With prefix `tf` and shard `main` (settings `nats_subject_prefix`, `shard_name`,
`nats_stream_prefix`):

| subject | what travels on it |
| --- | --- |
| `tf.main.commands` | request/reply: a `wire.Submit`, answered `Answered` or `Failed` |
| `tf.main.questions` | request/reply: a `wire.Ask`, answered `Told` or `Failed` |
| `tf.main.events.<symbol>.<account>` | one message per command, in stream `TF_EVENTS_main` |
| `tf.main.projection.status` | the projector's `ProjectionStatus`, on change and every interval |
| `tf.main.projection.ask` | request/reply: the projector's status now |

The shard answers `commands` and `questions` in queue group `tf.main.shard`, so a standby
that joins the group later takes over the same subjects.

An events subject names the command's symbol and account: `<symbol>` is the one symbol its
events name (a listing, an order, a fill, a halt of one symbol), `<account>` the one account
they name as a party (an order's owner, a fill's taker: a fill's maker is in the events, not in
the subject). A `_` stands for none or several (a market-wide halt, an expiry of many orders,
a fill whose maker also counted a day trade). A subscriber that filters by symbol or account
therefore also takes `_`, and reads the events to be exact. Symbols and accounts may hold a
`.`, which separates tokens in NATS: it is written `~` (`BRK.B` is `BRK~B`); neither `~` nor
a lone `_` can be a symbol or an account, so the mapping is one to one.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from tradingfloor.domain.events import Event, InstrumentAdded, TradeExecuted

NONE_OR_SEVERAL = "_"


def token(name: str | None) -> str:
    """A symbol or account as one subject token (`_`: none or several)."""
    return name.replace(".", "~") if name else NONE_OR_SEVERAL


@dataclass(frozen=True)
class NatsNames:
    prefix: str = "tf"
    shard: str = "main"
    stream_prefix: str = "TF_EVENTS"

    @property
    def root(self) -> str:
        return f"{self.prefix}.{self.shard}"

    @property
    def commands(self) -> str:
        return f"{self.root}.commands"

    @property
    def questions(self) -> str:
        return f"{self.root}.questions"

    @property
    def shard_queue(self) -> str:
        return f"{self.root}.shard"

    @property
    def events(self) -> str:
        """Every events subject of the shard (the stream's, and a follower's filter)."""
        return f"{self.root}.events.>"

    @property
    def events_stream(self) -> str:
        return f"{self.stream_prefix}_{self.shard}"

    @property
    def projection_status(self) -> str:
        return f"{self.root}.projection.status"

    @property
    def projection_ask(self) -> str:
        return f"{self.root}.projection.ask"

    def event_subject(self, symbol: str | None, account: str | None) -> str:
        return f"{self.root}.events.{token(symbol)}.{token(account)}"

    def subject_of(self, events: Iterable[Event]) -> str:
        """The subject of one command's events (see the module)."""
        symbols: set[str] = set()
        accounts: set[str] = set()
        for event in events:
            symbol, account = _parties(event)
            if symbol:
                symbols.add(symbol)
            if account:
                accounts.add(account)
        return self.event_subject(
            next(iter(symbols)) if len(symbols) == 1 else None,
            next(iter(accounts)) if len(accounts) == 1 else None,
        )


def _parties(event: Event) -> tuple[str | None, str | None]:
    """The symbol and the account (as a party) an event names, if any."""
    if isinstance(event, TradeExecuted):
        return event.symbol, event.taker_account
    if isinstance(event, InstrumentAdded):
        return event.instrument.symbol, None
    return getattr(event, "symbol", None), getattr(event, "account", None) or None
