"""`GET` and `PATCH /v2/account/configurations`: Alpaca's account settings, kept per account
in SQL (`store.account_configurations`).

Honoured: `suspend_trade`, which is the engine's, not this table's: the account's status
`SUSPENDED` (`SetAccountStatus` from `ACTIVE`, and back only from `SUSPENDED`, so an owner
never lifts an operator's block). The engine then refuses the account's new orders and
replaces on every channel (403, `ACCOUNT_SUSPENDED`); cancels still go through; order entry
reads no table for it. Checked against what the platform does:
`no_shorting` cannot be turned off (no short selling): such a request is refused with a 422
naming the field. Stored only (the platform's own rules apply whatever they say):
`fractional_trading` (fractions are offered to every account while the platform has a
fractional desk), `dtbp_check`, `pdt_check`, `trade_confirm_email` (the platform sends no
e-mail), `max_margin_multiplier`, `ptp_no_exception_entry` and `max_options_trading_level`."""

import asyncio
import dataclasses
from typing import Any

import msgspec
from fastapi import Request
from fastapi.responses import Response

from tradingfloor.domain.commands import SetAccountStatus
from tradingfloor.domain.enums import AccountStatus
from tradingfloor.domain.events import CommandRejected
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError, refusal
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.gateway.schemas import DECODE_ERRORS
from tradingfloor.store.account_configurations import (
    AccountConfiguration,
    get_configuration,
    save_configuration,
)
from tradingfloor.store.database import SQLITE_BEGIN_OPTION

CHECKS = ("both", "entry", "exit")
CONFIRM_EMAILS = ("all", "none")
MARGIN_MULTIPLIERS = ("1", "2", "4")
OPTIONS_TRADING_LEVEL_MAX = 3

routes = RouteTable(tags=["alpaca"])


class ConfigurationBody(msgspec.Struct):
    """What a PATCH changes; a field absent or null stays as it is (the SDK sends them all)."""

    dtbp_check: str | None = None
    pdt_check: str | None = None
    trade_confirm_email: str | None = None
    suspend_trade: bool | None = None
    no_shorting: bool | None = None
    fractional_trading: bool | None = None
    max_margin_multiplier: str | int | None = None
    ptp_no_exception_entry: bool | None = None
    max_options_trading_level: int | None = None


_decoder = msgspec.json.Decoder(ConfigurationBody)


@routes.get("/v2/account/configurations")
async def get_account_configurations(principal: deps.Reader, platform: deps.Platform) -> Response:
    found = await _run(platform, get_configuration, principal.account_id)
    return json_answer(await _with_status(platform, principal.account_id, found))


@routes.patch("/v2/account/configurations")
async def set_account_configurations(
    request: Request, principal: deps.Trader, platform: deps.Platform
) -> Response:
    """Change the settings the body names: the answer is the whole configuration."""
    try:
        body = _decoder.decode(await request.body())
    except DECODE_ERRORS as error:
        raise ApiError(422, MALFORMED, str(error)) from error
    changes = _changes(body)
    account, ts = principal.account_id, platform.clock()
    suspend = changes.pop("suspend_trade", None)
    if suspend is not None:
        await _suspend(platform, account, suspend)

    def patch(connection: Any) -> AccountConfiguration:
        current = get_configuration(connection, account)
        wanted = dataclasses.replace(current, **changes)
        save_configuration(connection, account, wanted, ts)
        return wanted

    saved = await asyncio.to_thread(_in_transaction, platform, patch)
    return json_answer(await _with_status(platform, account, saved))


async def _suspend(platform: Backend, account: str, suspend: bool) -> None:
    """Suspend the account's trading, or resume it: the engine's status, changed only from
    the one expected (an operator's block or restriction is refused, and stays)."""
    active, suspended = AccountStatus.ACTIVE, AccountStatus.SUSPENDED
    wanted, expected = (suspended, active) if suspend else (active, suspended)
    result = await platform.submit(SetAccountStatus(account, wanted, expected), account)
    for event in result.events:
        if isinstance(event, CommandRejected):
            raise refusal(event.reason)


async def _with_status(
    platform: Backend, account: str, configuration: AccountConfiguration
) -> dict[str, Any]:
    """The configuration as answered: `suspend_trade` is the account's status."""
    summary = await platform.account(account)
    suspended = summary is not None and summary.status == AccountStatus.SUSPENDED
    return dataclasses.asdict(configuration) | {"suspend_trade": suspended}


def _changes(body: ConfigurationBody) -> dict[str, Any]:
    """The fields to change, each checked (a bad one refuses the whole request)."""
    changes = {name: value for name, value in msgspec.structs.asdict(body).items()}
    changes = {name: value for name, value in changes.items() if value is not None}
    for name in ("dtbp_check", "pdt_check"):
        if changes.get(name, "both") not in CHECKS:
            raise ApiError(422, MALFORMED, f"{name}: one of {', '.join(CHECKS)}")
    if changes.get("trade_confirm_email", "all") not in CONFIRM_EMAILS:
        raise ApiError(422, MALFORMED, "trade_confirm_email: all or none")
    if "max_margin_multiplier" in changes:
        changes["max_margin_multiplier"] = str(changes["max_margin_multiplier"])
        if changes["max_margin_multiplier"] not in MARGIN_MULTIPLIERS:
            raise ApiError(422, MALFORMED, "max_margin_multiplier: 1, 2 or 4")
    level = changes.get("max_options_trading_level", 0)
    if not 0 <= level <= OPTIONS_TRADING_LEVEL_MAX:
        raise ApiError(
            422, MALFORMED, f"max_options_trading_level: 0 to {OPTIONS_TRADING_LEVEL_MAX}"
        )
    if changes.get("no_shorting") is False:
        raise ApiError(422, MALFORMED, "no_shorting: short selling is not offered")
    return changes


async def _run(platform: Backend, query: Any, *args: Any) -> Any:
    """A query of these tables: the gateway's own writes, no read model to wait for."""

    def run() -> Any:
        with platform.store.connect() as connection:
            return query(connection, *args)

    return await asyncio.to_thread(run)


def _in_transaction(platform: Backend, work: Any) -> Any:
    """`work` in one transaction that reads then writes: on SQLite it takes the write lock at
    its start (a deferred one would fail, not wait, if another wrote meanwhile)."""
    with immediate(platform.store).begin() as connection:
        return work(connection)


def immediate(engine: Any) -> Any:
    """The engine whose SQLite transactions begin with the write lock (PostgreSQL: as is)."""
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
