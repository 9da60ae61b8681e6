"""What `/v2` lists besides assets, read by the official `alpaca-py` SDK: corporate action
announcements (the platform's splits and cash dividends, their filters and refusals) and
option contracts (none). On SQLite and PostgreSQL (the routes read the read models only:
one process is enough)."""

import datetime
import time
import uuid
import warnings
from typing import Any

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import CorporateActionDateType, CorporateActionType
from alpaca.trading.models import CorporateActionAnnouncement, OptionContractsResponse
from alpaca.trading.requests import GetCorporateAnnouncementsRequest, GetOptionContractsRequest

from alpaca_helpers import call, on_shared_platform, refused, sdk, shared_platform_fixtures
from api_helpers import Served
from tradingfloor.risk.calendar import calendar_for

PLATFORMS = [("single", "sqlite"), ("single", "postgresql")]

platform, api = shared_platform_fixtures(PLATFORMS)


def sessions_ahead(*counts: int) -> list[str]:
    """The dates of the sessions `counts` sessions after today's (or the next one)."""
    calendar = calendar_for()
    today = calendar.session_index(time.time_ns())
    return [calendar.session_date(today + count) for count in counts]


async def announce(api: Served, body: dict[str, Any]) -> None:
    answer = await api.client.post("/v1/admin/corporate-actions", json=body, headers=api.admin)
    assert answer.status_code == 201, answer.text


async def announcements(client: TradingClient, **terms: Any) -> list[CorporateActionAnnouncement]:
    request = GetCorporateAnnouncementsRequest(**terms)
    with warnings.catch_warnings():  # the SDK calls the route deprecated; Alpaca still serves it
        warnings.simplefilter("ignore", DeprecationWarning)
        found = await call(client.get_corporate_announcements, request)
    assert isinstance(found, list)
    return found  # type: ignore[return-value]


@on_shared_platform
async def test_splits_and_dividends_are_announcements(api: Served) -> None:
    alice = sdk(api, await api.trader("alice"))
    ex_split, ex_dividend, record, change, pay = sessions_ahead(3, 4, 5, 6, 8)
    split = {"kind": "split", "id": f"{api.sym}-split", "symbol": api.sym, "old_shares": 1,
             "new_shares": 3, "ex_date": ex_split}  # fmt: skip
    dividend = {"kind": "dividend", "id": f"{api.sym}-div", "symbol": api.sym,
                "amount_per_share": "0.2425", "record_date": record, "pay_date": pay}  # fmt: skip
    renamed = {"kind": "symbol_change", "id": f"{api.sym}-new", "symbol": api.sym,
               "new_symbol": f"{api.sym}N", "effective_date": change}  # fmt: skip
    for body in (split, dividend, renamed):
        await announce(api, body)
    today = datetime.date.today()
    window = {"since": today, "until": today + datetime.timedelta(days=60), "symbol": api.sym}

    found = await announcements(
        alice, ca_types=[CorporateActionType.DIVIDEND, CorporateActionType.SPLIT], **window
    )

    by_action = {item.corporate_action_id: item for item in found}
    assert sorted(by_action) == [f"{api.sym}-div", f"{api.sym}-split"]  # no symbol change
    got_split, got_dividend = by_action[f"{api.sym}-split"], by_action[f"{api.sym}-div"]
    assert (got_split.ca_type, got_split.ca_sub_type.value) == ("split", "stock_split")
    assert (got_split.old_rate, got_split.new_rate, got_split.cash) == (1, 3, 0)
    assert got_split.ex_date == datetime.date.fromisoformat(ex_split)
    assert got_split.initiating_symbol == api.sym and got_split.declaration_date == today
    assert (got_dividend.ca_type, got_dividend.ca_sub_type.value) == ("dividend", "cash")
    assert got_dividend.cash == 0.2425
    assert got_dividend.record_date == datetime.date.fromisoformat(record)
    assert got_dividend.payable_date == datetime.date.fromisoformat(pay)
    # T+2 (the default): the ex-date is the session before the record date.
    assert got_dividend.ex_date == datetime.date.fromisoformat(ex_dividend)
    assert got_dividend.id == uuid.uuid5(
        uuid.UUID("6f1d3c52-8a4e-5b7f-9c1d-2e3f4a5b6c7d"), f"corporate-action:{api.sym}-div"
    )

    one = await call(alice.get_corporate_announcement_by_id, got_split.id)
    assert isinstance(one, CorporateActionAnnouncement) and one == got_split


@on_shared_platform
async def test_filters_by_type_and_date(api: Served) -> None:
    alice = sdk(api, await api.trader("alice"))
    ex_split, record, pay = sessions_ahead(3, 5, 8)
    await announce(api, {"kind": "split", "id": f"{api.sym}-rs", "symbol": api.sym,
                         "old_shares": 10, "new_shares": 1, "ex_date": ex_split})  # fmt: skip
    await announce(api, {"kind": "dividend", "id": f"{api.sym}-d", "symbol": api.sym,
                         "amount_per_share": "1", "record_date": record,
                         "pay_date": pay})  # fmt: skip
    today = datetime.date.today()
    ahead = today + datetime.timedelta(days=60)
    splits = await announcements(
        alice, ca_types=[CorporateActionType.SPLIT], since=today, until=ahead, symbol=api.sym
    )
    assert [(item.corporate_action_id, item.ca_sub_type.value) for item in splits] == [
        (f"{api.sym}-rs", "reverse_split")
    ]
    record_day = datetime.date.fromisoformat(record)
    on_record = await announcements(
        alice,
        ca_types=[CorporateActionType.SPLIT, CorporateActionType.DIVIDEND],
        since=record_day,
        until=record_day,
        symbol=api.sym,
        date_type=CorporateActionDateType.RECORD_DATE,
    )
    assert [item.corporate_action_id for item in on_record] == [f"{api.sym}-d"]
    before = await announcements(
        alice,
        ca_types=[CorporateActionType.DIVIDEND],
        since=today - datetime.timedelta(days=30),
        until=today - datetime.timedelta(days=1),
        symbol=api.sym,
    )
    assert before == []
    mergers = await announcements(
        alice, ca_types=[CorporateActionType.MERGER], since=today, until=ahead, symbol=api.sym
    )
    assert mergers == []


@on_shared_platform
async def test_refusals(api: Served) -> None:
    alice = sdk(api, await api.trader("alice"))
    today = datetime.date.today().isoformat()
    far = (datetime.date.today() + datetime.timedelta(days=91)).isoformat()
    path = "/corporate_actions/announcements"
    cases = [
        {"ca_types": "dividend", "since": today, "until": far},  # more than 90 days
        {"ca_types": "bonus", "since": today, "until": today},  # no such type
        {"ca_types": "split", "since": today, "until": today, "date_type": "paid"},
        {"ca_types": "split", "since": far, "until": today},  # backwards
        {"ca_types": "split", "since": "yesterday", "until": today},
    ]
    for params in cases:
        assert (await refused(alice.get, path, params)).status_code == 422, params
    missing = await refused(alice.get_corporate_announcement_by_id, uuid.uuid4())
    assert missing.status_code == 404
    anonymous = await api.client.get(
        f"/v2{path}", params={"ca_types": "split", "since": today, "until": today}
    )
    assert anonymous.status_code == 401


@on_shared_platform
async def test_no_option_contracts_are_listed(api: Served) -> None:
    alice = sdk(api, await api.trader("alice"))
    request = GetOptionContractsRequest(underlying_symbols=[api.sym])
    found = await call(alice.get_option_contracts, request)
    assert isinstance(found, OptionContractsResponse)
    assert (found.option_contracts, found.next_page_token) == ([], None)
    contract = await refused(alice.get_option_contract, f"{api.sym}261218C00100000")
    assert contract.status_code == 404
    exercised = await refused(alice.exercise_options_position, f"{api.sym}261218C00100000")
    assert exercised.status_code == 404
    anonymous = await api.client.get("/v2/options/contracts")
    assert anonymous.status_code == 401
