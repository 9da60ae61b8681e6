"""A risk-enabled engine for tests: sequence numbers and times handed out, and the ledger's
invariants checked after every command."""

from dataclasses import dataclass, field

from tradingfloor.domain.commands import (
    AddInstrument,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
    SetReferencePrice,
)
from tradingfloor.domain.enums import AccountKind, OrderType, Side, TimeInForce
from tradingfloor.domain.events import Event, OrderRejected
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.engine.check import check_ledger, check_postings
from tradingfloor.risk.calendar import ts_at

DOLLAR = PRICE_SCALE
MONDAY_10AM = ts_at("2026-11-23 10:00")
SECOND = 1_000_000_000
MINUTE = 60 * SECOND


@dataclass
class Market:
    settings: RiskSettings = field(default_factory=RiskSettings)
    ts: int = MONDAY_10AM
    engine: Engine = field(init=False)
    seq: int = 0
    order_id: int = 0
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = Engine(self.settings)

    def do(self, command: Command, advance_ns: int = 0) -> list[Event]:
        """Apply one command `advance_ns` after the previous one, then check everything."""
        self.seq += 1
        self.ts += advance_ns
        out = self.engine.apply(command, self.seq, self.ts)
        self.events.extend(out)
        check_ledger(self.engine)
        for book in self.engine.books.values():
            book.check_invariants()
        return out

    def check_postings(self) -> int:
        return check_postings(self.engine, self.events)

    def listing(self, symbol: str = "XYZ", reference: int = 100 * DOLLAR, tier: int = 2) -> None:
        self.do(AddInstrument(Instrument(symbol, luld_tier=tier)))
        self.do(SetReferencePrice(symbol, reference))

    def account(
        self,
        name: str,
        cash: int = 0,
        shares: dict[str, int] | None = None,
        kind: AccountKind = AccountKind.CASH,
        cost_price: int = 100 * DOLLAR,
    ) -> None:
        self.do(OpenAccount(name, kind))
        if cash:
            self.do(Deposit(name, cash))
        for symbol, qty in (shares or {}).items():
            self.do(DepositShares(name, symbol, qty, cost_price))

    def order(
        self,
        account: str,
        side: Side,
        qty: int,
        price: int | None = None,
        order_type: OrderType | None = None,
        symbol: str = "XYZ",
        tif: TimeInForce = TimeInForce.GTC,
        advance_ns: int = 0,
        **terms: int,
    ) -> tuple[int, list[Event]]:
        if order_type is None:
            order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
        self.order_id += 1
        command = PlaceOrder(
            self.order_id, account, symbol, side, order_type, qty, price, tif=tif, **terms
        )
        return self.order_id, self.do(command, advance_ns)

    def summary(self, account: str):  # type: ignore[no-untyped-def]
        risk = self.engine.risk
        assert risk is not None
        return risk.summary(account, self.ts)

    def position(self, account: str, symbol: str = "XYZ"):  # type: ignore[no-untyped-def]
        risk = self.engine.risk
        assert risk is not None
        return risk.ledger.accounts[account].positions[symbol]


def rejection(events: list[Event]) -> object:
    """The reject reason among `events`, or None."""
    for event in events:
        if isinstance(event, OrderRejected):
            return event.reason
        reason = getattr(event, "reason", None)
        if type(event).__name__.endswith("Rejected"):
            return reason
    return None


Journal = list[tuple[Command, int, int]]
"""(command, seq, ts) as a market applied them."""


def check_journal_replays(
    market: Market, replayed: Market, journal: Journal, halfway: bytes
) -> None:
    """`journal` (the commands `market` applied after its set-up), as the journal's records
    hold them, replayed on `replayed` (set up the same way) gives the same events as the feed
    carries them and the same state; so does `halfway` (a snapshot taken among them)
    restored with the commands after it."""
    from tradingfloor.journal.codec import (
        COMMAND_VERSION,
        EVENTS_VERSION,
        Entry,
        decode_command,
        decode_events,
        encode_entry,
        encode_events,
    )

    records = [(encode_entry(Entry(seq, ts, command)), seq, ts) for command, seq, ts in journal]
    again = [
        event
        for record, seq, ts in records
        for event in decode_events(
            EVENTS_VERSION,
            encode_events(replayed.engine.apply(decode_command(COMMAND_VERSION, record), seq, ts)),
        )
    ]
    assert again == market.events[len(market.events) - len(again) :]
    assert replayed.engine.state_hash() == market.engine.state_hash()
    restored = Engine.restore(halfway)
    for command, seq, ts in journal:
        if seq > restored.last_seq:
            restored.apply(command, seq, ts)
    assert restored.state_hash() == market.engine.state_hash()
