"""An order load from a process of its own (`netns_orders.py`), on the host or inside a
network namespace, and what the NATS outage tests check of its answers: each one an
acknowledgement or a refusal a client can act on, and how long the refusals took (printed,
never asserted)."""

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nats_cluster import STEP_WAIT_S
from nats_cluster import until as _until

REQUEST_TIMEOUT_MS = 2_000
"""`nats_request_timeout_ms` of the roles here: the longest a refusal may honestly take."""
ANSWER_WAIT_S = REQUEST_TIMEOUT_MS / 1000 + 5.0
"""How long the client waits for an answer before it counts it as never coming (a hang)."""
CLIENT = Path(__file__).with_name("netns_orders.py")


class OrderLoad:
    """`netns_orders.py` as a process (after `prefix`, e.g. `ip netns exec NAME`), and every
    answer it told."""

    def __init__(self, prefix: Sequence[str], base_url: str, placements: list[Any]) -> None:
        self.command = [*prefix, sys.executable, str(CLIENT), base_url, str(ANSWER_WAIT_S)]
        self.command.append(json.dumps(placements))
        self.answers: list[dict[str, Any]] = []
        self.process: asyncio.subprocess.Process | None = None
        self.reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            self.answers.append(json.loads(line))

    async def stop(self) -> None:
        """Close the client's stdin: it stops after the answer it waits for."""
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), ANSWER_WAIT_S + STEP_WAIT_S)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self.reading is not None:
            await asyncio.wait_for(self.reading, STEP_WAIT_S)

    def acknowledged(self, since: int = 0) -> list[str]:
        return [answer["id"] for answer in self.answers[since:] if answer["status"] == 200]

    def refused(self, since: int = 0) -> list[dict[str, Any]]:
        return [answer for answer in self.answers[since:] if answer["status"] != 200]

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        async def met() -> bool:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"the client exited ({self.process.returncode})")
            return condition()

        await _until(met, what)


def assert_every_answer_clear(answers: list[dict[str, Any]]) -> None:
    """Each answer is an acknowledgement or a refusal a client can act on: 503, code 5031,
    Retry-After; none is missing (no answer within ANSWER_WAIT_S) or anything else."""
    assert answers, "no answer at all"
    for answer in answers:
        if answer["status"] == 200:
            assert answer["id"], answer
            continue
        assert answer["status"] == 503, f"not acknowledged nor refused with a 503: {answer}"
        assert answer["code"] == 5031, answer
        assert answer["retry_after"] is not None and int(answer["retry_after"]) >= 1, answer


def print_figures(
    what: str, load: OrderLoad, began: tuple[int, float], ended: tuple[int, float]
) -> None:
    """The refusals between `began` and `ended` (index in the answers, monotonic time): how
    many, how long they took; how soon after `began` one came at once (the outage noticed),
    how soon after `ended` an order was taken again."""
    during = [a for a in load.answers[began[0] : ended[0]] if a["status"] != 200]
    times = sorted(answer["elapsed_ms"] for answer in during)
    at_once = [a for a in during if a["elapsed_ms"] < REQUEST_TIMEOUT_MS / 2]
    noticed_s = (
        max(0.0, at_once[0]["at"] - at_once[0]["elapsed_ms"] / 1000 - began[1])
        if at_once
        else None
    )
    taken = next((a for a in load.answers[ended[0] :] if a["status"] == 200), None)
    waited = sum(1 for t in times if t >= REQUEST_TIMEOUT_MS / 2)
    print(
        f"\n{what}: {len(times)} orders refused (503, 5031, Retry-After) in p50 "
        f"{times[len(times) // 2]:.1f} ms, max {times[-1]:.1f} ms; {waited} of them waited "
        f"for the request timeout ({REQUEST_TIMEOUT_MS} ms); refused at once from "
        f"{noticed_s if noticed_s is not None else float('nan'):.2f} s on; orders taken again "
        f"{taken['at'] - ended[1] if taken else float('nan'):.2f} s after it ended"
    )
