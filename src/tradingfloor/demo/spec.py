"""What the demo market lists and who trades in it, and the commands that set it up.

Simulated traders are ordinary cash accounts funded by ordinary deposits: the engine treats
them exactly like any client, so every risk rule applies to them. Two more funded accounts,
`demo-alice` and `demo-bob`, are there for people trying the platform; logging in as them
is the gateway's business, not this module's.
"""

from enum import Enum

import msgspec

from tradingfloor.domain.commands import (
    AddInstrument,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    SetReferencePrice,
)
from tradingfloor.domain.enums import AccountKind
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import PRICE_SCALE

DOLLAR = PRICE_SCALE


class TraderKind(Enum):
    MARKET_MAKER = "mm"
    NOISE = "noise"
    MOMENTUM = "momentum"


class DemoSymbol(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One listed symbol and how its simulated fair value moves."""

    symbol: str
    reference_price: int
    """The prior close, in price units: collars, bands and the fair value start from it."""
    luld_tier: int = 2
    volatility_bps_per_minute: int = 25
    """Standard deviation of the fair value's move over one minute, in hundredths of a %."""
    range_bps: int = 400
    """The fair value never strays further than this from where it started."""
    unit_shares: int = 0
    """The size unit of the symbol's orders; 0: 100 shares at or above $10, else 1,000."""

    def unit(self) -> int:
        if self.unit_shares > 0:
            return self.unit_shares
        return 100 if self.reference_price >= 10 * DOLLAR else 1_000


DEFAULT_SYMBOLS = (
    DemoSymbol("ACME", 150 * DOLLAR, luld_tier=2, volatility_bps_per_minute=25),
    DemoSymbol("GLOBX", 42 * DOLLAR + DOLLAR // 2, luld_tier=1, volatility_bps_per_minute=15),
    DemoSymbol("TINY", 3 * DOLLAR + DOLLAR // 5, luld_tier=2, volatility_bps_per_minute=35),
)

HUMAN_ACCOUNTS = ("demo-alice", "demo-bob")


class DemoSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The demo market: symbols, simulated traders and their funding, human demo accounts.

    Holdings are in size units of each symbol (`DemoSymbol.unit`), cash in price units.
    The defaults fund the simulated traders for many hours of trading at 50 commands/s.
    """

    symbols: tuple[DemoSymbol, ...] = DEFAULT_SYMBOLS
    market_makers: int = 2
    noise_traders: int = 6
    momentum_traders: int = 1
    account_prefix: str = "sim-"

    market_maker_cash: int = 20_000_000 * DOLLAR
    market_maker_units: int = 400
    trader_cash: int = 1_000_000 * DOLLAR
    trader_units: int = 40

    quote_levels: int = 4
    """Price levels each market maker quotes on each side."""
    open_orders_per_trader_max: int = 6
    """Resting orders a noise trader (or a momentum trader's stops, per symbol) keeps at most."""

    human_accounts: tuple[str, ...] = HUMAN_ACCOUNTS
    human_cash: int = 100_000 * DOLLAR
    human_shares: int = 100
    desk_account: str = "demo-fractional-desk"
    """The fractional desk (`engine.fractions`): `serve --demo` names it in the settings."""
    desk_cash: int = 1_000_000 * DOLLAR
    desk_shares: int = 10
    """Within the desk role's default band (2 to 20 whole shares): it squares from there."""

    def trader_accounts(self) -> list[tuple[str, TraderKind]]:
        """Every simulated trader's account, market makers first."""
        accounts: list[tuple[str, TraderKind]] = []
        for kind, count in (
            (TraderKind.MARKET_MAKER, self.market_makers),
            (TraderKind.NOISE, self.noise_traders),
            (TraderKind.MOMENTUM, self.momentum_traders),
        ):
            accounts.extend(
                (f"{self.account_prefix}{kind.value}-{index}", kind)
                for index in range(1, count + 1)
            )
        return accounts

    def symbol(self, symbol: str) -> DemoSymbol:
        for listed in self.symbols:
            if listed.symbol == symbol:
                return listed
        raise KeyError(symbol)

    def problems(self) -> list[str]:
        """What makes this spec unusable; empty when it is fine."""
        found = []
        names = [listed.symbol for listed in self.symbols]
        if not names:
            found.append("the demo needs at least one symbol")
        if len(set(names)) != len(names):
            found.append("symbols must be distinct")
        for listed in self.symbols:
            if listed.reference_price <= 0:
                found.append(f"{listed.symbol}: reference price must be positive")
            if listed.luld_tier not in (1, 2):
                found.append(f"{listed.symbol}: LULD tier must be 1 or 2")
            if not 0 < listed.range_bps < 1_000:
                found.append(f"{listed.symbol}: range_bps must be within 1..999")
        if self.market_makers < 1:
            found.append("the demo needs at least one market maker")
        if self.quote_levels < 1:
            found.append("quote_levels must be positive")
        accounts = [account for account, _ in self.trader_accounts()]
        if set(accounts) & set(self.human_accounts):
            found.append("human and simulated accounts must differ")
        return found


def setup_commands(spec: DemoSpec) -> list[Command]:
    """List the symbols with their reference prices, then open and fund every account.

    Not idempotent: deposits applied twice fund twice. Run it once, on an empty market (see
    `is_set_up`).
    """
    commands: list[Command] = []
    for listed in spec.symbols:
        commands.append(AddInstrument(Instrument(listed.symbol, luld_tier=listed.luld_tier)))
        commands.append(SetReferencePrice(listed.symbol, listed.reference_price))
    for account, kind in spec.trader_accounts():
        if kind == TraderKind.MARKET_MAKER:
            cash, units = spec.market_maker_cash, spec.market_maker_units
        else:
            cash, units = spec.trader_cash, spec.trader_units
        shares = {listed.symbol: units * listed.unit() for listed in spec.symbols}
        commands.extend(_funding(spec, account, cash, shares))
    for account in spec.human_accounts:
        shares = {listed.symbol: spec.human_shares for listed in spec.symbols}
        commands.extend(_funding(spec, account, spec.human_cash, shares))
    return commands


def desk_commands(spec: DemoSpec) -> list[Command]:
    """Open and fund the fractional desk (once: a demo set up before it had none)."""
    shares = {listed.symbol: spec.desk_shares for listed in spec.symbols}
    return _funding(spec, spec.desk_account, spec.desk_cash, shares)


def _funding(spec: DemoSpec, account: str, cash: int, shares: dict[str, int]) -> list[Command]:
    """Open a cash account, deposit `cash` and the `shares` (at the reference price)."""
    commands: list[Command] = [OpenAccount(account, AccountKind.CASH)]
    if cash > 0:
        commands.append(Deposit(account, cash))
    for listed in spec.symbols:
        qty = shares.get(listed.symbol, 0)
        if qty > 0:
            commands.append(DepositShares(account, listed.symbol, qty, listed.reference_price))
    return commands
