"""`/v1/admin`: symbols, cash and shares of accounts, an account's status, halts. Each route
submits one command (two for a symbol with a reference price) and answers its seq and events,
or the engine's refusal. (The admin routes over users: `user_admin`.)"""

import asyncio
from typing import Literal

import msgspec
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tradingfloor.domain.commands import (
    AddInstrument,
    Command,
    Deposit,
    DepositShares,
    HaltTrading,
    ResumeTrading,
    SetAccountStatus,
    SetReferencePrice,
    Withdraw,
)
from tradingfloor.domain.enums import AccountStatus
from tradingfloor.domain.events import CommandRejected
from tradingfloor.domain.ids import SYMBOL_PATTERN
from tradingfloor.domain.instruments import Instrument
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import json_answer, refusal_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.params import price
from tradingfloor.gateway.route_table import RouteTable

routes = RouteTable(tags=["admin"])


class SymbolRequest(BaseModel):
    symbol: str = Field(pattern=f"^{SYMBOL_PATTERN}$")
    tick_size: str = Field(default="0", pattern=r"^[0-9]+(\.[0-9]+)?$")
    lot_size: int = Field(default=1, gt=0, le=1_000_000)
    luld_tier: int = Field(default=2, ge=1, le=2)
    reference_price: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)?$")


class AmountRequest(BaseModel):
    amount: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=24)


class StatusRequest(BaseModel):
    status: Literal["active", "restricted", "blocked", "closed"]


class SharesRequest(BaseModel):
    symbol: str = Field(pattern=f"^{SYMBOL_PATTERN}$")
    qty: int = Field(gt=0, le=1_000_000_000)
    cost_price: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=24)


async def command_answer(platform: Backend, command: Command, account: str = "") -> Response:
    """Submit an admin command: its seq and events, or the engine's refusal."""
    result = await platform.submit(command, account or None)
    for event in result.events:
        if isinstance(event, CommandRejected):
            return refusal_answer(event.reason)
    events = [msgspec.to_builtins(event) for event in result.events]
    return json_answer({"seq": result.seq, "events": events})


@routes.post("/v1/admin/symbols", status_code=200)
async def add_symbol(body: SymbolRequest, _admin: deps.Admin, platform: deps.Platform) -> Response:
    tick = price(body.tick_size, "tick_size")
    instrument = Instrument(body.symbol, tick, body.lot_size, luld_tier=body.luld_tier)
    result = await command_answer(platform, AddInstrument(instrument))
    if body.reference_price is not None and result.status_code == 200:
        reference = price(body.reference_price, "reference_price")
        return await command_answer(platform, SetReferencePrice(body.symbol, reference))
    return result


@routes.post("/v1/admin/accounts/{account_id}/deposits")
async def deposit(
    account_id: str, body: AmountRequest, _admin: deps.Admin, platform: deps.Platform
) -> Response:
    amount = price(body.amount, "amount")
    return await command_answer(platform, Deposit(account_id, amount), account_id)


@routes.post("/v1/admin/accounts/{account_id}/withdrawals")
async def withdraw(
    account_id: str, body: AmountRequest, _admin: deps.Admin, platform: deps.Platform
) -> Response:
    amount = price(body.amount, "amount")
    return await command_answer(platform, Withdraw(account_id, amount), account_id)


@routes.post("/v1/admin/accounts/{account_id}/shares")
async def deposit_shares(
    account_id: str, body: SharesRequest, _admin: deps.Admin, platform: deps.Platform
) -> Response:
    """Shares delivered in from another broker, at a cost basis per share."""
    cost = price(body.cost_price, "cost_price")
    command = DepositShares(account_id, body.symbol, body.qty, cost)
    return await command_answer(platform, command, account_id)


@routes.post("/v1/admin/accounts/{account_id}/status")
async def account_status(
    account_id: str, body: StatusRequest, _admin: deps.Admin, platform: deps.Platform
) -> Response:
    """`blocked` is the kill switch: every open order is canceled, and the account's users
    can no longer sign in, refresh a session or use an API key (`closed` alike)."""
    status = AccountStatus[body.status.upper()]
    answer = await command_answer(platform, SetAccountStatus(account_id, status), account_id)
    if answer.status_code == 200:
        locked_out = status in (AccountStatus.BLOCKED, AccountStatus.CLOSED)
        await asyncio.to_thread(platform.auth.block_account, account_id, locked_out)
    return answer


@routes.post("/v1/admin/halts/{symbol}")
async def halt(symbol: str, _admin: deps.Admin, platform: deps.Platform) -> Response:
    """Halt one symbol; `*` halts the whole market."""
    return await command_answer(platform, HaltTrading(None if symbol == "*" else symbol))


@routes.delete("/v1/admin/halts/{symbol}")
async def resume(symbol: str, _admin: deps.Admin, platform: deps.Platform) -> Response:
    return await command_answer(platform, ResumeTrading(None if symbol == "*" else symbol))
