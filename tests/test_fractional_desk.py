"""The fractional desk role (`service.fractional_desk`) against a served platform: at start
it squares an inventory above its band, and after customers' fractional buys take the desk
below it, it buys back on the book; its orders are ordinary market orders of the desk."""

import asyncio
from pathlib import Path

from api_helpers import served
from tradingfloor.domain.enums import Side
from tradingfloor.service.fractional_desk import DeskBand, FractionalDesk


async def test_the_desk_keeps_its_inventory_within_its_band(tmp_path: Path) -> None:
    async with served(tmp_path / "data", fractional_desk_account="desk") as api:
        await api.symbol("XYZ", "100")
        await api.trader("desk", cash="100000", shares={"XYZ": 10})
        bob = await api.trader("bob", cash="100000", shares={"XYZ": 100})
        alice = await api.trader("alice", cash="10000")
        for side, price in (("buy", "99"), ("sell", "101")):
            answer = await api.order(
                bob, side=side, type="limit", qty=20, limit_price=price, time_in_force="day"
            )
            assert answer.status_code == 200, answer.text
        desk = FractionalDesk({"main": api.shard}, "desk", DeskBand(2, 4))
        await desk.start()
        try:
            # 10 whole shares, above the band: sold down to its middle
            assert [(o.side, o.qty, o.filled) for o in desk.orders] == [(Side.SELL, 7, 7)]
            for _ in range(3):  # 3 -> 2.6 -> 2.2 -> 1.8: one whole share free, below 2
                bought = await api.order(
                    alice, side="buy", type="market", fraction=400_000_000, time_in_force="day"
                )
                assert bought.json()["status"] == "filled", bought.text
            for _ in range(300):
                if len(desk.orders) == 2:
                    break
                await asyncio.sleep(0.01)
            assert [(o.side, o.qty, o.filled) for o in desk.orders[1:]] == [(Side.BUY, 2, 2)]
            (position,) = await api.shard.positions("desk")
            assert (position.qty, position.fraction) == (3, 800_000_000)
        finally:
            await desk.stop()
