"""The CAT-style order events of a hand-built feed: the right events with CAT's names, valid
against the shipped JSON Schema, every order's life complete; and the check's refusals."""

import json
from pathlib import Path
from typing import Any

import msgspec
from typer.testing import CliRunner

from report_feed import FIX_SESSION, PRINCIPAL, morning, ts_of
from tradingfloor.cli import app
from tradingfloor.compliance.cat_check import check_cat_files, check_records, schema_errors
from tradingfloor.compliance.cat_events import CatEvents
from tradingfloor.compliance.report_time import cat_timestamp

_encode = msgspec.json.Encoder(decimal_format="number").encode


def records_of_morning() -> list[dict[str, Any]]:
    """The records as a reader of the file gets them (JSON round trip)."""
    cat = CatEvents("TFLR", PRINCIPAL)
    made = [
        record for seq, ts, events in morning() for record in cat.records("main", seq, ts, events)
    ]
    return [json.loads(_encode(record)) for record in made]


def test_the_morning_gives_cat_events_in_order() -> None:
    records = records_of_morning()

    kinds = [(record["type"], record.get("orderID", record.get("tradeID"))) for record in records]
    assert kinds == [
        ("MENO", "1"),
        ("MENO", "2"),
        ("MENO", "3"),
        ("MEOT", "main-3-1"),
        ("MEOT", "main-3-2"),
        ("MEOM", "4"),
        ("MENO", "5"),
        ("MEOT", "main-5-1"),
        ("MEOC", "5"),
        ("MENO", "7"),
        ("MENO", "8"),
        ("MEOC", "8"),  # the expiry; the refused order 9 has no CAT life
    ]


def test_a_new_order_carries_its_terms_and_who_sent_it() -> None:
    desk, ann, bob = records_of_morning()[:3]

    assert ann["CATReporterIMID"] == "TFLR"
    assert (ann["side"], ann["quantity"], ann["price"], ann["orderType"]) == (
        "SL",
        100,
        100.5,
        "LMT",
    )
    assert ann["timeInForce"] == {"DAY": 20261203}
    assert bob["timeInForce"] == {"IOC": True}
    assert ann["firmDesignatedID"] == "ann"
    assert ann["session"] == FIX_SESSION
    assert ann["eventTimestamp"] == cat_timestamp(ts_of(2) - 1_000)  # as the gateway took it
    assert ann["orderKeyDate"] == ann["eventTimestamp"]
    assert (desk["deptType"], desk["accountHolderType"]) == ("T", "P")
    assert (ann["deptType"], ann["accountHolderType"]) == ("A", "I")
    assert ann["manualFlag"] is False and ann["electronicDupFlag"] is False


def test_fills_replaces_cancels_and_expiries_say_what_is_left() -> None:
    records = records_of_morning()
    first, second = records[3], records[4]
    replaced, third, canceled, expired = records[5], records[7], records[8], records[11]

    assert first["buyDetails"] == {
        "orderID": "3",
        "orderKeyDate": records[2]["orderKeyDate"],
        "side": "B",
        "leavesQty": 30,
        "firmDesignatedID": "bob",
        "accountHolderType": "I",
    }
    assert (first["sellDetails"]["orderID"], first["sellDetails"]["leavesQty"]) == ("1", 0)
    assert (second["price"], second["sellDetails"]["leavesQty"]) == (100.5, 70)
    assert first["tapeTradeID"] == first["tradeID"] == "main-3-1"
    assert (replaced["priorOrderID"], replaced["orderID"], replaced["leavesQty"]) == ("2", "4", 70)
    assert replaced["priorOrderKeyDate"] == records[1]["orderKeyDate"]
    assert (third["sellDetails"]["orderID"], third["sellDetails"]["leavesQty"]) == ("4", 0)
    assert third["sellDetails"]["orderKeyDate"] == replaced["orderKeyDate"]
    assert (canceled["cancelQty"], canceled["leavesQty"], canceled["cancelReason"]) == (
        10,
        0,
        "requested",
    )
    assert (canceled["initiator"], expired["initiator"]) == ("C", "F")
    assert canceled["eventTimestamp"] == cat_timestamp(ts_of(6) - 2_000)  # as carl's came in
    assert expired["eventTimestamp"] == cat_timestamp(ts_of(10))
    assert (expired["cancelQty"], expired["cancelReason"]) == (10, "expired")


def test_every_record_is_valid_and_every_life_is_complete() -> None:
    records = records_of_morning()

    assert [schema_errors(record) for record in records] == [[]] * len(records)
    check = check_records((f"line {n}", record) for n, record in enumerate(records, 1))
    assert check.problems == []
    assert check.open_orders == {"7": "GTC"}
    assert check.counts == {"MENO": 6, "MEOT": 3, "MEOM": 1, "MEOC": 2}


def test_the_check_finds_an_unknown_order_a_repeat_and_a_broken_record() -> None:
    records = records_of_morning()
    orphan = dict(records[8], orderID="99")
    broken = {key: value for key, value in records[0].items() if key != "side"}
    given = [records[0], records[0], orphan, broken, dict(records[3], price="100")]

    check = check_records((f"line {n}", record) for n, record in enumerate(given, 1))

    assert not check.ok
    assert check.problems[0] == "line 2: order 1 has a second new-order event"
    assert check.problems[1] == "line 3: order 99 has no new-order event before this one"
    assert check.problems[2].startswith("line 4: not valid against the schema")
    assert check.problems[3].startswith("line 5: not valid against the schema")


def test_check_cat_on_a_file(tmp_path: Path) -> None:
    good = tmp_path / "2026-12-03.jsonl"
    good.write_text("".join(json.dumps(record) + "\n" for record in records_of_morning()))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(records_of_morning()[3]) + "\nnot json\n")
    runner = CliRunner()

    passed = runner.invoke(app, ["reports", "check-cat", str(good)])
    failed = runner.invoke(app, ["reports", "check-cat", str(bad)])

    assert passed.exit_code == 0, passed.output
    assert "12 records" in passed.output and "0 problems" in passed.output
    assert "open: order 7 (GTC)" in passed.output
    assert failed.exit_code == 1
    assert "bad.jsonl:1: order 3 has no new-order event" in failed.output
    assert "bad.jsonl:2: not JSON" in failed.output
    twice = check_cat_files([good, good])  # the same day twice: every order again
    assert twice.problems[0] == "2026-12-03.jsonl:1: order 1 has a second new-order event"
