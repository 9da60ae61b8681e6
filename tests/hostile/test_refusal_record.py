"""Refusals: their answers, and one log line per kind and source per interval, never one per
request."""

import json
import logging

import pytest

from tradingfloor import observability as metrics
from tradingfloor.config import load_settings
from tradingfloor.gateway.refusals import (
    RefusalKind,
    RefusalRecord,
    answer_bytes,
    refusals,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, int]]:
    return [
        (r.__dict__["kind"], r.__dict__["source"], r.__dict__["refused"])
        for r in caplog.records
        if r.name == "tradingfloor.gateway.refusals"
    ]


def test_one_line_per_kind_and_source_per_interval_with_the_count_since(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    record = RefusalRecord(interval_s=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="tradingfloor.gateway.refusals"):
        for _ in range(1_000):
            record.add(RefusalKind.BODY_TOO_LARGE, "10.0.0.1")
        record.add(RefusalKind.HEADER_TIMEOUT, "10.0.0.1")
        record.add(RefusalKind.BODY_TOO_LARGE, "10.0.0.2")
        clock.now += 59
        record.add(RefusalKind.BODY_TOO_LARGE, "10.0.0.1")
        clock.now += 1
        record.add(RefusalKind.BODY_TOO_LARGE, "10.0.0.1")

    assert lines(caplog) == [
        ("body_too_large", "10.0.0.1", 1),
        ("header_timeout", "10.0.0.1", 1),
        ("body_too_large", "10.0.0.2", 1),
        ("body_too_large", "10.0.0.1", 1_001),  # every refusal since the first line
    ]


def test_the_metric_counts_every_refusal() -> None:
    def counted() -> float:
        value = metrics.registry.get_sample_value(
            "tradingfloor_http_refused_total", {"kind": "too_many_headers"}
        )
        return value or 0.0

    before = counted()
    record = RefusalRecord(clock=FakeClock())
    for _ in range(7):
        record.add(RefusalKind.TOO_MANY_HEADERS, "10.0.0.1")
    assert counted() == before + 7


def test_the_oldest_sources_are_forgotten_first(caplog: pytest.LogCaptureFixture) -> None:
    record = RefusalRecord(keys_max=2, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="tradingfloor.gateway.refusals"):
        for source in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.3", "10.0.0.1"):
            record.add(RefusalKind.MALFORMED, source)
    # 10.0.0.1 was forgotten when 10.0.0.3 came: it is logged again; 10.0.0.3 is not.
    assert [source for _, source, _ in lines(caplog)] == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.1",
    ]


def test_every_answer_is_a_short_json_body_that_closes_the_connection() -> None:
    answers = refusals(load_settings(None, request_body_bytes_max=1024))
    codes = {kind: answer.code.value for kind, answer in answers.items()}
    assert set(codes) == set(RefusalKind)
    assert codes[RefusalKind.BODY_TOO_LARGE] == 4130
    assert codes[RefusalKind.HEADER_TIMEOUT] == codes[RefusalKind.BODY_TIMEOUT] == 4080
    assert codes[RefusalKind.TOO_MANY_HEADERS] == 4310
    assert codes[RefusalKind.TOO_MANY_CONNECTIONS] == 5035

    raw = answer_bytes(answers[RefusalKind.BODY_TOO_LARGE])
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in head.split(b"\r\n")
    assert f"content-length: {len(body)}".encode() in head.split(b"\r\n")
    assert json.loads(body) == {"code": 4130, "message": "request body above 1024 bytes"}
