"""`/v1/admin/shards`: the platform's symbol shards, and moving a symbol between them.

`GET /v1/admin/shards` lists the shards in their order and where each listed symbol is now
(the map in settings, then the moves the feeds told). `POST /v1/admin/symbols/{symbol}/move`
`{"to_shard": S}` moves a symbol, as an operator does it on an exchange: the symbol is
halted on the shard that has it (`HaltTrading`), handed over (`HandOverSymbol`: its book,
positions and the cash its buys hold leave in the event), taken over on `S` (the allocator
sends `TakeOverSymbol`, in the source's order), and, once this gateway's feed shows the
takeover, resumed there (`ResumeTrading`; `"resume": false` leaves it halted). Every order
keeps its id and its time priority; nothing is canceled. Refusals: an unknown shard or the
shard it is on already (422), an unknown symbol (404), buys funded by unsettled proceeds
(403, `INSUFFICIENT_FUNDS`). A takeover not seen within `move_wait_s` answers 202: the move
goes on, and `GET /v1/admin/shards` tells when it is done.
"""

import asyncio

from fastapi.responses import Response
from pydantic import BaseModel, Field

from tradingfloor.domain.commands import HaltTrading, HandOverSymbol, ResumeTrading
from tradingfloor.domain.events import CommandRejected
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.shards import ShardMap
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import json_answer, refusal_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.route_table import RouteTable

routes = RouteTable(tags=["admin"])

move_wait_s = 10.0
"""How long a move waits to see the takeover in this gateway's feed before answering 202."""


class MoveRequest(BaseModel):
    to_shard: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    resume: bool = True


def _where(platform: Backend, shard_map: ShardMap, symbol: str) -> str:
    return shard_map.names[platform.market.shard_index_of(symbol)]


@routes.get("/v1/admin/shards")
async def shards(_admin: deps.Admin, platform: deps.Platform) -> Response:
    shard_map = ShardMap.of_settings(platform.settings)
    symbols = {symbol: _where(platform, shard_map, symbol) for symbol in platform.symbols()}
    return json_answer({"shards": list(shard_map.names), "symbols": symbols})


@routes.post("/v1/admin/symbols/{symbol}/move")
async def move(
    symbol: str, body: MoveRequest, _admin: deps.Admin, platform: deps.Platform
) -> Response:
    shard_map = ShardMap.of_settings(platform.settings)
    if not platform.known(symbol):
        return refusal_answer(RejectReason.UNKNOWN_SYMBOL)
    source = _where(platform, shard_map, symbol)
    if body.to_shard not in shard_map.names or body.to_shard == source:
        return refusal_answer(RejectReason.UNKNOWN_SHARD)
    await platform.submit(HaltTrading(symbol))
    handed = await platform.submit(HandOverSymbol(symbol, body.to_shard))
    for event in handed.events:
        if isinstance(event, CommandRejected):
            if body.resume:
                await platform.submit(ResumeTrading(symbol))
            return refusal_answer(event.reason)
    destination = shard_map.index(body.to_shard)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + move_wait_s
    while platform.market.shard_index_of(symbol) != destination:
        if loop.time() > deadline:
            answer = {"symbol": symbol, "from_shard": source, "to_shard": body.to_shard}
            return json_answer({**answer, "status": "moving"}, 202)
        await asyncio.sleep(0.01)
    if body.resume:
        await platform.submit(ResumeTrading(symbol))
    answer = {"symbol": symbol, "from_shard": source, "to_shard": body.to_shard}
    return json_answer({**answer, "status": "moved", "resumed": body.resume})
