"""One user flooding order entry, from a process of its own so that it really loads the
gateways: `python order_flood.py PORT KEY_ID SECRET CONNECTIONS DURATION_MAX_S`.

Each of CONNECTIONS keep-alive HTTP/1.1 connections to 127.0.0.1:PORT sends `POST /v1/orders`
(an IOC bid that rests nowhere) as fast as its answers come back. It prints `flooding` once
the first answer is in, and floods until its standard input closes (or DURATION_MAX_S), then
prints one JSON line: how many answers of each (status, code), the requests per second, the
Retry-After of the first ban, and how many orders were accepted on a connection after that
connection had been told the user is banned (the ban was in force when they were sent).
`flooding` runs it from a test and reads that line (`Flooding.result`)."""

import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

BODY = json.dumps(
    {
        "symbol": "XYZ",
        "side": "buy",
        "type": "limit",
        "qty": 1,
        "limit_price": "90",
        "time_in_force": "ioc",
    }
).encode()
BANNED = 4018


class Tally:
    def __init__(self) -> None:
        self.answers: Counter[tuple[int, int | None]] = Counter()
        self.accepted_after_ban = 0
        self.ban_retry_after_s: int | None = None
        self.first_answer = asyncio.Event()
        self.stop = asyncio.Event()


def request_bytes(port: int, key_id: str, secret: str) -> bytes:
    head = (
        f"POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"X-API-Key-Id: {key_id}\r\nX-API-Secret: {secret}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def connection(port: int, request: bytes, tally: Tally) -> None:
    while not tally.stop.is_set():
        banned_here = False
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        try:
            while not tally.stop.is_set():
                writer.write(request)
                status, headers, body = await read_answer(reader)
                code = None if status == 200 else json.loads(body).get("code")
                tally.answers[(status, code)] += 1
                tally.first_answer.set()
                if status == 200 and banned_here:
                    tally.accepted_after_ban += 1
                if code == BANNED:
                    banned_here = True
                    if tally.ban_retry_after_s is None:
                        tally.ban_retry_after_s = int(headers["retry-after"])
                if headers.get("connection") == "close":
                    break
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def main(port: int, key_id: str, secret: str, connections: int, max_s: float) -> None:
    tally = Tally()
    request = request_bytes(port, key_id, secret)
    started = time.monotonic()
    tasks = [asyncio.create_task(connection(port, request, tally)) for _ in range(connections)]
    await asyncio.wait_for(tally.first_answer.wait(), max_s)
    print("flooding", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait([stdin_closed], timeout=max_s)
    tally.stop.set()
    elapsed_s = time.monotonic() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    result: dict[str, Any] = {
        "answers": {f"{status}/{code}": count for (status, code), count in tally.answers.items()},
        "requests_per_s": sum(tally.answers.values()) / elapsed_s,
        "ban_retry_after_s": tally.ban_retry_after_s,
        "accepted_after_ban": tally.accepted_after_ban,
    }
    print(json.dumps(result), flush=True)


# ----------------------------------------------------------------- the test's side


class Flooding:
    def __init__(self, process: asyncio.subprocess.Process, wait_s: float) -> None:
        self.process = process
        self.wait_s = wait_s

    async def result(self) -> dict[str, Any]:
        """Stop the flood (its standard input closed) and read its tally."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        line = await asyncio.wait_for(self.process.stdout.readline(), self.wait_s)
        assert line, "the flood process ended without its tally"
        result: dict[str, Any] = json.loads(line)
        return result


@contextlib.asynccontextmanager
async def flooding(
    port: int | None, headers: dict[str, str], connections: int, wait_s: float
) -> AsyncIterator[Flooding]:
    """This script as a process flooding with the API key `headers`, once this is entered
    (each step waited at most `wait_s`); stopped on exit."""
    arguments = [headers["X-API-Key-Id"], headers["X-API-Secret"], str(connections)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        str(port),
        *arguments,
        str(wait_s * 4),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        started = await asyncio.wait_for(process.stdout.readline(), wait_s)
        assert started == b"flooding\n", f"the flood did not start: {started!r}"
        yield Flooding(process, wait_s)
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), wait_s)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    port_, key_id_, secret_, connections_, max_s_ = sys.argv[1:6]
    asyncio.run(main(int(port_), key_id_, secret_, int(connections_), float(max_s_)))
    os._exit(0)  # not waiting for the thread still reading standard input, if any
