"""An account's Alpaca configuration (`/v2/account/configurations`): read, and written whole.

An account that never set one has the defaults: what the platform does anyway (no shorting,
no fractional shares, no margin lent beyond the account's kind, its own day-trade checks)."""

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select

from tradingfloor.store.alpaca_tables import account_configurations as table


@dataclass(frozen=True)
class AccountConfiguration:
    dtbp_check: str = "entry"
    pdt_check: str = "entry"
    trade_confirm_email: str = "all"
    suspend_trade: bool = False
    no_shorting: bool = True
    fractional_trading: bool = False
    max_margin_multiplier: str = "1"
    ptp_no_exception_entry: bool = False
    max_options_trading_level: int | None = None


FIELDS = tuple(field.name for field in dataclasses.fields(AccountConfiguration))


def get_configuration(connection: Any, account: str) -> AccountConfiguration:
    """The account's configuration (the defaults when it never set one)."""
    row = connection.execute(select(table).where(table.c.account == account)).first()
    if row is None:
        return AccountConfiguration()
    return AccountConfiguration(**{name: getattr(row, name) for name in FIELDS})


def save_configuration(
    connection: Any, account: str, configuration: AccountConfiguration, ts: int
) -> None:
    """Replace the account's configuration (in the caller's transaction)."""
    connection.execute(delete(table).where(table.c.account == account))
    values = dataclasses.asdict(configuration)
    connection.execute(insert(table).values(account=account, updated_ts=ts, **values))
