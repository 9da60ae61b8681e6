"""A client placing orders one after another until its stdin closes, one JSON line on stdout
per answer: the NATS outage tests' load, run where the gateway is reachable (inside a network
namespace with `ip netns exec NAME python netns_orders.py ...`, or on the host).

    python netns_orders.py BASE_URL ANSWER_WAIT_S PLACEMENTS_JSON

PLACEMENTS_JSON is a list of `[headers, order]`, placed in turn, round and round. Each line:
`{"status", "code", "retry_after", "id", "elapsed_ms", "error", "at"}`: the HTTP status (0 when
no answer came within ANSWER_WAIT_S or the connection failed, `error` then says how), the
body's code, the Retry-After header, the order's id when acknowledged, how long the answer
took, and when it came (`time.monotonic()`, the same clock as the test's on one machine).
"""

import json
import sys
import threading
import time
from typing import Any

import httpx

refused_pause_s = 0.02
"""The pause after an answer other than 200, before the next order."""


def _answer(client: httpx.Client, headers: dict[str, str], order: dict[str, Any]) -> str:
    started = time.monotonic()
    line: dict[str, Any] = {"status": 0, "code": None, "retry_after": None, "id": None}
    try:
        answer = client.post("/v1/orders", json=order, headers=headers)
    except httpx.HTTPError as error:
        line["error"] = repr(error)
    else:
        line["status"] = answer.status_code
        body = answer.json() if answer.content else {}
        line["code"] = body.get("code")
        line["id"] = body.get("id") if answer.status_code == 200 else None
        line["retry_after"] = answer.headers.get("Retry-After")
        line["error"] = None if answer.status_code in (200, 503) else answer.text
    now = time.monotonic()
    line["elapsed_ms"] = (now - started) * 1000
    line["at"] = now
    return json.dumps(line)


def main() -> None:
    base_url, answer_wait_s, placements = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
    closed = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    with httpx.Client(base_url=base_url, timeout=answer_wait_s) as client:
        turn = 0
        while not closed.is_set():
            headers, order = placements[turn % len(placements)]
            turn += 1
            line = _answer(client, headers, order)
            print(line, flush=True)
            if '"status": 200' not in line:
                time.sleep(refused_pause_s)  # refusals are fast: keep their count sensible


if __name__ == "__main__":
    main()
