"""The order history as a person's screen reads it: each order with its fills in one listing
(`GET /v1/orders?fills=true`), and the newest activities first (`direction=desc`)."""

from pathlib import Path

from api_helpers import served


async def test_orders_list_with_their_fills_and_activities_newest_first(
    tmp_path: Path, database_url: str | None
) -> None:
    async with served(tmp_path / "data", database_url) as api:
        await api.symbol()
        alice = await api.trader("alice")
        bob = await api.trader("bob", shares={"XYZ": 100})
        await api.order(bob, side="sell", type="limit", qty=3, limit_price="100")
        await api.order(bob, side="sell", type="limit", qty=4, limit_price="101")
        bought = (
            await api.order(alice, side="buy", type="limit", qty=5, limit_price="101")
        ).json()
        resting = (
            await api.order(alice, side="buy", type="limit", qty=1, limit_price="90")
        ).json()
        assert bought["status"] == "filled"

        plain = (await api.client.get("/v1/orders", headers=alice)).json()["orders"]
        assert [order["fills"] for order in plain] == [[], []]  # without asking: none
        listed = await api.client.get("/v1/orders?fills=true", headers=alice)
        assert listed.status_code == 200
        orders = {order["id"]: order for order in listed.json()["orders"]}
        assert orders[resting["id"]]["fills"] == []
        fills = orders[bought["id"]]["fills"]
        assert [(fill["price"], fill["qty"]) for fill in fills] == [("100.00", 3), ("101.00", 2)]
        one = (await api.client.get(f"/v1/orders/{bought['id']}", headers=alice)).json()
        assert fills == one["fills"]  # the same fills as the order's own answer
        refused = await api.client.get("/v1/orders?fills=maybe", headers=alice)
        assert refused.status_code == 422

        oldest = (await api.client.get("/v1/activities", headers=alice)).json()
        newest = (await api.client.get("/v1/activities?direction=desc", headers=alice)).json()
        assert len(oldest) >= 3 and newest == oldest[::-1]
        assert newest[0]["seq"] > newest[-1]["seq"]
        last_two = await api.client.get("/v1/activities?direction=desc&limit=2", headers=alice)
        assert last_two.json() == newest[:2]
        sideways = await api.client.get("/v1/activities?direction=up", headers=alice)
        assert sideways.status_code == 422
