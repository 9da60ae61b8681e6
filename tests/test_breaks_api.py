"""The review queue, corporate actions and the end of day over real HTTP, on SQLite and on
PostgreSQL: breaks listed, filtered, paged and resolved (the command the shard receives, the
refusals it answers), corporate actions announced and listed, the days closed and settled,
and what an account sees of them (activities, Alpaca's SPLIT and DIV, settled shares and
good-faith violations).

The engine's end-of-day commands are stood in for by `Desk`: it takes the commands the
gateway sends (ResolveBreak, AnnounceCorporateAction), answers them as the engine would, and
projects its events, and any crafted ones, into the platform's read models."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import insert

from api_helpers import Served, served
from tradingfloor.domain.commands import AnnounceCorporateAction, Command, ResolveBreak
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import BreakKind
from tradingfloor.domain.events import (
    BreakOpened,
    BreakResolved,
    CommandRejected,
    CorporateActionAnnounced,
    DayClosed,
    DaySettled,
    DividendPaid,
    Event,
    GoodFaithViolation,
    SharesSettled,
    StockSplitApplied,
)
from tradingfloor.domain.origin import Origin
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.service.sequencer import Result
from tradingfloor.store import make_engine
from tradingfloor.store.projector import Projector
from tradingfloor.store.readmodels import projection_state

POSITION = "2026-12-01/POSITION_DIFFERS/{account}/XYZ"
DESK_FIRST_SEQ = 1_000_000
DESK_TS = 1_796_000_000 * 1_000_000_000
"""Early December 2026, in ns."""


class Desk:
    """The shard, with the end-of-day commands answered here: every command it took, and
    its events projected by a projector of its own into the platform's database."""

    def __init__(self, here: Served) -> None:
        assert here.platform is not None
        backend = here.platform.backend
        self.shard = backend.shard
        self.database = make_engine(backend.settings.database_url)
        self.projector = Projector(self.database, "desk")
        # After the shard's own commands, as the engine's events would be.
        self.seq = DESK_FIRST_SEQ - 1
        with self.database.begin() as connection:
            connection.execute(insert(projection_state).values(name="desk", last_seq=self.seq))
        self.received: list[Command] = []
        self.open: set[str] = set()
        self.resolved: set[str] = set()
        self.actions: set[str] = set()
        backend.shard = self  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)

    def project(self, *makers: Any) -> None:
        """One command of events `maker(seq, ts)`, projected."""
        self.seq += 1
        seq, ts = self.seq, DESK_TS + self.seq
        events = [make(seq, ts) for make in makers]
        for event in events:
            if isinstance(event, BreakOpened):
                self.open.add(event.break_id)
        self.projector.apply([(seq, ts, events)])

    async def submit(self, command: Command, origin: Origin | None = None) -> Result:
        if not isinstance(command, ResolveBreak | AnnounceCorporateAction):
            return await self.shard.submit(command, origin)
        self.received.append(command)
        found: list[Event] = []
        self.project(lambda seq, ts: found.append(self._answer(command, seq, ts)) or found[0])
        return Result(await self.shard.last_seq(), 0, command, found)

    def _answer(self, command: Command, seq: int, ts: int) -> Event:
        if isinstance(command, ResolveBreak):
            reason = None
            if command.break_id in self.resolved:
                reason = RejectReason.BREAK_RESOLVED
            elif command.break_id not in self.open:
                reason = RejectReason.UNKNOWN_BREAK
            if reason is not None:
                return CommandRejected(seq, ts, "ResolveBreak", command.break_id, reason)
            self.resolved.add(command.break_id)
            return BreakResolved(
                seq, ts, command.break_id, command.resolved_by, command.reason,
                command.account, command.symbol, command.cash_adjustment,
                command.shares_adjustment,
            )  # fmt: skip
        assert isinstance(command, AnnounceCorporateAction)
        action_id = command.action.action_id
        if action_id in self.actions:
            reason = RejectReason.CORPORATE_ACTION_EXISTS
            return CommandRejected(seq, ts, "AnnounceCorporateAction", action_id, reason)
        self.actions.add(action_id)
        return CorporateActionAnnounced(seq, ts, command.action)


def event(kind: type[Event], *fields: Any) -> Any:
    return lambda seq, ts: kind(seq, ts, *fields)


def opened(break_id: str, date: str, kind: BreakKind, account: str, symbol: str = "XYZ") -> Any:
    return event(BreakOpened, break_id, date, kind, account, symbol, 100, 90, 0, 0, "differs")


@pytest.fixture
async def api(tmp_path: Path, database_url: str | None) -> AsyncIterator[Served]:
    async with served(tmp_path / "data", database_url) as here:
        await here.symbol("XYZ", "100")
        yield here


@pytest.fixture
async def desk(api: Served) -> AsyncIterator[Desk]:
    made = Desk(api)
    yield made
    made.database.dispose()


async def account_of(api: Served, headers: dict[str, str]) -> str:
    account: str = (await api.client.get("/v1/account", headers=headers)).json()["account"]
    return account


def ids(answer: Any) -> list[str]:
    return [found["id"] for found in answer.json()["breaks"]]


# ---------------------------------------------------------------------- breaks


async def test_breaks_list_newest_first_by_filter_and_page(api: Served, desk: Desk) -> None:
    desk.project(opened("d1/UNCONFIRMED/s0:1", "2026-12-01", BreakKind.UNCONFIRMED, "A"))
    desk.project(opened("d1/CASH_DIFFERS/B/", "2026-12-01", BreakKind.CASH_DIFFERS, "B", ""))
    desk.project(opened("d2/UNCONFIRMED/s0:7", "2026-12-02", BreakKind.UNCONFIRMED, "B"))
    desk.project(opened("d2/FAIL_TO_DELIVER/A/XYZ", "2026-12-02", BreakKind.FAIL_TO_DELIVER, "A"))
    desk.project(event(BreakResolved, "d1/UNCONFIRMED/s0:1", "ops", "late", "A", "XYZ", 0, 0))
    get = api.client.get
    admin = api.admin

    open_ones = await get("/v1/admin/breaks", headers=admin)
    every = await get("/v1/admin/breaks", params={"status": "all"}, headers=admin)
    of_date = await get("/v1/admin/breaks", params={"date": "2026-12-01"}, headers=admin)
    of_kind = await get(
        "/v1/admin/breaks", params={"kind": "unconfirmed", "status": "all"}, headers=admin
    )
    of_account = await get("/v1/admin/breaks", params={"account": "A"}, headers=admin)
    resolved = await get("/v1/admin/breaks", params={"status": "resolved"}, headers=admin)

    assert open_ones.status_code == 200, open_ones.text
    assert ids(open_ones) == [
        "d2/FAIL_TO_DELIVER/A/XYZ", "d2/UNCONFIRMED/s0:7", "d1/CASH_DIFFERS/B/",
    ]  # fmt: skip
    assert len(ids(every)) == 4 and ids(every)[-1] == "d1/UNCONFIRMED/s0:1"
    assert ids(of_date) == ["d1/CASH_DIFFERS/B/"]
    assert ids(of_kind) == ["d2/UNCONFIRMED/s0:7", "d1/UNCONFIRMED/s0:1"]
    assert ids(of_account) == ["d2/FAIL_TO_DELIVER/A/XYZ"]
    assert ids(resolved) == ["d1/UNCONFIRMED/s0:1"]
    assert resolved.json()["breaks"][0]["resolution"]["resolved_by"] == "ops"
    shown = open_ones.json()["breaks"][2]
    assert shown["symbol"] is None and shown["platform"] == {"qty": 100, "cash": "0.00"}
    paged: list[str] = []
    token = None
    for _ in range(5):
        params: dict[str, Any] = {"status": "all", "limit": 1}
        if token is not None:
            params["page_token"] = token
        page = await get("/v1/admin/breaks", params=params, headers=admin)
        paged += ids(page)
        token = page.json()["next_page_token"]
        if token is None:
            break
    assert paged == ids(every)


async def test_one_break_by_its_id_slashes_and_all(api: Served, desk: Desk) -> None:
    desk.project(opened("d2/UNCONFIRMED/s0:7", "2026-12-02", BreakKind.UNCONFIRMED, "B"))

    plain = await api.client.get("/v1/admin/breaks/d2/UNCONFIRMED/s0:7", headers=api.admin)
    encoded = await api.client.get(
        f"/v1/admin/breaks/{quote('d2/UNCONFIRMED/s0:7', safe='')}", headers=api.admin
    )
    missing = await api.client.get("/v1/admin/breaks/d2/UNCONFIRMED/s0:8", headers=api.admin)

    assert plain.status_code == 200, plain.text
    assert plain.json() == encoded.json()
    assert (plain.json()["id"], plain.json()["kind"], plain.json()["status"]) == (
        "d2/UNCONFIRMED/s0:7", "unconfirmed", "open",
    )  # fmt: skip
    assert missing.status_code == 404
    assert missing.json()["code"] == int(RejectReason.UNKNOWN_BREAK)


async def test_resolving_a_break_sends_the_command_and_answers_it_resolved(
    api: Served, desk: Desk
) -> None:
    alice = await api.trader("alice")
    account = await account_of(api, alice)
    break_id = POSITION.format(account=account)
    desk.project(opened(break_id, "2026-12-01", BreakKind.POSITION_DIFFERS, account))
    path = f"/v1/admin/breaks/{break_id}/resolve"
    body = {"reason": "the clearinghouse is right", "cash_adjustment": "-12.34"}

    answer = await api.client.post(path, json={**body, "shares_adjustment": 5}, headers=api.admin)

    assert answer.status_code == 200, answer.text
    assert desk.received == [
        ResolveBreak(break_id, "root", "the clearinghouse is right", account, "XYZ", -123_400, 5)
    ]
    resolved = answer.json()
    assert resolved["status"] == "resolved"
    assert resolved["resolution"]["resolved_by"] == "root"
    assert resolved["resolution"]["cash_adjustment"] == "-12.34"
    assert resolved["resolution"]["shares_adjustment"] == 5
    adjusted = await api.client.get("/v1/activities", params={"kind": "adjustment"}, headers=alice)
    [activity] = adjusted.json()
    assert (activity["qty"], activity["amount"], activity["symbol"]) == (5, "-12.34", "XYZ")
    again = await api.client.post(path, json=body, headers=api.admin)
    assert again.status_code == 409
    assert again.json()["code"] == int(RejectReason.BREAK_RESOLVED)
    unknown = await api.client.post(
        "/v1/admin/breaks/2026-12-01/NOPE/resolve", json=body, headers=api.admin
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == int(RejectReason.UNKNOWN_BREAK)
    assert len(desk.received) == 2  # the unknown one never reached the shard


async def test_the_engine_refusing_an_unknown_break_is_a_404(api: Served, desk: Desk) -> None:
    """The read models know it, the engine does not (a break of another platform's data)."""
    desk.project(opened("d1/UNCONFIRMED/s0:3", "2026-12-01", BreakKind.UNCONFIRMED, "A"))
    desk.open.clear()

    answer = await api.client.post(
        "/v1/admin/breaks/d1/UNCONFIRMED/s0:3/resolve", json={"reason": "x"}, headers=api.admin
    )

    assert answer.status_code == 404
    assert answer.json()["code"] == int(RejectReason.UNKNOWN_BREAK)
    assert isinstance(desk.received[0], ResolveBreak)
    assert desk.received[0].cash_adjustment == 0 and desk.received[0].shares_adjustment == 0


# ---------------------------------------------------------------------- corporate actions


async def test_corporate_actions_announced_and_listed(api: Served, desk: Desk) -> None:
    post = api.client.post
    actions = "/v1/admin/corporate-actions"
    split = {"kind": "split", "id": "S1", "symbol": "XYZ", "old_shares": 1, "new_shares": 2,
             "ex_date": "2026-12-07", "cash_in_lieu_price": "50.5"}  # fmt: skip
    dividend = {"kind": "dividend", "id": "D1", "symbol": "XYZ", "amount_per_share": "0.24",
                "record_date": "2026-12-08", "pay_date": "2026-12-15"}  # fmt: skip
    change = {"kind": "symbol_change", "id": "C1", "symbol": "XYZ", "new_symbol": "XYZW",
              "effective_date": "2026-12-09"}  # fmt: skip

    answers = [await post(actions, json=body, headers=api.admin) for body in (split, dividend)]
    answers.append(await post(actions, json=change, headers=api.admin))
    repeated = await post(actions, json=split, headers=api.admin)
    listed = await api.client.get(actions, headers=api.admin)
    dividends = await api.client.get(actions, params={"kind": "dividend"}, headers=api.admin)
    first = await api.client.get(actions, params={"limit": 2}, headers=api.admin)

    assert [answer.status_code for answer in answers] == [201, 201, 201], answers[0].text
    assert [command.action for command in desk.received[:3]] == [  # type: ignore[attr-defined]
        StockSplit("S1", "XYZ", 1, 2, "2026-12-07", 505_000),
        CashDividend("D1", "XYZ", 2_400, "2026-12-08", "2026-12-15"),
        SymbolChange("C1", "XYZ", "XYZW", "2026-12-09"),
    ]
    assert answers[0].json()["cash_in_lieu_price"] == "50.50"
    assert answers[1].json()["amount_per_share"] == "0.24"
    assert answers[1].json()["status"] == "announced"
    assert repeated.status_code == 409
    assert repeated.json()["code"] == int(RejectReason.CORPORATE_ACTION_EXISTS)
    assert [row["id"] for row in listed.json()["corporate_actions"]] == ["C1", "D1", "S1"]
    assert [row["id"] for row in dividends.json()["corporate_actions"]] == ["D1"]
    assert first.json()["next_page_token"] == "D1"
    rest = await api.client.get(
        actions, params={"limit": 2, "page_token": "D1"}, headers=api.admin
    )
    assert [row["id"] for row in rest.json()["corporate_actions"]] == ["S1"]


# ---------------------------------------------------------------------- the end of day


async def test_settlement_days_and_open_breaks(api: Served, desk: Desk) -> None:
    desk.project(event(DayClosed, "2026-12-01", 230, 3))
    desk.project(event(DayClosed, "2026-12-02", 231, 0))
    desk.project(event(DaySettled, "2026-12-03", ["2026-12-01"]))
    desk.project(opened("d2/UNCONFIRMED/s0:7", "2026-12-02", BreakKind.UNCONFIRMED, "B"))

    answer = await api.client.get("/v1/admin/settlement", headers=api.admin)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["last_closed"], body["last_settled"], body["open_breaks"]) == (
        "2026-12-02", "2026-12-03", 1,
    )  # fmt: skip
    days = {day["date"]: day for day in body["days"]}
    assert days["2026-12-01"]["closed"] and not days["2026-12-01"]["settled"]
    assert days["2026-12-01"]["expired_orders"] == 3
    assert days["2026-12-03"]["settled"] and not days["2026-12-03"]["closed"]
    assert days["2026-12-03"]["trade_dates_settled"] == ["2026-12-01"]


async def test_an_account_sees_its_splits_dividends_and_violations(
    api: Served, desk: Desk
) -> None:
    bob = await api.trader("bob", shares={"XYZ": 100})
    account = await account_of(api, bob)
    desk.project(event(CorporateActionAnnounced, StockSplit("S1", "XYZ", 2, 3, "2026-12-07")))
    desk.project(event(StockSplitApplied, "S1", account, "XYZ", 100, 150, 0))
    desk.project(event(CorporateActionAnnounced, CashDividend("D1", "XYZ", 2_400, "a", "b")))
    desk.project(event(DividendPaid, "D1", account, "XYZ", 150 * 2_400))
    desk.project(event(SharesSettled, account, "XYZ", -10))
    desk.project(event(GoodFaithViolation, account, "XYZ", 9, 2, ""))

    v1 = (await api.client.get("/v1/activities", headers=bob)).json()
    v2 = await api.client.get(
        "/v2/account/activities", params={"activity_types": "SPLIT,DIV"}, headers=bob
    )
    summary = (await api.client.get("/v1/account", headers=bob)).json()
    alpaca = (await api.client.get("/v2/account", headers=bob)).json()
    positions = (await api.client.get("/v1/positions", headers=bob)).json()

    kinds = [row["kind"] for row in v1]
    assert kinds[-4:] == ["split", "dividend", "settlement", "good_faith"]
    assert v1[-3]["amount"] == "36.00" and v1[-4]["qty"] == 50
    assert v2.status_code == 200, v2.text
    div, split = v2.json()  # newest first
    assert (div["activity_type"], div["qty"], div["per_share_amount"], div["net_amount"]) == (
        "DIV", "150", "0.24", "36.00",
    )  # fmt: skip
    assert (split["activity_type"], split["qty"], split["symbol"]) == ("SPLIT", "50", "XYZ")
    assert split["date"] and div["symbol"] == "XYZ"
    # The account and positions are the engine's live state, which the crafted events did
    # not change: 100 deposited shares, all settled, and no violation.
    assert (summary["good_faith_violations"], summary["settled_cash_only_until"]) == (0, None)
    assert alpaca["cash_withdrawable"] == summary["withdrawable"]
    assert [(p["symbol"], p["settled_qty"]) for p in positions] == [("XYZ", 100)]
